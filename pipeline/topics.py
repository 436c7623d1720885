"""The system's Kafka topics, from the one config file pipeline/topics.yaml.

`python -m pipeline.topics create` creates them idempotently (and brings retention, cleanup
policy and min.insync.replicas of existing topics in line with the file); `list` prints them;
`verify` exits non-zero when a topic is missing, has fewer partitions, another replication
factor or another min.insync.replicas than the file says.
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
  # Copies of each partition, and how many must have a write before acks=all answers: 1/1 on the
  # one local broker; 3/2 on a cluster (one broker may be down without losing or refusing writes).
  replication_factor: int
  min_insync_replicas: int
  source: Optional[str] = None
  # The topic's max.message.bytes where the broker's default (~1 MiB) is not enough (the DLQ).
  max_message_bytes: Optional[int] = None

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f'topic {self.name}: kind must be one of {KINDS}, not {self.kind!r}')
    if self.partitions < 1:
      raise ValueError(f'topic {self.name}: partitions must be >= 1')
    if self.cleanup_policy not in ('delete', 'compact', 'compact,delete'):
      raise ValueError(f'topic {self.name}: cleanup_policy must be delete, compact or '
                       'compact,delete (compacted, and nothing older than retention_ms)')
    if self.kind == 'raw' and not self.source:
      raise ValueError(f'raw topic {self.name} needs a source')
    if self.replication_factor < 1:
      raise ValueError(f'topic {self.name}: replication_factor must be >= 1')
    if not 1 <= self.min_insync_replicas <= self.replication_factor:
      raise ValueError(f'topic {self.name}: min_insync_replicas must be between 1 and the '
                       f'replication factor ({self.replication_factor}): with more, every '
                       'acks=all write is refused')
    if self.max_message_bytes is not None and self.max_message_bytes < 1024:
      raise ValueError(f'topic {self.name}: max_message_bytes must be >= 1024')

  def configs(self) -> dict[str, str]:
    configs = {'retention.ms': str(self.retention_ms), 'cleanup.policy': self.cleanup_policy,
               'min.insync.replicas': str(self.min_insync_replicas)}
    if self.max_message_bytes is not None:
      configs['max.message.bytes'] = str(self.max_message_bytes)
    return configs


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


def dlq_max_message_bytes(config: TopicsConfig, dlq_topic: str) -> int:
  """The largest dead letter `dlq_topic` takes: its max_message_bytes in the topics file, or
  the file's dlq.pipeline setting for a DLQ topic the file does not list (it must be created
  with at least that, which the pipeline's preflight checks)."""
  named = {t.name: t for t in config.by_kind('dlq')}
  spec = named.get(dlq_topic)
  if spec is None or spec.max_message_bytes is None:
    spec = next((t for t in config.by_kind('dlq') if t.max_message_bytes is not None), None)
  if spec is None:
    raise ValueError('the topics config gives no DLQ topic a max_message_bytes')
  return spec.max_message_bytes


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
  servers = bootstrap_servers or config.bootstrap_servers
  admin = _admin(servers)
  try:
    existing = set(admin.list_topics())
    missing = [t for t in config.topics if t.name not in existing]
    brokers = len(admin.describe_cluster().get('brokers', ()))
    too_few = [t.name for t in missing if t.replication_factor > brokers]
    if too_few:
      raise SystemExit(
          f'Kafka at {servers} has {brokers} broker(s), fewer than the replication factor of '
          f'{too_few}: lower replication_factor (and min_insync_replicas) in the topics file, '
          'or add brokers')
    if missing:
      admin.create_topics([
          NewTopic(name=t.name, num_partitions=t.partitions,
                   replication_factor=t.replication_factor, topic_configs=t.configs())
          for t in missing])
    kept = [t for t in config.topics if t.name in existing]
    if kept:
      admin.alter_configs([
          ConfigResource(ConfigResourceType.TOPIC, t.name, configs=t.configs()) for t in kept])
    for t in config.topics:
      state = 'created' if t in missing else 'exists '
      print(f'{state} {t.name:<22} partitions={t.partitions} cleanup={t.cleanup_policy} '
            f'retention_ms={t.retention_ms} replication={t.replication_factor} '
            f'min_insync={t.min_insync_replicas}', file=out)
    return [t.name for t in missing], [t.name for t in kept]
  finally:
    admin.close()


def verify_topics(config: TopicsConfig, bootstrap_servers: Optional[str] = None) -> list[str]:
  """Problems found (empty when every topic exists with at least its partitions, and with the
  replication factor and min.insync.replicas of the file)."""
  from kafka.admin import ConfigResource, ConfigResourceType
  admin = _admin(bootstrap_servers or config.bootstrap_servers)
  try:
    described = {d['name']: d for d in admin.describe_topics([t.name for t in config.topics])
                 if not d.get('error_code')}
    present = [t.name for t in config.topics if t.name in described]
    min_isr, max_bytes = {}, {}
    if present:
      # 'all': a topic without its own setting reports the broker default it runs with.
      answer = admin.describe_configs(
          [ConfigResource(ConfigResourceType.TOPIC, name,
                          configs={'min.insync.replicas': None, 'max.message.bytes': None})
           for name in present], config_filter='all')
      for name, values in answer.get('topic', {}).items():
        value = values.get('min.insync.replicas', {}).get('value')
        min_isr[name] = int(value) if value is not None else None
        value = values.get('max.message.bytes', {}).get('value')
        max_bytes[name] = int(value) if value is not None else None
  finally:
    admin.close()
  problems = []
  for t in config.topics:
    d = described.get(t.name)
    if d is None:
      problems.append(f'{t.name}: missing')
      continue
    if len(d['partitions']) < t.partitions:
      problems.append(f'{t.name}: {len(d["partitions"])} partitions, config says {t.partitions}')
    replicas = sorted({len(p['replica_nodes']) for p in d['partitions']})
    if replicas != [t.replication_factor]:
      problems.append(f'{t.name}: replication factor {"/".join(map(str, replicas))}, config says '
                      f'{t.replication_factor} (changing it needs a partition reassignment)')
    if min_isr.get(t.name) != t.min_insync_replicas:
      problems.append(f'{t.name}: min.insync.replicas {min_isr.get(t.name)}, config says '
                      f'{t.min_insync_replicas} (`python -m pipeline.topics create` aligns it)')
    if t.max_message_bytes is not None and max_bytes.get(t.name) != t.max_message_bytes:
      problems.append(f'{t.name}: max.message.bytes {max_bytes.get(t.name)}, config says '
                      f'{t.max_message_bytes} (`python -m pipeline.topics create` aligns it)')
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
            f'cleanup={t.cleanup_policy} retention_ms={t.retention_ms} '
            f'replication={t.replication_factor} min_insync={t.min_insync_replicas}')
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
