"""Integration-test helpers for the real local Kafka broker: unique topics, read-back, cleanup."""
from __future__ import annotations

import contextlib
import os
import time
import uuid
from typing import Iterator

from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError

from agents.topics import AgentTopics, load_topics

# Same override as tests/integration/pipeline_helpers.py.
BOOTSTRAP = os.environ.get('MILLIONX_KAFKA_BOOTSTRAP', load_topics().bootstrap_servers)


def admin() -> KafkaAdminClient:
  try:
    return KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=10_000)
  except KafkaError as e:
    raise RuntimeError(
        f'No Kafka broker at {BOOTSTRAP}: start the local stack with ./run_local.sh start') from e


@contextlib.contextmanager
def unique_topics(partitions: int = 1) -> Iterator[AgentTopics]:
  """The project's topic layout under a fresh `test.<random>.` prefix; deleted afterwards."""
  topics = load_topics().with_prefix(f'test.{uuid.uuid4().hex[:10]}.')
  client = admin()
  try:
    client.create_topics([NewTopic(t, partitions, 1) for t in topics.all_topics()])
    yield topics
  finally:
    try:
      client.delete_topics(topics.all_topics())
    finally:
      client.close()


def read_all(topic: str, expected: int, timeout_s: float = 20.0) -> list:
  """Every record of `topic` from the start; waits until `expected` arrived (or the timeout)."""
  consumer = KafkaConsumer(bootstrap_servers=BOOTSTRAP, enable_auto_commit=False,
                           auto_offset_reset='earliest', group_id=None)
  try:
    deadline = time.monotonic() + timeout_s
    while not consumer.partitions_for_topic(topic):
      if time.monotonic() > deadline:
        raise AssertionError(f'topic {topic} has no partitions')
      time.sleep(0.1)
    partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    records = []
    while time.monotonic() < deadline:
      for batch in consumer.poll(timeout_ms=300).values():
        records.extend(batch)
      if len(records) >= expected:
        # one more short poll, so that extra (unexpected) records show up too
        for batch in consumer.poll(timeout_ms=300).values():
          records.extend(batch)
        break
    return records
  finally:
    consumer.close()


def headers_of(record) -> dict[str, bytes]:
  return dict(record.headers or ())
