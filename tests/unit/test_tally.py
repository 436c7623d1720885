"""CounterTally: counts reach the Beam counters once per bundle, and every counter it holds is a
series from the first bundle on, at 0 when nothing was counted (dashboards read a rate of 0)."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from transforms.metrics import NAMESPACE
from transforms.tally import CounterTally


class _CountEvens(beam.DoFn):
  def __init__(self):
    self._tally = CounterTally(('test_tally_even', 'test_tally_never'))

  def process(self, n):
    if n % 2 == 0:
      self._tally.counts['test_tally_even'] += 1
    yield n

  def finish_bundle(self):
    self._tally.flush()


def test_counts_reach_the_counters_and_uncounted_names_read_zero():
  pipeline = TestPipeline()
  out = pipeline | beam.Create(range(10)) | beam.ParDo(_CountEvens())
  assert_that(out, equal_to(list(range(10))))
  result = pipeline.run()
  result.wait_until_finish()
  counters = {c.key.metric.name: c.committed
              for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))['counters']
              if c.key.metric.name.startswith('test_tally_')}
  assert counters == {'test_tally_even': 5, 'test_tally_never': 0}


def test_flush_adds_zero_only_the_first_time():
  tally = CounterTally(('a', 'b'))
  calls = []
  tally._counters = {name: type('C', (), {'inc': lambda self, n, name=name: calls.append((name, n))})()
                     for name in ('a', 'b')}
  tally.flush()
  tally.counts['a'] += 2
  tally.flush()
  tally.flush()
  assert calls == [('a', 0), ('b', 0), ('a', 2)]
  assert tally.counts == {'a': 0, 'b': 0}
