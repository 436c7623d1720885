"""python -m pipeline.topics against the real local broker: create sets the replication factor
and min.insync.replicas of the file, verify reports a topic that differs, create aligns it, and
a replication factor above the broker count stops with a message instead of a broker error."""
from __future__ import annotations

import dataclasses
import io
import time
import uuid

import pytest
from kafka.admin import ConfigResource, ConfigResourceType

from pipeline.topics import TopicsConfig, create_topics, load_topics, verify_topics
from tests.integration import pipeline_helpers as h


@pytest.fixture()
def topics(tmp_path):
  h.kafka_or_fail()
  t = h.make_topics(tmp_path)   # created with `create_topics` from a copy of topics.yaml
  yield t
  h.delete_topics(t)


def _admin():
  from kafka import KafkaAdminClient
  return KafkaAdminClient(bootstrap_servers=h.BOOTSTRAP)


def test_verify_finds_a_changed_min_insync_and_create_aligns_it(topics):
  config = load_topics(topics.config_path)
  assert verify_topics(config, h.BOOTSTRAP) == []
  dlq = topics.topic('dlq.pipeline')
  admin = _admin()
  try:
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, dlq,
                                        configs={**config.named(dlq).configs(),
                                                 'min.insync.replicas': '2'})])
  finally:
    admin.close()
  # A broker answers describe_configs from its metadata cache, which takes an altered config
  # a moment after AlterConfigs returned: wait for it, for both changes.
  assert _verified_within(config, [
      f'{dlq}: min.insync.replicas 2, config says 1 (`python -m pipeline.topics create` aligns it)'])
  create_topics(config, h.BOOTSTRAP, out=io.StringIO())
  assert _verified_within(config, [])


def _verified_within(config, expected, timeout_s: float = 15.0) -> bool:
  deadline = time.monotonic() + timeout_s
  while True:
    found = verify_topics(config, h.BOOTSTRAP)
    if found == expected:
      return True
    if time.monotonic() > deadline:
      raise AssertionError(f'verify_topics still says {found}, expected {expected}')
    time.sleep(0.5)


def test_verify_reports_another_replication_factor(topics):
  config = load_topics(topics.config_path)
  # The cluster setting (3/2) checked against the one local broker's topics (1 replica each).
  cluster = TopicsConfig(config.bootstrap_servers, tuple(
      dataclasses.replace(t, replication_factor=3, min_insync_replicas=2) for t in config.topics))
  problems = verify_topics(cluster, h.BOOTSTRAP)
  assert len(problems) == 2 * len(config.topics)
  assert f'{topics.topic("raw.tiktok.videos")}: replication factor 1, config says 3 ' \
         '(changing it needs a partition reassignment)' in problems


def test_create_refuses_more_replicas_than_brokers():
  h.kafka_or_fail()
  spec = dataclasses.replace(load_topics().named('dlq.pipeline'), name=f't{uuid.uuid4().hex[:8]}.dlq',
                             replication_factor=3, min_insync_replicas=2)
  with pytest.raises(SystemExit, match=r'1 broker\(s\), fewer than the replication factor'):
    create_topics(TopicsConfig(h.BOOTSTRAP, (spec,)), h.BOOTSTRAP, out=io.StringIO())
  admin = _admin()
  try:
    assert spec.name not in admin.list_topics()
  finally:
    admin.close()
