"""Shared helpers for the end-to-end pipeline tests against the real local Kafka (and Flink).

Each test gets its own topics (a unique prefix on every name of pipeline/topics.yaml), its own
consumer group, and deletes its topics afterwards.
"""
from __future__ import annotations

import dataclasses
import io
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
  create_topics(config, BOOTSTRAP, out=io.StringIO())   # its report is not needed here
  return TestTopics(prefix, path, [t.name for t in config.topics])


def delete_topics(topics: TestTopics):
  admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP)
  try:
    admin.delete_topics(topics.names)
  finally:
    admin.close()


def keyed_topics(tmp_path, monkeypatch, secret_env: dict[str, str]):
  """A test's own topics, with its keys in the environment, deleted afterwards: the body of a
  pipeline test's `topics` fixture (`yield from h.keyed_topics(tmp_path, monkeypatch, KEYS)`)."""
  kafka_or_fail()
  for name, value in secret_env.items():
    monkeypatch.setenv(name, value)
  topics = make_topics(tmp_path)
  yield topics
  delete_topics(topics)


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
      raise AssertionError(f'pipeline process exited early with {proc.returncode} '
                           f'(see {getattr(proc, "log_path", "its log")})')
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
  """`python -m pipeline ARGS` in its own session, its output in a log whose path the process
  carries (`proc.log_path`) for failure messages; the child holds its own descriptor of the
  log, so the parent closes its copy at once."""
  log_path = os.path.join(REPO, '.local', 'logs', f'test-pipeline-{uuid.uuid4().hex[:6]}.log')
  with open(log_path, 'w', encoding='utf-8') as log:
    proc = subprocess.Popen([PYTHON, '-m', 'pipeline', *args], cwd=REPO,
                            env=env or os.environ.copy(), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
  proc.log_path = log_path
  return proc


def stop_pipeline(proc: subprocess.Popen):
  if proc.poll() is None:
    os.killpg(proc.pid, 15)
    try:
      proc.wait(30)
    except subprocess.TimeoutExpired:
      os.killpg(proc.pid, 9)
      proc.wait(10)


# ---- sinks: exactly once, counted by event id -------------------------------------------------

def sink_args(snow, weav) -> list[str]:
  """`python -m pipeline` flags that write to the test's own Snowflake schema and Weaviate
  collections (sink_helpers.snowflake_schema / weaviate_collections)."""
  return ['--snowflake', f'--snowflake_host={snow.host}', f'--snowflake_port={snow.port}',
          '--snowflake_protocol=http', '--snowflake_emulator',
          f'--snowflake_database={snow.database}', f'--snowflake_schema={snow.schema}',
          f'--snowflake_password_ref={snow.password_ref}',
          '--weaviate', f'--weaviate_http_port={weav.http_port}',
          f'--weaviate_grpc_port={weav.grpc_port}',
          f'--weaviate_posts_collection={weav.posts_collection}',
          f'--weaviate_orders_collection={weav.orders_collection}',
          '--sink_window_seconds=5']


def snowflake_event_counts(snow) -> dict[str, int]:
  """event_id → rows holding it, over the posts and orders tables."""
  from connectors.snowflake_tables import MARKET_ORDERS, SOCIAL_POSTS
  from tests.integration.sink_helpers import query
  counts: dict[str, int] = {}
  for table in (SOCIAL_POSTS, MARKET_ORDERS):
    for event, n in query(snow, f'SELECT EVENT_ID, COUNT(*) FROM {snow.qualified(table)} '
                                'GROUP BY EVENT_ID'):
      counts[str(event)] = counts.get(str(event), 0) + int(n)
  return counts


def weaviate_event_counts(weav) -> dict[str, int]:
  """event_id (= object id) → objects holding it, over the posts and orders collections."""
  from connectors.weaviate import open_client
  counts: dict[str, int] = {}
  with open_client(weav) as client:
    for name in (weav.posts_collection, weav.orders_collection):
      for obj in client.collections.get(name).iterator():
        counts[str(obj.uuid)] = counts.get(str(obj.uuid), 0) + 1
  return counts


@dataclasses.dataclass
class Delivery:
  """What happened to every published raw message and every event the graph made of them."""
  raw: int                 # raw messages published
  unaccounted: int         # raw messages in no output topic and not in the DLQ
  events: int              # distinct event ids in the output topics
  dead_events: int         # events dead-lettered by a sink (in the DLQ, not in that sink)
  lost_snowflake: int      # events neither in Snowflake nor dead-lettered
  lost_weaviate: int
  dup_snowflake: int       # events held more than once
  dup_weaviate: int
  extra: int               # events in a sink that no output names

  @property
  def lost(self) -> int:
    return self.unaccounted + self.lost_snowflake + self.lost_weaviate

  def ok(self) -> bool:
    return not (self.lost or self.dup_snowflake or self.dup_weaviate or self.extra)


def delivery(topics: TestTopics, expected: set, snow, weav) -> Delivery:
  """Counts, by event id, what the sinks hold against what the output topics and the DLQ say
  the graph made of the `expected` raw coordinates (reruns may repeat topic messages; the sinks
  must hold each event once)."""
  outputs = read_outputs(topics)
  events = {r['event_id'] for r in outputs.posts + outputs.orders}
  dead_in = {'snowflake': set(), 'weaviate': set()}
  for d in outputs.dead_letters:
    for sink, ids in dead_in.items():
      if sink in str(d['stage']).lower() and d.get('event_id'):
        ids.add(d['event_id'])
  snow_counts, weav_counts = snowflake_event_counts(snow), weaviate_event_counts(weav)
  return Delivery(
      raw=len(expected), unaccounted=len(expected - outputs.coordinates()), events=len(events),
      dead_events=len(dead_in['snowflake'] | dead_in['weaviate']),
      lost_snowflake=len(events - set(snow_counts) - dead_in['snowflake']),
      lost_weaviate=len(events - set(weav_counts) - dead_in['weaviate']),
      dup_snowflake=sum(1 for n in snow_counts.values() if n > 1),
      dup_weaviate=sum(1 for n in weav_counts.values() if n > 1),
      extra=len((set(snow_counts) | set(weav_counts)) - events))


def committed_backlog(topics: TestTopics, group: str) -> int:
  """Records of the raw topics that `group` has not committed."""
  from pipeline.preflight import raw_backlog  # pylint: disable=import-outside-toplevel
  raw = [t.name for t in load_topics(topics.config_path).by_kind('raw')]
  return sum(raw_backlog(BOOTSTRAP, group, raw).values())
