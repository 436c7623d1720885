"""The demo generator publishing into the real local Kafka: counts, headers, malformed records."""
import collections
import json
import subprocess
import sys

import pytest
from kafka.partitioner.default import murmur2

from agents import demo
from tests.integration.kafka_topics import BOOTSTRAP, headers_of, read_all, unique_topics


@pytest.mark.parametrize('client', sorted(demo.CLIENTS))
def test_publish_counts_match_what_the_broker_holds(client):
  """Both clients (librdkafka, the demo's default, and kafka-python, the agents'): every record
  arrives with its key, value and headers as generated, on kafka-python's key partition."""
  with unique_topics(partitions=3) as topics:
    data = demo.generate(seed=4, events=300, malformed_share=0.1, topics=topics)
    counts = demo.publish(data.events, BOOTSTRAP, client=client)
    assert counts == data.counts()
    raw_topic = topics.for_source('tiktok')
    records = read_all(raw_topic, counts[raw_topic])
    assert len(records) == counts[raw_topic]
    sent = {e.key: e for e in data.events if e.topic == raw_topic}
    for r in records:
      assert (r.value, tuple(r.headers)) == (sent[r.key].value, sent[r.key].headers)
      assert r.partition == (murmur2(r.key) & 0x7fffffff) % 3, 'not the Java/kafka-python partition'
    assert all(headers_of(r)['synthetic'] == b'true' for r in records)
    malformed = {m.key for m in data.malformed if m.topic == raw_topic}
    by_key = {r.key: r.value for r in records}
    assert malformed and malformed <= set(by_key)
    assert all(json.loads(by_key[k])['create_time'] for k in set(by_key) - malformed)


def test_publish_with_workers_and_the_command(tmp_path):
  with unique_topics() as topics:
    data = demo.generate(seed=5, events=200, malformed_share=0.05, topics=topics)
    assert demo.publish(data.events, BOOTSTRAP, workers=2) == data.counts()
    sent_weather = [e for e in data.events if e.topic == topics.for_source('openweather')]
    weather = read_all(topics.for_source('openweather'), len(sent_weather))
    assert len(weather) == len(sent_weather) >= 8 * 6    # the hourly history of 8 cities

    prefix = topics.ingest_dlq[:-len('dlq.ingest')]
    pii = tmp_path / 'pii.json'
    run = subprocess.run([sys.executable, '-m', 'agents.demo', '--bootstrap-servers', BOOTSTRAP,
                          '--events', '40', '--seed', '9', '--malformed-share', '0.1',
                          '--topic-prefix', prefix, '--pii-out', str(pii)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert 'malformed: 4 ' in run.stdout and f'{prefix}raw.tiktok.videos' in run.stdout
    planted = json.loads(pii.read_text(encoding='utf-8'))['values']
    assert collections.Counter(p['kind'] for p in planted)['phone'] > 0
