"""Plain Kafka clients for the driver and the command-line tools (not the Beam graph's IO).

* `partition_ranges` / `commit_ranges`: the bounded runners' exact read plan. Before a run the
  driver asks Kafka, per raw partition, where the consumer group stands (its committed offset,
  or the earliest/latest offset where it has none) and where the partition ends now; the graph
  reads exactly those ranges (connectors.kafka.ReadKafkaRanges), and only after the run has
  succeeded does the driver commit the ranges' ends.
* `read_topic`, `fetch_message`: the DLQ tool's reads (python -m pipeline.dlq).
* `topic_max_message_bytes`: what the broker allows on a topic (checked by the preflight).
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Iterator, Optional, Sequence

import kafka
from kafka import TopicPartition
from kafka.errors import KafkaError

_TIMEOUT_MS = 10_000


class KafkaUnavailable(RuntimeError):
  """The brokers did not answer (the message names them)."""


@dataclasses.dataclass(frozen=True, order=True)
class PartitionRange:
  """Offsets [start, stop) of one partition that a bounded run reads."""
  topic: str
  partition: int
  start: int
  stop: int

  def __post_init__(self):
    if not 0 <= self.start <= self.stop:
      raise ValueError(f'bad range {self}: need 0 <= start <= stop')

  @property
  def size(self) -> int:
    return self.stop - self.start


@contextlib.contextmanager
def _consumer(bootstrap_servers: str, group_id: Optional[str], client_id: str, **kwargs):
  try:
    consumer = kafka.KafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group_id,
                                   enable_auto_commit=False, request_timeout_ms=_TIMEOUT_MS,
                                   client_id=client_id, **kwargs)
  except KafkaError as e:
    raise KafkaUnavailable(f'Kafka is not reachable at {bootstrap_servers} '
                           f'({type(e).__name__})') from e
  try:
    yield consumer
  finally:
    consumer.close(autocommit=False)


def partition_ranges(bootstrap_servers: str, group_id: str, topics: Sequence[str],
                     auto_offset_reset: str = 'earliest',
                     max_records: Optional[int] = None) -> list[PartitionRange]:
  """Per partition of `topics`: from the group's committed offset (or, where it has none, the
  earliest / latest offset per `auto_offset_reset`) to the partition's end offset now.

  A committed offset below the log start (records deleted by retention) starts at the log
  start. `max_records` caps the total: partitions are taken in order, the last one cut short,
  and the rest start and stop where they are (nothing skipped: a later run goes on from there).
  """
  with _consumer(bootstrap_servers, group_id, 'millionx-plan') as consumer:
    parts = [TopicPartition(t, p) for t in topics
             for p in sorted(consumer.partitions_for_topic(t) or ())]
    if not parts:
      return []
    ends = consumer.end_offsets(parts)
    starts = consumer.beginning_offsets(parts)
    ranges = []
    left = max_records
    for tp in parts:
      committed = consumer.committed(tp)
      if committed is None:
        committed = starts[tp] if auto_offset_reset == 'earliest' else ends[tp]
      start = min(max(committed, starts[tp]), ends[tp])
      stop = ends[tp]
      if left is not None:
        stop = min(stop, start + left)
        left -= stop - start
      ranges.append(PartitionRange(tp.topic, tp.partition, start, stop))
    return ranges


def commit_ranges(bootstrap_servers: str, group_id: str, ranges: Sequence[PartitionRange]) -> None:
  """Commits each range's stop offset for `group_id` (what the next run starts from).

  Called by the driver after a bounded run succeeded. Ranges that read nothing are committed
  too, so a group that had no offset keeps the position it was planned from."""
  offsets = {TopicPartition(r.topic, r.partition): kafka.OffsetAndMetadata(r.stop, '', -1)
             for r in ranges}
  if not offsets:
    return
  with _consumer(bootstrap_servers, group_id, 'millionx-commit') as consumer:
    consumer.commit(offsets)


def topic_max_message_bytes(bootstrap_servers: str, topic: str) -> Optional[int]:
  """The topic's effective max.message.bytes, or None when the broker does not say."""
  from kafka.admin import ConfigResource, ConfigResourceType
  try:
    admin = kafka.KafkaAdminClient(bootstrap_servers=bootstrap_servers,
                                   request_timeout_ms=_TIMEOUT_MS, client_id='millionx-preflight')
  except KafkaError as e:
    raise KafkaUnavailable(f'Kafka is not reachable at {bootstrap_servers} '
                           f'({type(e).__name__})') from e
  try:
    # 'all': a topic without its own setting reports the broker default it runs with.
    answer = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, topic, configs={'max.message.bytes': None})],
        config_filter='all')
  finally:
    admin.close()
  value = answer.get('topic', {}).get(topic, {}).get('max.message.bytes', {}).get('value')
  return int(value) if value is not None else None


def read_topic(bootstrap_servers: str, topic: str, timeout_ms: int = 5000) -> Iterator:
  """Every message of the topic, from the beginning to its end when the read started."""
  with _consumer(bootstrap_servers, None, 'millionx-dlq', consumer_timeout_ms=timeout_ms) as consumer:
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    if not partitions:
      return
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    remaining = {tp for tp in partitions if end[tp] > 0}
    if not remaining:
      return
    for message in consumer:
      tp = TopicPartition(message.topic, message.partition)
      if message.offset < end[tp]:
        yield message
      if message.offset + 1 >= end[tp]:
        remaining.discard(tp)
      if not remaining:
        break


def fetch_message(bootstrap_servers: str, topic: str, partition: int, offset: int,
                  timeout_ms: int = 5000):
  """The message at (topic, partition, offset), or None when the topic no longer holds it
  (retention moved the log start past it)."""
  with _consumer(bootstrap_servers, None, 'millionx-dlq', consumer_timeout_ms=timeout_ms,
                 auto_offset_reset='earliest') as consumer:
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, offset)
    for message in consumer:
      return message if message.offset == offset else None
    return None
