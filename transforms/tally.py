"""Beam counters counted as plain integers while a bundle runs, added to the counters at its end.

A Beam counter update looks up the current metrics container each time (about half a
microsecond, measured on the record path, where a record updates five or six); an integer
addition costs a tenth of that. The counts reach the same counters once a bundle, from
finish_bundle(), as LatencyHistogram does for its buckets: a failed bundle's counts are dropped
with it, as the runner drops its attempted metrics. The first flush of a DoFn instance adds 0
to the counters it did not count, so that every counter is a series (a rate of 0 on a dashboard,
not "no data") from the first bundle on.
"""
from __future__ import annotations

from typing import Iterable

from apache_beam.metrics import Metrics

from transforms.metrics import NAMESPACE


class CounterTally:
  """counts[name] += n while processing; flush() adds them to the Beam counters of the same
  names (in NAMESPACE). Not thread-safe: one per DoFn instance, as DoFns are."""
  __slots__ = ('_counters', 'counts', '_flushed')

  def __init__(self, names: Iterable[str]):
    names = tuple(names)
    self._counters = {name: Metrics.counter(NAMESPACE, name) for name in names}
    self.counts = dict.fromkeys(names, 0)
    self._flushed = False

  def flush(self) -> None:
    counts, every = self.counts, not self._flushed
    for name, n in counts.items():
      if n or every:
        self._counters[name].inc(n)
        counts[name] = 0
    self._flushed = True
