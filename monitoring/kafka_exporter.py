"""Kafka consumer-group lag and partition health for Prometheus (port 9308).

`kafka_exporter` (github.com/danielqsj/kafka_exporter) is not served by the Go module proxy this
project can reach, so the stack starts this equivalent (`stack/stack.sh start kafka_exporter`). It
exports kafka_exporter's metric names, so its dashboards and alert rules carry over:

  kafka_brokers, kafka_topic_partitions{topic},
  kafka_topic_partition_{current,oldest}_offset{topic,partition},
  kafka_topic_partition_{leader,replicas,in_sync_replica,under_replicated_partition}{topic,partition},
  kafka_consumergroup_current_offset{consumergroup,topic,partition} (+ _sum by topic),
  kafka_consumergroup_lag{consumergroup,topic,partition} (+ _sum by topic),
  kafka_consumergroup_members{consumergroup},
  plus kafka_topic_partition_offline{topic,partition} (no leader) and
  kafka_exporter_scrape_success / _duration_seconds / _groups_skipped.

The broker's own figures (request rates, its under-replicated and offline partition counts) come
from its JMX through jmx_prometheus_javaagent (stack/services/kafka.sh, port 9404).

Kafka is read in a background thread every --interval seconds; a scrape serves the last reading,
so a slow broker never stalls Prometheus. Groups and topics are capped (--max-groups,
--max-topics) so test runs with unique names cannot grow the series without bound.
"""
from __future__ import annotations

import argparse
import logging
import re
import threading
import time
from typing import Optional

from prometheus_client import start_http_server
from prometheus_client.core import GaugeMetricFamily, REGISTRY
from prometheus_client.registry import Collector

_LOG = logging.getLogger('monitoring.kafka_exporter')


class KafkaReading:
  """One consistent reading of the cluster: brokers, partitions, group offsets."""
  def __init__(self):
    self.brokers = 0
    self.partitions: dict[tuple[str, int], dict] = {}   # (topic, partition) → metadata + offsets
    self.groups: dict[str, dict] = {}                   # group → {'members': n, 'offsets': {(t, p): o}}
    self.groups_skipped = 0
    self.ok = False
    self.duration_s = 0.0


def read_cluster(bootstrap_servers: str, topic_pattern: re.Pattern, group_pattern: re.Pattern,
                 max_topics: int, max_groups: int, timeout_ms: int = 10_000) -> KafkaReading:
  """Asks Kafka for everything the exporter shows. Raises KafkaError when Kafka does not answer."""
  from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
  started = time.monotonic()
  reading = KafkaReading()
  admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=timeout_ms,
                           client_id='millionx-kafka-exporter')
  consumer = None
  try:
    reading.brokers = len(admin.describe_cluster().get('brokers', ()))
    names = sorted(t for t in admin.list_topics() if topic_pattern.fullmatch(t))[:max_topics]
    for topic in admin.describe_topics(names) if names else ():
      for part in topic.get('partitions', ()):
        reading.partitions[(topic['name'], part['partition_index'])] = {
            'leader': part.get('leader_id', -1),
            'replicas': len(part.get('replica_nodes') or ()),
            'isr': len(part.get('isr_nodes') or ())}
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=None,
                             enable_auto_commit=False, request_timeout_ms=timeout_ms + 1000,
                             client_id='millionx-kafka-exporter')
    tps = [TopicPartition(t, p) for t, p in reading.partitions]
    if tps:
      ends = consumer.end_offsets(tps)
      starts = consumer.beginning_offsets(tps)
      for tp in tps:
        reading.partitions[(tp.topic, tp.partition)].update(end=ends.get(tp), start=starts.get(tp))
    groups = sorted(g['group_id'] for g in admin.list_groups()
                    if group_pattern.fullmatch(g['group_id']))
    reading.groups_skipped = max(0, len(groups) - max_groups)
    groups = groups[:max_groups]
    if groups:
      # kafka-python 3: {group: description} and {group: {TopicPartition: OffsetAndMetadata}}.
      described = admin.describe_groups(groups)
      members = {g: len(d.get('members') or ()) for g, d in described.items()}
      all_offsets = admin.list_group_offsets({g: None for g in groups})
      for group in groups:
        offsets = all_offsets.get(group, {})
        reading.groups[group] = {
            'members': members.get(group, 0),
            'offsets': {(tp.topic, tp.partition): meta.offset for tp, meta in offsets.items()
                        if meta.offset is not None and meta.offset >= 0
                        and (tp.topic, tp.partition) in reading.partitions}}
    reading.ok = True
  finally:
    admin.close()
    if consumer is not None:
      consumer.close(autocommit=False)
  reading.duration_s = time.monotonic() - started
  return reading


def families(reading: KafkaReading):
  """Prometheus metric families for one reading (kafka_exporter's names)."""
  def gauge(name, doc, labels=()):
    return GaugeMetricFamily(name, doc, labels=list(labels))
  up = gauge('kafka_exporter_scrape_success', '1 when the last reading of Kafka succeeded.')
  up.add_metric([], 1.0 if reading.ok else 0.0)
  yield up
  dur = gauge('kafka_exporter_scrape_duration_seconds', 'How long the last reading of Kafka took.')
  dur.add_metric([], reading.duration_s)
  yield dur
  skipped = gauge('kafka_exporter_groups_skipped', 'Consumer groups not exported (over --max-groups).')
  skipped.add_metric([], reading.groups_skipped)
  yield skipped
  if not reading.ok:
    return
  brokers = gauge('kafka_brokers', 'Number of brokers in the cluster.')
  brokers.add_metric([], reading.brokers)
  yield brokers
  tp_labels = ('topic', 'partition')
  per_topic = gauge('kafka_topic_partitions', 'Number of partitions of the topic.', ['topic'])
  current = gauge('kafka_topic_partition_current_offset', 'End (next) offset of the partition.', tp_labels)
  oldest = gauge('kafka_topic_partition_oldest_offset', 'Oldest offset still held.', tp_labels)
  leader = gauge('kafka_topic_partition_leader', 'Broker id of the leader (-1: none).', tp_labels)
  replicas = gauge('kafka_topic_partition_replicas', 'Replicas of the partition.', tp_labels)
  isr = gauge('kafka_topic_partition_in_sync_replica', 'In-sync replicas of the partition.', tp_labels)
  under = gauge('kafka_topic_partition_under_replicated_partition',
                '1 when fewer replicas are in sync than assigned.', tp_labels)
  offline = gauge('kafka_topic_partition_offline', '1 when the partition has no leader.', tp_labels)
  counts: dict[str, int] = {}
  for (topic, partition), p in sorted(reading.partitions.items()):
    counts[topic] = counts.get(topic, 0) + 1
    labels = [topic, str(partition)]
    if p.get('end') is not None:
      current.add_metric(labels, p['end'])
    if p.get('start') is not None:
      oldest.add_metric(labels, p['start'])
    leader.add_metric(labels, p['leader'])
    replicas.add_metric(labels, p['replicas'])
    isr.add_metric(labels, p['isr'])
    under.add_metric(labels, 1.0 if p['isr'] < p['replicas'] else 0.0)
    offline.add_metric(labels, 1.0 if p['leader'] is None or p['leader'] < 0 else 0.0)
  for topic, n in sorted(counts.items()):
    per_topic.add_metric([topic], n)
  yield from (per_topic, current, oldest, leader, replicas, isr, under, offline)

  g_labels = ('consumergroup', 'topic', 'partition')
  g_offset = gauge('kafka_consumergroup_current_offset', 'Committed offset of the group.', g_labels)
  g_lag = gauge('kafka_consumergroup_lag', 'End offset minus the committed offset.', g_labels)
  g_offset_sum = gauge('kafka_consumergroup_current_offset_sum', 'Committed offsets of the group, '
                       'summed over the topic\'s partitions.', ['consumergroup', 'topic'])
  g_lag_sum = gauge('kafka_consumergroup_lag_sum', 'Lag of the group summed over the topic\'s '
                    'partitions.', ['consumergroup', 'topic'])
  g_members = gauge('kafka_consumergroup_members', 'Members of the group.', ['consumergroup'])
  for group, info in sorted(reading.groups.items()):
    g_members.add_metric([group], info['members'])
    sums: dict[str, list[float]] = {}
    for (topic, partition), offset in sorted(info['offsets'].items()):
      end = reading.partitions[(topic, partition)].get('end')
      lag = max(0, end - offset) if end is not None else None
      g_offset.add_metric([group, topic, str(partition)], offset)
      total = sums.setdefault(topic, [0, 0])
      total[0] += offset
      if lag is not None:
        g_lag.add_metric([group, topic, str(partition)], lag)
        total[1] += lag
    for topic, (offset_sum, lag_sum) in sorted(sums.items()):
      g_offset_sum.add_metric([group, topic], offset_sum)
      g_lag_sum.add_metric([group, topic], lag_sum)
  yield from (g_offset, g_lag, g_offset_sum, g_lag_sum, g_members)


class KafkaCollector(Collector):
  """Serves the newest reading; a background thread takes a new one every `interval_s`."""
  def __init__(self, read, interval_s: float):
    self._read = read
    self._interval_s = interval_s
    self._reading = KafkaReading()
    self._lock = threading.Lock()
    self._stop = threading.Event()

  def refresh(self) -> None:
    try:
      reading = self._read()
    except Exception as e:  # pylint: disable=broad-except  # any failure is "Kafka unreadable"
      _LOG.warning('reading Kafka failed: %s: %s', type(e).__name__, e)
      reading = KafkaReading()
    with self._lock:
      self._reading = reading

  def run_forever(self) -> None:
    while not self._stop.is_set():
      self.refresh()
      self._stop.wait(self._interval_s)

  def stop(self) -> None:
    self._stop.set()

  def collect(self):
    with self._lock:
      reading = self._reading
    yield from families(reading)


def main(argv: Optional[list[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m monitoring.kafka_exporter', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--bootstrap-servers', default='127.0.0.1:9092', help='Kafka (default 127.0.0.1:9092).')
  parser.add_argument('--host', default='127.0.0.1', help='Address to serve /metrics on (default 127.0.0.1).')
  parser.add_argument('--port', type=int, default=9308, help='Port to serve /metrics on (default 9308).')
  parser.add_argument('--interval', type=float, default=10.0, help='Seconds between readings of Kafka (default 10).')
  parser.add_argument('--topic-regex', default=r'[^_].*', help='Topics to export (default: all but internal ones).')
  parser.add_argument('--group-regex', default=r'.+', help='Consumer groups to export (default: all).')
  parser.add_argument('--max-topics', type=int, default=500, help='At most this many topics (default 500).')
  parser.add_argument('--max-groups', type=int, default=200, help='At most this many groups (default 200).')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  logging.getLogger('kafka').setLevel(logging.ERROR)
  topic_re, group_re = re.compile(args.topic_regex), re.compile(args.group_regex)
  collector = KafkaCollector(
      lambda: read_cluster(args.bootstrap_servers, topic_re, group_re, args.max_topics, args.max_groups),
      args.interval)
  REGISTRY.register(collector)
  start_http_server(args.port, addr=args.host)
  _LOG.info('kafka exporter for %s on http://%s:%d/metrics', args.bootstrap_servers, args.host, args.port)
  try:
    collector.run_forever()
  except KeyboardInterrupt:
    pass
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
