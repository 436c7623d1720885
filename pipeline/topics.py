"""The system's Kafka topics, from the one config file pipeline/topics.yaml.

`python -m pipeline.topics create` creates them idempotently (and brings retention and cleanup
policy of existing topics in line with the file); `list` prints them; `verify` exits non-zero when
a topic is missing or differs.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Optional, Sequence

import yaml

TOPICS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'topics.yaml')
KINDS = ('raw', 'context', 'output', 'dlq')


@dataclasses.dataclass(frozen=True)
class TopicSpec:
  name: str
  kind: str
  partitions: int
  retention_ms: int
  cleanup_policy: str
  source: Optional[str] = None

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f'topic {self.name}: kind must be one of {KINDS}, not {self.kind!r}')
    if self.partitions < 1:
      raise ValueError(f'topic {self.name}: partitions must be >= 1')
    if self.cleanup_policy not in ('delete', 'compact'):
      raise ValueError(f'topic {self.name}: cleanup_policy must be delete or compact')
    if self.kind == 'raw' and not self.source:
      raise ValueError(f'raw topic {self.name} needs a source')

  def configs(self) -> dict[str, str]:
    return {'retention.ms': str(self.retention_ms), 'cleanup.policy': self.cleanup_policy}


@dataclasses.dataclass(frozen=True)
class TopicsConfig:
  bootstrap_servers: str
  topics: tuple[TopicSpec, ...]

  def by_kind(self, kind: str) -> list[TopicSpec]:
    return [t for t in self.topics if t.kind == kind]

  def named(self, name: str) -> TopicSpec:
    for t in self.topics:
      if t.name == name:
        return t
    raise KeyError(f'no topic {name!r} in the topics config')

  def raw_source_by_topic(self, sources: Optional[Sequence[str]] = None) -> dict[str, str]:
    """Raw topic name → source, for all sources or the given ones."""
    raw = {t.name: t.source for t in self.by_kind('raw')}
    if sources:
      unknown = set(sources) - set(raw.values())
      if unknown:
        raise ValueError(
            f'unknown source(s) {sorted(unknown)}; known: {sorted(set(raw.values()))}')
      raw = {name: src for name, src in raw.items() if src in sources}
    return raw


def load_topics(path: str = TOPICS_FILE) -> TopicsConfig:
  with open(path, encoding='utf-8') as f:
    data = yaml.safe_load(f)
  topics = tuple(TopicSpec(**t) for t in data['topics'])
  names = [t.name for t in topics]
  if len(names) != len(set(names)):
    raise ValueError(f'{path}: duplicate topic names')
  return TopicsConfig(bootstrap_servers=data['bootstrap_servers'], topics=topics)


def _admin(bootstrap_servers: str):
  from kafka import KafkaAdminClient
  from kafka.errors import KafkaError
  try:
    return KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000,
                            client_id='millionx-topics')
  except KafkaError as e:
    raise SystemExit(
        f'Kafka is not reachable at {bootstrap_servers}: start the local stack with '
        '`./run_local.sh start` (or pass --bootstrap-servers)') from e


def create_topics(config: TopicsConfig, bootstrap_servers: Optional[str] = None, out=sys.stdout):
  """Creates missing topics and aligns the configs of existing ones. Returns (created, kept)."""
  from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
  admin = _admin(bootstrap_servers or config.bootstrap_servers)
  try:
    existing = set(admin.list_topics())
    missing = [t for t in config.topics if t.name not in existing]
    if missing:
      admin.create_topics([
          NewTopic(name=t.name, num_partitions=t.partitions, replication_factor=1,
                   topic_configs=t.configs()) for t in missing])
    kept = [t for t in config.topics if t.name in existing]
    if kept:
      admin.alter_configs([
          ConfigResource(ConfigResourceType.TOPIC, t.name, configs=t.configs()) for t in kept])
    for t in config.topics:
      state = 'created' if t in missing else 'exists '
      print(f'{state} {t.name:<22} partitions={t.partitions} cleanup={t.cleanup_policy} '
            f'retention_ms={t.retention_ms}', file=out)
    return [t.name for t in missing], [t.name for t in kept]
  finally:
    admin.close()


def verify_topics(config: TopicsConfig, bootstrap_servers: Optional[str] = None) -> list[str]:
  """Problems found (empty when every topic exists with at least its partitions)."""
  admin = _admin(bootstrap_servers or config.bootstrap_servers)
  try:
    described = {d['name']: d for d in admin.describe_topics([t.name for t in config.topics])
                 if not d.get('error_code')}
  finally:
    admin.close()
  problems = []
  for t in config.topics:
    d = described.get(t.name)
    if d is None:
      problems.append(f'{t.name}: missing')
    elif len(d['partitions']) < t.partitions:
      problems.append(f'{t.name}: {len(d["partitions"])} partitions, config says {t.partitions}')
  return problems


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m pipeline.topics', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('command', choices=('create', 'list', 'verify'),
                      help='create: create/align topics; list: print the config; '
                      'verify: check the broker against the config')
  parser.add_argument('--config', default=TOPICS_FILE, help='topics YAML file (default: %(default)s)')
  parser.add_argument('--bootstrap-servers', default=None,
                      help='Kafka bootstrap servers (default: the one in the config file)')
  args = parser.parse_args(argv)
  config = load_topics(args.config)
  if args.command == 'list':
    for t in config.topics:
      print(f'{t.name:<22} kind={t.kind:<8} partitions={t.partitions} '
            f'cleanup={t.cleanup_policy} retention_ms={t.retention_ms}')
    return 0
  if args.command == 'create':
    create_topics(config, args.bootstrap_servers)
    return 0
  problems = verify_topics(config, args.bootstrap_servers)
  for p in problems:
    print(p, file=sys.stderr)
  return 1 if problems else 0


if __name__ == '__main__':
  sys.exit(main())
