"""The batching-sink skeleton with a fake sink (no server): when batches are flushed (count, time,
bundle end), the newest copy per key, failures, the last-resort catch, retries, metrics and the
windows of the outputs. The real sinks are tested against real servers in tests/integration/."""
from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any, NamedTuple, Optional

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms.window import IntervalWindow, TimestampedValue
from apache_beam.utils.windowed_value import WindowedValue

from connectors.batching_sink import (BatchingConfig, BatchingWrite, BatchWriteFn, SinkUnavailable,
                                      ToItemsFn, unexpected_text)
from connectors.sink_results import Written

# What the fake sink wrote, per run (the DoFns are pickled copies in this process).
_WRITES: dict[str, list] = {}
_LOCK = threading.Lock()


class Item(NamedTuple):
  target: str
  key: str
  source: str
  record: Any
  version: Optional[int] = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class FakeConfig(BatchingConfig):
  run: str = 'default'
  mode: str = 'ok'            # ok | boom (a bug in write_batch) | down (never reachable)


class _FakeWriteFn(BatchWriteFn):
  SINK = 'fake'
  STAGE = 'sink_fake'
  UNIT = 'items'

  def open(self):
    pass

  def close(self):
    pass

  def is_transient(self, error):
    return isinstance(error, ConnectionError)

  def write_batch(self, target, items):
    if self._config.mode == 'boom':
      raise KeyError('rahim@example.com')
    if self._config.mode == 'down':
      def refused(pending):
        raise ConnectionError('refused')
      self.retrying(target, refused, items)
    with _LOCK:
      _WRITES.setdefault(self._config.run, []).append(
          (target, [(i.key, i.record) for i in items]))
    return {i.key: ('Refused', 'by the fake') for i in items if i.key.startswith('bad')}


def _to_items(record):
  if record == 'junk':
    raise TypeError('not a record')
  if record == 'bug':
    return [None.target]   # an AttributeError: the mapping's last-resort catch
  key, version = record if isinstance(record, tuple) else (record, None)
  return [Item('T', key, 'src', (key, version), version)]


class _WriteFake(BatchingWrite):
  TO_ITEMS_LABEL = 'ToItems'
  ITEMS_TAG = 'items'
  WRITE_LABEL = 'WriteBatches'

  def to_items_fn(self):
    return ToItemsFn('fake', 'sink_fake', 'items', _to_items, self._clock)

  def write_fn(self):
    return _FakeWriteFn(self._config, self._clock, sleep=lambda _: None)


def _run(config, records, expect_written, expect_failed):
  p = TestPipeline()
  result = p | beam.Create(records) | _WriteFake(config)
  assert_that(result.written | 'Keys' >> beam.Map(lambda w: (w.sink, w.target, w.key)),
              equal_to(expect_written), label='CheckWritten')
  assert_that(result.failures | 'Failed' >> beam.Map(lambda f: (f.stage, f.target, f.error_class)),
              equal_to(expect_failed), label='CheckFailed')
  outcome = p.run()
  outcome.wait_until_finish()
  return outcome


def _counter(result, name):
  return sum(c.committed for c in
             result.metrics().query(MetricsFilter().with_name(name))['counters'])


def _distribution(result, name):
  return [d.committed for d in
          result.metrics().query(MetricsFilter().with_name(name))['distributions']]


def test_batches_flushed_full_and_at_bundle_end_with_metrics():
  config = FakeConfig(run='count', batch_size=3, max_buffering_s=None)
  keys = [f'k{i}' for i in range(7)]
  result = _run(config, keys, [('fake', 'T', k) for k in keys], [])
  sizes = sorted(len(batch) for _, batch in _WRITES['count'])
  assert sizes == [1, 3, 3]
  assert _counter(result, 'num_fake_items_written') == 7
  assert _counter(result, 'num_fake_batches') == 3
  assert _counter(result, 'num_fake_flushed_full') == 2
  assert _counter(result, 'num_fake_flushed_at_bundle_end') == 1
  [size] = _distribution(result, 'fake_batch_size')
  assert (size.count, size.sum, size.min, size.max) == (3, 7, 1, 3)
  assert _distribution(result, 'fake_batch_latency_ms')[0].count == 3


def test_copies_of_a_key_are_written_once_newest_version_wins():
  config = FakeConfig(run='versions', batch_size=100)
  records = [('a', 2), ('a', 1), ('b', None), ('b', None), ('c', 1), ('c', 3)]
  _run(config, records, [('fake', 'T', k) for k in 'abc'], [])
  [(_, batch)] = _WRITES['versions']
  assert batch == [('a', ('a', 2)), ('b', ('b', None)), ('c', ('c', 3))]


def test_refused_unmappable_and_unexpected_become_failures_never_a_failed_bundle():
  result = _run(FakeConfig(run='failures'), ['ok1', 'bad1', 'junk', 'bug'],
                [('fake', 'T', 'ok1')],
                [('sink_fake', 'T', 'Refused'), ('sink_fake', 'str', 'TypeError'),
                 ('sink_fake', 'str', 'AttributeError')])
  assert _counter(result, 'num_fake_items_failed') == 1
  assert _counter(result, 'num_fake_items_unmappable') == 1
  assert _counter(result, 'num_unexpected_fake') == 1


def test_a_bug_in_a_batch_write_dead_letters_the_batch_with_its_class_and_no_values():
  p = TestPipeline()
  result = p | beam.Create(['x', 'y']) | _WriteFake(FakeConfig(run='boom', mode='boom'))
  assert_that(result.failures | beam.Map(lambda f: (f.error_class, 'rahim' in f.error_message,
                                                     f.error_message.startswith('unexpected KeyError'))),
              equal_to([('KeyError', False, True)] * 2))
  outcome = p.run()
  outcome.wait_until_finish()
  assert _counter(outcome, 'num_unexpected_fake') == 2


def test_an_outage_longer_than_the_retries_fails_the_bundle():
  with pytest.raises(Exception, match='failed after 3 retries'):
    _run(FakeConfig(run='down', mode='down', max_retries=3), ['x'], [], [])


def test_partial_batch_is_written_by_time_while_the_bundle_is_still_open():
  # A slow stream: one item, then nothing. It must reach the sink within max_buffering_s,
  # not when the runner happens to end the bundle; its output follows at the bundle's end.
  config = FakeConfig(run='timer', batch_size=100, max_buffering_s=0.2)
  fn = _FakeWriteFn(config)
  window = IntervalWindow(0, 60)
  fn.setup()
  try:
    fn.start_bundle()
    assert list(fn.process(Item('T', 'k1', 'src', 'r'), window)) == []
    deadline = time.monotonic() + 5
    while not _WRITES.get('timer') and time.monotonic() < deadline:
      time.sleep(0.02)
    assert _WRITES.get('timer') == [('T', [('k1', 'r')])], 'not flushed by time'
    outputs = list(fn.finish_bundle())
  finally:
    fn.teardown()
  assert outputs == [WindowedValue(Written('fake', 'T', 'k1', 'src'), window.max_timestamp(),
                                   [window])]


def test_outputs_return_to_the_input_windows():
  p = TestPipeline()
  stamped = (p | beam.Create([('a', 5), ('b', 70)])
             | beam.Map(lambda kv: TimestampedValue(kv[0], kv[1]))
             | beam.WindowInto(beam.window.FixedWindows(100)))
  result = stamped | _WriteFake(FakeConfig(run='windows', window_s=30.0))
  assert_that(result.written | beam.Map(lambda w, win=beam.DoFn.WindowParam: (w.key, win.start)),
              equal_to([('a', 0), ('b', 0)]))
  p.run().wait_until_finish()


def test_unexpected_text_names_class_and_place_not_message():
  try:
    {}['01712345678']
  except KeyError as e:
    text = unexpected_text(e)
  assert text.startswith('unexpected KeyError at unit/test_batching_sink.py:')
  assert '01712345678' not in text


def test_config_checks_every_batching_field():
  with pytest.raises(ValueError, match='must be positive'):
    FakeConfig(batch_size=0)
  with pytest.raises(ValueError, match='must be positive'):
    FakeConfig(max_buffering_s=0)
  with pytest.raises(ValueError, match='retries'):
    FakeConfig(retry_base_s=2.0, retry_cap_s=1.0)
  assert FakeConfig().max_buffering_s <= 2.0   # issue 11: rows reach the sinks within 2 s

