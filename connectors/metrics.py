"""One metrics namespace for the whole graph (connectors and transforms), and latency histograms.

It lives in connectors/, the lowest layer that uses it, so that the sinks and the Kafka read
(connectors) and the stages (transforms, through transforms.metrics) count into the same names
that dashboards and tests look for.
"""
from __future__ import annotations

import bisect
from typing import Sequence

from apache_beam.metrics import Metrics

NAMESPACE = 'millionx'

# Seconds. One set for every latency histogram, so dashboards can compare them.
LATENCY_BOUNDS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def _bound_token(bound: float) -> str:
  """0.005 → '0_005', 1.0 → '1', 2.5 → '2_5': the bucket's bound in a counter name."""
  text = f'{bound:.6f}'.rstrip('0').rstrip('.')
  return text.replace('.', '_')


class LatencyHistogram:
  """A Prometheus-style latency histogram made of Beam counters.

  Beam's Flink runner hands distributions to Flink as values its Prometheus reporter cannot
  export (they read as 0), and a distribution has no percentiles anyway. Counters travel on every
  runner, so each bucket is a counter: `<name>_seconds_bucket_le_<bound>` (cumulative, as
  Prometheus' `le` buckets), `<name>_seconds_count` and `<name>_seconds_sum_ms`;
  pipeline/metrics_push.py and monitoring/prometheus.yml turn them into
  `millionx_<name>_seconds_bucket{le=...}`.

  `observe()` only adds to local tallies (a bisect and two additions); `flush()`, called once a
  bundle (finish_bundle) or per batch, adds them to the counters, so a record costs no counter
  update. Not thread-safe: one instance per DoFn instance.
  """

  def __init__(self, name: str, bounds: Sequence[float] = LATENCY_BOUNDS_S):
    if list(bounds) != sorted(set(bounds)) or not bounds:
      raise ValueError('bounds must be increasing and distinct')
    self._bounds = tuple(bounds)
    tokens = [_bound_token(b) for b in self._bounds] + ['inf']
    self._buckets = [Metrics.counter(NAMESPACE, f'{name}_seconds_bucket_le_{t}') for t in tokens]
    self._count = Metrics.counter(NAMESPACE, f'{name}_seconds_count')
    self._sum_ms = Metrics.counter(NAMESPACE, f'{name}_seconds_sum_ms')
    self._pending = [0] * len(tokens)
    self._pending_sum_ms = 0.0
    self._flushed_once = False

  def observe(self, seconds: float, count: int = 1) -> None:
    """`count` observations of `seconds` each (e.g. every text of one model call)."""
    self._pending[bisect.bisect_left(self._bounds, seconds)] += count
    self._pending_sum_ms += seconds * 1000.0 * count

  def flush(self) -> None:
    """Adds the tallies since the last flush to the counters (every bucket on the first flush,
    so each series exists from the start)."""
    total = sum(self._pending)
    if not total and self._flushed_once:
      return
    cumulative = 0
    for counter, n in zip(self._buckets, self._pending):
      cumulative += n
      counter.inc(cumulative)
    self._count.inc(total)
    self._sum_ms.inc(int(round(self._pending_sum_ms)))
    self._pending = [0] * len(self._pending)
    self._pending_sum_ms = 0.0
    self._flushed_once = True
