"""The bounded runs' output writer (librdkafka in a Python DoFn) against the real local Kafka.

A DirectRunner run that reads planned offset ranges writes posts, orders and dead letters without
Beam's cross-language WriteToKafka, so it starts no JVM; each output is keyed as before and on the
partition the Java producer would pick (murmur2 of the key). A message Kafka refuses fails the
run before the driver commits anything, and the rerun delivers every record.
"""
from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from kafka.partitioner.default import murmur2

from pipeline.__main__ import run
from pipeline.topics import load_topics
from tests.integration import pipeline_helpers as h
from tests.integration.test_pipeline_kafka import COMMON, SECRET_ENV


@pytest.fixture()
def topics(tmp_path, monkeypatch):
  yield from h.keyed_topics(tmp_path, monkeypatch, SECRET_ENV)


def _direct(topics, group):
  return run([*topics.pipeline_args(group), *COMMON, '--max_read_seconds=30'])


def _java_partition(key: bytes, partitions: int) -> int:
  """Where the Java producer's default partitioner puts a keyed record."""
  return (murmur2(key) & 0x7FFFFFFF) % partitions


def _set_topic_config(topic: str, name: str, value):
  """Sets (value) or removes (None) one topic setting, leaving the others as they are."""
  from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,  # pylint: disable=import-outside-toplevel
                                     ConfigResource, ResourceType)
  admin = AdminClient({'bootstrap.servers': h.BOOTSTRAP})
  op = AlterConfigOpType.DELETE if value is None else AlterConfigOpType.SET
  resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
      ConfigEntry(name, None if value is None else str(value), incremental_operation=op)])
  for future in admin.incremental_alter_configs([resource]).values():
    future.result(30)
  # The broker applies it asynchronously: wait until it reads back.
  deadline = time.monotonic() + 30
  while time.monotonic() < deadline:
    entries = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    entry = next(iter(entries.values())).result(30)[name]
    if (value is None and entry.is_default) or (value is not None and entry.value == str(value)):
      return
    time.sleep(0.5)
  raise AssertionError(f'{topic}: {name} did not become {value}')


def test_a_bounded_run_writes_every_output_with_librdkafka_and_starts_no_jvm(topics, monkeypatch):
  from apache_beam.transforms.external import JavaJarExpansionService  # pylint: disable=import-outside-toplevel
  from apache_beam.utils.subprocess_server import SubprocessServer  # pylint: disable=import-outside-toplevel
  servers, commands = [], []
  real_init, real_start = JavaJarExpansionService.__init__, SubprocessServer.start

  def made(self, *args, **kwargs):
    servers.append(args[:1])
    real_init(self, *args, **kwargs)

  def started(self, *args, **kwargs):
    commands.append(list(self._cmd))  # pylint: disable=protected-access
    return real_start(self, *args, **kwargs)
  monkeypatch.setattr(JavaJarExpansionService, '__init__', made)
  monkeypatch.setattr(SubprocessServer, 'start', started)
  group = f'g-{uuid.uuid4().hex[:6]}'
  data = h.publish_demo(topics, seed=31, events=300, malformed_share=0.1)
  expected = h.raw_coordinates(topics)

  summary = _direct(topics, group)

  assert servers == [], 'a bounded run created the Kafka expansion service'
  assert not [c for c in commands if 'java' in c[0]], f'a bounded run started a JVM: {commands}'
  assert summary.reconciled, summary.render()
  assert h.committed_backlog(topics, group) == 0
  outputs = h.read_outputs(topics)
  h.assert_all_accounted(expected, outputs, malformed_count=len(data.malformed))
  written = (summary.get('num_posts_out') + summary.get('num_orders_out')
             + summary.get('num_dead_letters_out'))
  assert summary.get('num_kafka_messages_written') == written >= 300
  # Keyed as before (event id, dead letter id), each on the partition WriteToKafka chose.
  partitions = {t.name: t.partitions for t in load_topics(topics.config_path).topics}
  for name, id_field in (('out.social.posts', 'event_id'), ('out.market.orders', 'event_id'),
                         ('dlq.pipeline', 'dead_letter_id')):
    messages = h.read_all([topics.topic(name)])
    assert messages, name
    for m in messages:
      assert m.key == json.loads(m.value)[id_field].encode('utf-8'), name
      assert m.partition == _java_partition(m.key, partitions[topics.topic(name)]), (name, m.key)


def test_a_write_kafka_refuses_fails_the_run_commits_nothing_and_the_rerun_delivers(topics):
  """The orders topic takes no message over 200 bytes (every order is larger): the broker
  refuses them, the writer's bundle fails, the run fails, and the group's offsets stay where
  they were; with the limit lifted the rerun reads the same records and writes every order."""
  group = f'g-{uuid.uuid4().hex[:6]}'
  h.publish_demo(topics, seed=32, events=150, malformed_share=0.1)
  expected = h.raw_coordinates(topics)
  orders_topic = topics.topic('out.market.orders')
  _set_topic_config(orders_topic, 'max.message.bytes', 200)
  try:
    with pytest.raises(Exception, match=rf'(?s){re.escape(orders_topic)}: \d+ of \d+ message'):
      _direct(topics, group)
  finally:
    _set_topic_config(orders_topic, 'max.message.bytes', None)
  assert h.committed_backlog(topics, group) == len(expected), 'a failed run committed offsets'

  summary = _direct(topics, group)

  assert (summary.backlog, summary.read) == (len(expected), len(expected))
  assert summary.reconciled, summary.render()
  assert h.committed_backlog(topics, group) == 0
  outputs = h.read_outputs(topics)
  assert expected <= outputs.coordinates()
  # The failed run wrote no order (all refused), so the topic holds the rerun's, each once.
  order_ids = [o['event_id'] for o in outputs.orders]
  assert len(order_ids) == len(set(order_ids)) == summary.get('num_orders_out') > 0
