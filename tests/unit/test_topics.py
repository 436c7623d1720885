"""pipeline/topics.yaml: every topic states its replication factor and min.insync.replicas, and
a combination that would refuse every acks=all write is rejected when the file is loaded."""
import dataclasses

import pytest

from pipeline.topics import TOPICS_FILE, TopicSpec, load_topics


def test_every_local_topic_has_one_replica_and_one_insync():
  config = load_topics(TOPICS_FILE)
  assert config.topics
  for t in config.topics:
    assert (t.replication_factor, t.min_insync_replicas) == (1, 1), t.name
    assert t.configs()['min.insync.replicas'] == '1'


def test_the_cluster_setting_three_and_two_is_valid():
  t = dataclasses.replace(load_topics(TOPICS_FILE).topics[0], replication_factor=3,
                          min_insync_replicas=2)
  assert t.configs()['min.insync.replicas'] == '2'


@pytest.mark.parametrize('replication, min_insync', [(1, 2), (3, 4), (3, 0), (0, 1)])
def test_min_insync_must_lie_between_one_and_the_replication_factor(replication, min_insync):
  with pytest.raises(ValueError):
    TopicSpec(name='x', kind='dlq', partitions=1, retention_ms=1, cleanup_policy='delete',
              replication_factor=replication, min_insync_replicas=min_insync)


def test_a_topic_without_replication_settings_is_rejected(tmp_path):
  path = tmp_path / 'topics.yaml'
  path.write_text('bootstrap_servers: 127.0.0.1:9092\ntopics:\n'
                  '  - {name: x, kind: dlq, partitions: 1, retention_ms: 1, cleanup_policy: delete}\n')
  with pytest.raises(TypeError):
    load_topics(str(path))
