"""The bounded runners' exact range read: pieces, stops, gaps, expired records, a broker that
does not answer (the real broker: tests/integration/test_pipeline_kafka.py)."""
import pytest

from connectors import kafka as kafka_io
from connectors.kafka_client import PartitionRange


def test_ranges_are_cut_into_pieces_and_empty_ones_dropped():
  pieces = kafka_io.split_ranges([PartitionRange('t', 0, 5, 5), PartitionRange('t', 1, 0, 45)],
                                 piece=20)
  assert pieces == [PartitionRange('t', 1, 0, 20), PartitionRange('t', 1, 20, 40),
                    PartitionRange('t', 1, 40, 45)]
  with pytest.raises(ValueError):
    PartitionRange('t', 0, 7, 3)


class _Error:
  def __init__(self, code, fatal=False):
    self._code, self._fatal = code, fatal

  def code(self):
    return self._code

  def fatal(self):
    return self._fatal

  def str(self):
    return f'error {self._code}'


class _Message:
  def __init__(self, offset, error=None):
    self._offset, self._error = offset, error

  def error(self):
    return self._error

  def offset(self):
    return self._offset

  def timestamp(self):
    return (1, 1_764_000_000_000 + self._offset)

  def key(self):
    return b'k%d' % self._offset

  def value(self):
    return b'v%d' % self._offset

  def headers(self):
    return [('source', b'shopify')]


class _FakeConsumer:
  """consume() hands out the scripted batches, then nothing."""
  def __init__(self, batches):
    self.batches = list(batches)
    self.assigned = None

  def assign(self, parts):
    self.assigned = [(p.topic, p.partition, p.offset) for p in parts]

  def unassign(self):
    self.assigned = None

  def consume(self, num_messages, timeout):
    return self.batches.pop(0) if self.batches else []


def _read(r, batches, idle_timeout_s=30.0):
  import confluent_kafka
  fn = kafka_io._ReadRangesFn(  # pylint: disable=protected-access
      kafka_io.KafkaIOConfig('127.0.0.1:9', 'g', 'jar'), {'raw.shopify.orders': 'shopify'},
      idle_timeout_s)
  fn.setup()
  fn._consumer.close()  # pylint: disable=protected-access
  fn._consumer = consumer = _FakeConsumer(batches)  # pylint: disable=protected-access
  out = [tv.value for tv in fn.process(r)]
  assert consumer.assigned is None   # unassigned afterwards
  return out, confluent_kafka


def test_reads_exactly_start_to_stop_and_drops_what_lies_beyond():
  r = PartitionRange('raw.shopify.orders', 2, 10, 14)
  records, _ = _read(r, [[_Message(10), _Message(11)], [_Message(12), _Message(13), _Message(14)]])
  assert [x.offset for x in records] == [10, 11, 12, 13]
  assert {(x.topic, x.partition, x.source) for x in records} == {('raw.shopify.orders', 2, 'shopify')}
  assert records[0].timestamp_ms == 1_764_000_000_010 and records[0].value == b'v10'


def test_a_range_ending_in_a_gap_stops_at_the_partition_end():
  import confluent_kafka
  eof = _Message(20, _Error(confluent_kafka.KafkaError._PARTITION_EOF))  # pylint: disable=protected-access
  records, _ = _read(PartitionRange('raw.shopify.orders', 0, 15, 20),
                     [[_Message(15), _Message(17)], [eof]])
  assert [x.offset for x in records] == [15, 17]   # 16, 18, 19: transaction markers, compaction


def test_records_gone_by_retention_are_skipped_not_waited_for():
  records, _ = _read(PartitionRange('raw.shopify.orders', 0, 0, 6), [[_Message(4), _Message(5)]])
  assert [x.offset for x in records] == [4, 5]


def test_a_partition_that_yields_nothing_fails_the_read_instead_of_waiting_forever():
  import confluent_kafka
  down = _Message(-1, _Error(confluent_kafka.KafkaError._TRANSPORT))  # pylint: disable=protected-access
  with pytest.raises(kafka_io.KafkaRangeReadError, match='gave nothing'):
    _read(PartitionRange('raw.shopify.orders', 0, 0, 3), [[_Message(0)], [down]],
          idle_timeout_s=0.05)


def test_a_partition_that_yields_only_transient_errors_fails_the_read_too():
  """The idle timer runs whatever consume() returns: a broker answering every poll with a
  transient error must not keep the read waiting forever."""
  import time
  import confluent_kafka
  down = _Message(-1, _Error(confluent_kafka.KafkaError._TRANSPORT))  # pylint: disable=protected-access

  class _ErrorsForever(_FakeConsumer):
    polls = 0

    def consume(self, num_messages, timeout):
      self.polls += 1
      assert self.polls < 300, 'the read kept polling a partition that gave only errors'
      time.sleep(0.01)
      return [down]

  fn = kafka_io._ReadRangesFn(  # pylint: disable=protected-access
      kafka_io.KafkaIOConfig('127.0.0.1:9', 'g', 'jar'), {'raw.shopify.orders': 'shopify'}, 0.05)
  fn.setup()
  fn._consumer.close()  # pylint: disable=protected-access
  fn._consumer = _ErrorsForever([])  # pylint: disable=protected-access
  started = time.monotonic()
  with pytest.raises(kafka_io.KafkaRangeReadError, match='gave nothing'):
    list(fn.process(PartitionRange('raw.shopify.orders', 0, 0, 3)))
  assert time.monotonic() - started < 5
