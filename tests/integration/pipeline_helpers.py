"""Shared helpers for the end-to-end pipeline tests against the real local Kafka (and Flink).

Each test gets its own topics (a unique prefix on every name of pipeline/topics.yaml), its own
consumer group, and deletes its topics afterwards.
"""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
import uuid
from typing import Iterable, Optional

import yaml
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from agents import demo
from agents.topics import load_topics as load_agent_topics
from pipeline.topics import TOPICS_FILE, create_topics, load_topics

BOOTSTRAP = os.environ.get('MILLIONX_KAFKA_BOOTSTRAP', '127.0.0.1:9092')
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = sys.executable


@dataclasses.dataclass
class TestTopics:
  prefix: str
  config_path: str
  names: list

  def topic(self, name: str) -> str:
    return self.prefix + name

  def pipeline_args(self, group: str) -> list[str]:
    return [f'--topics_config={self.config_path}', f'--bootstrap_servers={BOOTSTRAP}',
            f'--consumer_group={group}', f'--posts_topic={self.topic("out.social.posts")}',
            f'--orders_topic={self.topic("out.market.orders")}',
            f'--dlq_topic={self.topic("dlq.pipeline")}']


def kafka_or_fail():
  try:
    KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=5000).close()
  except KafkaError as e:
    raise AssertionError(
        f'Kafka is not reachable at {BOOTSTRAP}: start the local stack with `./run_local.sh start`'
    ) from e


def make_topics(tmp_path) -> TestTopics:
  prefix = f't{uuid.uuid4().hex[:8]}.'
  with open(TOPICS_FILE, encoding='utf-8') as f:
    data = yaml.safe_load(f)
  data['bootstrap_servers'] = BOOTSTRAP
  for t in data['topics']:
    t['name'] = prefix + t['name']
  path = os.path.join(str(tmp_path), 'topics.yaml')
  with open(path, 'w', encoding='utf-8') as f:
    yaml.safe_dump(data, f)
  config = load_topics(path)
  create_topics(config, BOOTSTRAP, out=open(os.devnull, 'w'))
  return TestTopics(prefix, path, [t.name for t in config.topics])


def delete_topics(topics: TestTopics):
  admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
  try:
    admin.delete_topics(topics.names)
  finally:
    admin.close()


def publish_demo(topics: TestTopics, seed: int, events: int, malformed_share: float = 0.1):
  agent_topics = load_agent_topics().with_prefix(topics.prefix)
  data = demo.generate(seed, events, malformed_share, topics=agent_topics)
  demo.publish(data.events, BOOTSTRAP)
  return data


def raw_coordinates(topics: TestTopics) -> set[tuple[str, int, int]]:
  """(topic, partition, offset) of every message now in the raw topics."""
  raw = [t.name for t in load_topics(topics.config_path).by_kind('raw')]
  return {(r.topic, r.partition, r.offset) for r in read_all(raw)}


def read_all(topic_names: Iterable[str], timeout_s: float = 5.0) -> list:
  """Every message of the topics, from the beginning to the current end."""
  consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                           consumer_timeout_ms=int(timeout_s * 1000))
  try:
    parts = [TopicPartition(t, p) for t in topic_names for p in consumer.partitions_for_topic(t) or ()]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    end = consumer.end_offsets(parts)
    out = []
    deadline = time.monotonic() + 60
    while any(consumer.position(tp) < end[tp] for tp in parts) and time.monotonic() < deadline:
      for records in consumer.poll(timeout_ms=1000).values():
        out.extend(records)
    return out
  finally:
    consumer.close()


def wait_for_committed_backlog(topics: TestTopics, group: str, timeout_s: float) -> int:
  """Waits until `group` has committed the end offset of every raw partition; returns what is
  still uncommitted (0 when everything was committed in time)."""
  from pipeline.preflight import raw_backlog  # pylint: disable=import-outside-toplevel
  raw = [t.name for t in load_topics(topics.config_path).by_kind('raw')]
  deadline = time.monotonic() + timeout_s
  while True:
    left = sum(raw_backlog(BOOTSTRAP, group, raw).values())
    if left == 0 or time.monotonic() > deadline:
      return left
    time.sleep(2)


@dataclasses.dataclass
class Outputs:
  posts: list
  orders: list
  dead_letters: list

  def coordinates(self) -> set[tuple[str, int, int]]:
    """Raw messages that reached an output or the DLQ."""
    coords = set()
    for row in self.posts + self.orders:
      lineage = row['lineage']
      coords.add((lineage['topic'], lineage['partition'], lineage['offset']))
    for d in self.dead_letters:
      coords.add((d['topic'], d['partition'], d['offset']))
    return coords


def read_outputs(topics: TestTopics) -> Outputs:
  def rows(name):
    return [json.loads(r.value) for r in read_all([topics.topic(name)])]
  return Outputs(rows('out.social.posts'), rows('out.market.orders'), rows('dlq.pipeline'))


def wait_for_outputs(topics: TestTopics, expected: set, timeout_s: float, proc=None) -> Outputs:
  """Polls the output topics until every expected raw coordinate is accounted for."""
  deadline = time.monotonic() + timeout_s
  outputs = read_outputs(topics)
  while not expected <= outputs.coordinates() and time.monotonic() < deadline:
    if proc is not None and proc.poll() is not None:
      raise AssertionError(f'pipeline process exited early with {proc.returncode}')
    time.sleep(5)
    outputs = read_outputs(topics)
  return outputs


def assert_all_accounted(expected: set, outputs: Outputs, malformed_count: int):
  """Every raw message is in an output or the DLQ, and every dead letter names its error,
  stage and Kafka coordinates, with the payload encrypted."""
  got = outputs.coordinates()
  missing = expected - got
  assert not missing, f'{len(missing)} raw messages vanished, e.g. {sorted(missing)[:3]}'
  extra = got - expected
  assert not extra, f'outputs name messages that were never published: {sorted(extra)[:3]}'
  validate_dead = [d for d in outputs.dead_letters if d['stage'] == 'validate']
  assert len(validate_dead) == malformed_count
  for d in outputs.dead_letters:
    assert d['error_class'] and d['error_message'], d
    assert d['topic'] and d['partition'] >= 0 and d['offset'] >= 0, d
    assert d['payload_ciphertext'] and d['payload_key_id'], d


def start_pipeline(args: list[str], env: Optional[dict] = None) -> subprocess.Popen:
  log = open(os.path.join(REPO, '.local', 'logs', f'test-pipeline-{uuid.uuid4().hex[:6]}.log'), 'w')
  return subprocess.Popen([PYTHON, '-m', 'pipeline', *args], cwd=REPO, env=env or os.environ.copy(),
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_pipeline(proc: subprocess.Popen):
  if proc.poll() is None:
    os.killpg(proc.pid, 15)
    try:
      proc.wait(30)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, 9)
      proc.wait(10)
