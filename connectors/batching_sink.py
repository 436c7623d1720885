"""The batching sink that WriteToSnowflake and WriteToWeaviate are built on.

  records ─ <to items> ─ WindowIntoBatches ─ <write batches> ─▶ written   (back in the input's windows)
                └── unmappable, unexpected ──────┴────────────▶ failures

A sink says only what differs: how a record becomes items (table rows, objects), how its client
opens and closes, which errors are transient, and how one batch is written. The skeleton owns
the rest: the config fields every batching sink has, the buffers (per target and window), when a
batch is flushed, retries with backoff, the failure output, the last-resort catch, the metrics
and the rewindowing.

When a batch is flushed: when it holds `batch_size` items, when its oldest item has waited
`max_buffering_s` (processing time), and at the end of every bundle, so a bundle is never
committed with items still buffered. The time trigger is a writer thread of the DoFn, not a Beam
timer: processing-time timers send the DirectRunner to a runner that refuses the cross-language
Kafka read, and Beam 2.73's portable runner loses the window-end timers of all but one stateful
stage of a pipeline (seen with two sinks), which would silently drop a sink's last batch. So it
works the same on the DirectRunner and on Flink, whatever their bundle sizes. The writer thread
alone uses the client (one batch being written, one waiting, one filling); outputs and metrics
are emitted from the DoFn's own thread (Beam metrics are bound to it), at the next element or at
the bundle's end.

What fails where: an item the server refuses for good is a failure (a dead letter downstream);
an item or batch that raises anything unexpected is a failure too, with its error class,
counted `num_unexpected_<sink>` (never a failed bundle); a transient error that outlasts the
retries raises SinkUnavailable and fails the bundle on purpose: an outage is not the records'
fault, and the runner retries the bundle (Flink) or the run stops without committing (Direct).
"""
from __future__ import annotations

import abc
import collections
import dataclasses
import logging
import random
import threading
import time
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import FixedWindows
from apache_beam.utils.windowed_value import WindowedValue

from connectors.errors import unexpected_text
from connectors.metrics import LatencyHistogram
from connectors.sink_results import (FAILED_TAG, METRICS_NAMESPACE, WRITTEN_TAG, Clock,
                                     SinkResult, WriteFailure, Written, error_text, scrub_values,
                                     utc_now, without_embedding)

_LOG = logging.getLogger(__name__)

# Why a batch was flushed (the suffix of its counter).
FLUSHED_FULL = 'full'
FLUSHED_BY_TIME = 'by_time'
FLUSHED_AT_BUNDLE_END = 'at_bundle_end'


@dataclasses.dataclass(frozen=True, kw_only=True)
class BatchingConfig:
  """What every batching sink is configured with; sink configs add where and how to connect."""
  window_s: float = 60.0                   # fixed windows the batches are cut in
  batch_size: int = 500                    # items per write, at most
  # A partial batch is flushed once its oldest item has waited this long (processing time);
  # None: only when full and at the end of the bundle.
  max_buffering_s: Optional[float] = 2.0
  max_retries: int = 8                     # transient errors, per batch
  retry_base_s: float = 0.5
  retry_cap_s: float = 20.0

  def __post_init__(self):
    name = type(self).__name__
    if self.batch_size < 1 or self.window_s <= 0 or (
        self.max_buffering_s is not None and self.max_buffering_s <= 0):
      raise ValueError(f'{name}: batch_size, window_s and max_buffering_s must be positive')
    if self.max_retries < 0 or self.retry_base_s <= 0 or self.retry_cap_s < self.retry_base_s:
      raise ValueError(f'{name}: retries must be >= 0 and 0 < retry_base_s <= retry_cap_s')

  def batching_display_data(self) -> dict[str, Any]:
    return {'window_s': self.window_s, 'batch_size': self.batch_size,
            'max_buffering_s': self.max_buffering_s}

  def display_data(self) -> dict[str, Any]:
    """What the runner's UI may show; sinks add where they write (never a secret)."""
    return self.batching_display_data()


class SinkUnavailable(RuntimeError):
  """Transient errors outlasted the retries: the bundle fails, and the runner retries it."""


def backoff_delays(retries: int, base_s: float, cap_s: float,
                   rng: Optional[random.Random] = None) -> Iterator[float]:
  """Exponential backoff with equal jitter: delay i is in [d/2, d], d = min(cap, base * 2^i).

  Half of each delay is fixed so that the retries together outlast a short outage (a
  server restart), the other half random so that workers do not retry in lockstep.
  """
  rng = rng or random.Random()
  for attempt in range(retries):
    delay = min(cap_s, base_s * (2 ** attempt))
    yield delay / 2 + rng.uniform(0, delay / 2)


def close_quietly(client) -> None:
  """Closes a sink's client; a client whose server is gone may refuse a clean close, and it
  is dropped either way."""
  if client is None:
    return
  try:
    client.close()
  except Exception:  # Deliberately ignored: see the docstring.
    pass


def failure(stage: str, target: str, record: Any, error_class: str, message: str,
            now) -> WriteFailure:
  return WriteFailure(stage, target, without_embedding(record), error_class, message, now)


def sink_result(records, mapping_failures, batched) -> SinkResult:
  """The write transforms' tail: the batch DoFn's outputs (cut in fixed windows) go back to the
  input's windowing, so the graph can flatten them with its own; mapping failures join them."""
  windowfn = records.windowing.windowfn
  batch_failures = batched[FAILED_TAG] | 'RewindowFailures' >> beam.WindowInto(windowfn)
  failures = (mapping_failures, batch_failures) | 'FlattenFailures' >> beam.Flatten()
  written = batched[WRITTEN_TAG] | 'RewindowWritten' >> beam.WindowInto(windowfn)
  return SinkResult(written=written, failures=failures)


# ---- records → items ----------------------------------------------------------------------

class ToItemsFn(beam.DoFn):
  """A record → its items (`to_items(record)`, an iterable); one that cannot be mapped, or whose
  mapping raises anything else (the last-resort catch), → failures.

  Items are NamedTuples with `target` (table or collection), `key`, `source`, `record` and
  `version` (None, or what orders copies of one key: the newest is written).
  """

  def __init__(self, sink: str, stage: str, unit: str, to_items: Callable[[Any], Iterable],
               clock: Clock = utc_now):
    self._sink, self._stage, self._unit = sink, stage, unit
    self._to_items = to_items
    self._clock = clock

  def setup(self):
    self._unmappable = Metrics.counter(METRICS_NAMESPACE, f'num_{self._sink}_{self._unit}_unmappable')
    self._unexpected = Metrics.counter(METRICS_NAMESPACE, f'num_unexpected_{self._sink}')

  def process(self, record):
    try:
      items = list(self._to_items(record))
    except (TypeError, ValueError) as e:   # the documented "cannot map this record"
      self._unmappable.inc()
      yield beam.pvalue.TaggedOutput(FAILED_TAG, failure(
          self._stage, type(record).__name__, record, type(e).__name__,
          scrub_values(error_text(e)), self._clock()))
      return
    except Exception as e:  # Deliberate last resort: one record's surprise is a dead letter.
      self._unexpected.inc()
      _LOG.warning('%s sink: %s mapping a %s', self._sink, unexpected_text(e),
                   type(record).__name__)
      yield beam.pvalue.TaggedOutput(FAILED_TAG, failure(
          self._stage, type(record).__name__, record, type(e).__name__, unexpected_text(e),
          self._clock()))
      return
    yield from items


# ---- the write DoFn -----------------------------------------------------------------------

@dataclasses.dataclass
class Buffer:
  """Items of one target and window waiting in a write DoFn, and when the first arrived."""
  started: float
  items: list


class _Batch(NamedTuple):
  target: str
  window: Any
  items: list
  started: float       # monotonic time its first item arrived
  reason: str          # FLUSHED_*


class _Outcome(NamedTuple):
  """What writing one batch did; made on the writer thread, emitted on the DoFn's."""
  batch: _Batch
  items: list                 # unique keys, the newest copy of each
  failed: dict                # key -> (error_class, message)
  unexpected: bool
  error: Optional[BaseException]   # SinkUnavailable: re-raised on the DoFn's thread
  retries: int
  latency_ms: int
  wait_ms: int


def _newest_per_key(items: list) -> list:
  """One item per key (a MERGE needs unique keys), in first-seen order: the newest version, or
  the last copy when versions are equal or unknown (as the server would keep it)."""
  unique: dict = {}
  for item in items:
    held = unique.get(item.key)
    if held is None or not (item.version is not None and held.version is not None
                            and item.version < held.version):
      unique[item.key] = item
  return list(unique.values())


class BatchWriteFn(beam.DoFn, abc.ABC):
  """Buffers items per target and window; a writer thread writes the batches with retries.

  Subclasses set SINK ('snowflake'), STAGE ('sink_snowflake') and UNIT ('rows'), and implement
  open/close/is_transient/write_batch. write_batch runs on the writer thread and uses
  `retrying()` for each call to the server.
  """
  SINK: str
  STAGE: str
  UNIT: str

  def __init__(self, config: BatchingConfig, clock: Clock = utc_now, sleep=time.sleep):
    self._config = config
    self._clock = clock
    self._sleep = sleep
    self._writer: Optional[threading.Thread] = None

  # -- what a sink fills in --

  @abc.abstractmethod
  def open(self) -> None:
    """Connects the client (setup, and before a write after close)."""

  @abc.abstractmethod
  def close(self) -> None:
    """Drops the client; must not raise (a dead server may refuse a clean close)."""

  @abc.abstractmethod
  def is_transient(self, error: BaseException) -> bool:
    """True when retrying on a fresh client may succeed."""

  @abc.abstractmethod
  def write_batch(self, target: str, items: list) -> dict:
    """Writes items with unique keys; returns {key: (error_class, message)} of those refused
    for good. Transient errors: call the server through `retrying()`."""

  # -- life cycle --

  def display_data(self):
    return self._config.display_data()

  def setup(self):
    sink, unit = self.SINK, self.UNIT
    counter = lambda name: Metrics.counter(METRICS_NAMESPACE, name)  # noqa: E731
    self._written = counter(f'num_{sink}_{unit}_written')
    self._failed = counter(f'num_{sink}_{unit}_failed')
    self._unexpected = counter(f'num_unexpected_{sink}')
    self._retries = counter(f'num_{sink}_retries')
    self._batches = counter(f'num_{sink}_batches')
    self._flushed = {reason: counter(f'num_{sink}_flushed_{reason}')
                     for reason in (FLUSHED_FULL, FLUSHED_BY_TIME, FLUSHED_AT_BUNDLE_END)}
    self._batch_size = Metrics.distribution(METRICS_NAMESPACE, f'{sink}_batch_size')
    self._latency = Metrics.distribution(METRICS_NAMESPACE, f'{sink}_batch_latency_ms')
    self._wait = Metrics.distribution(METRICS_NAMESPACE, f'{sink}_batch_wait_ms')
    # The same latency as Beam counters per bucket: Flink's Prometheus reporter exports
    # distributions as 0 (see connectors/metrics.py), so dashboards read this one.
    self._latency_histogram = LatencyHistogram(f'{sink}_batch_latency')
    self._cond = threading.Condition()
    self._buffers: dict[tuple[str, Any], Buffer] = {}
    self._ready: collections.deque = collections.deque()
    self._done: collections.deque = collections.deque()
    self._writing = False
    self._stopped = False
    self._attempt_retries = 0
    try:
      self.open()
    except Exception as e:  # Unreachable now: the first write reconnects, with retries.
      if not self.is_transient(e):
        raise
      _LOG.warning('%s unreachable at setup (%s); will connect on the first write',
                   self.SINK, type(e).__name__)
    self._writer = threading.Thread(target=self._write_loop, name=f'{sink}-writer', daemon=True)
    self._writer.start()

  def teardown(self):
    if self._writer is not None:
      with self._cond:
        self._stopped = True
        self._cond.notify_all()
      self._writer.join(timeout=600)
      self._writer = None
    self.close()

  def start_bundle(self):
    # Failure and retry series exist from the first bundle on (a rate of 0, not a missing series).
    for counter in (self._failed, self._unexpected, self._retries):
      counter.inc(0)
    with self._cond:
      # What a failed bundle left behind is not this bundle's: it is retried from its input.
      self._ready.clear()
      while self._writing:
        self._cond.wait()
      self._done.clear()
      self._buffers = {}

  def process(self, item, window=beam.DoFn.WindowParam):
    config = self._config
    with self._cond:
      key = (item.target, window)
      buffer = self._buffers.get(key)
      if buffer is None:
        buffer = self._buffers[key] = Buffer(time.monotonic(), [])
        self._cond.notify_all()   # the writer thread times this buffer's flush
      buffer.items.append(item)
      if len(buffer.items) >= config.batch_size:
        del self._buffers[key]
        self._ready.append(_Batch(item.target, window, buffer.items, buffer.started, FLUSHED_FULL))
        self._cond.notify_all()
        while len(self._ready) > 1:   # back-pressure: one batch written, one waiting, one filling
          self._cond.wait()
      done = self._take_done()
    yield from self._emit(done)

  def finish_bundle(self):
    with self._cond:
      for (target, window), buffer in self._buffers.items():
        self._ready.append(_Batch(target, window, buffer.items, buffer.started,
                                  FLUSHED_AT_BUNDLE_END))
      self._buffers = {}
      self._cond.notify_all()
      while self._ready or self._writing:
        self._cond.wait()
      done = self._take_done()
    yield from self._emit(done)
    self._latency_histogram.flush()

  # -- the DoFn's thread: outputs and metrics --

  def _take_done(self) -> list:
    done = list(self._done)
    self._done.clear()
    return done

  def _emit(self, done: list):
    for outcome in done:
      batch = outcome.batch
      if outcome.error is not None:
        raise outcome.error
      self._batches.inc()
      self._flushed[batch.reason].inc()
      self._batch_size.update(len(outcome.items))
      self._latency.update(outcome.latency_ms)
      self._latency_histogram.observe(outcome.latency_ms / 1000.0)
      self._wait.update(outcome.wait_ms)
      self._retries.inc(outcome.retries)
      self._written.inc(len(outcome.items) - len(outcome.failed))
      self._failed.inc(len(outcome.failed))
      if outcome.unexpected:
        self._unexpected.inc(len(outcome.failed))
      window = batch.window
      now = self._clock() if outcome.failed else None
      for item in outcome.items:
        reason = outcome.failed.get(item.key)
        if reason is None:
          yield WindowedValue(Written(self.SINK, batch.target, item.key, item.source),
                              window.max_timestamp(), [window])
        else:
          yield beam.pvalue.TaggedOutput(FAILED_TAG, WindowedValue(
              failure(self.STAGE, batch.target, item.record, reason[0], reason[1], now),
              window.max_timestamp(), [window]))

  # -- the writer thread --

  def _write_loop(self) -> None:
    while True:
      with self._cond:
        while not self._ready:
          if self._stopped:
            return
          timeout = self._flush_aged()
          if not self._ready:
            self._cond.wait(timeout)
        batch = self._ready.popleft()
        self._writing = True
        self._cond.notify_all()
      try:
        outcome = self._write(batch)
      except BaseException as e:  # Never leave the DoFn's thread waiting: it re-raises this.
        outcome = _Outcome(batch, [], {}, False, e, 0, 0, 0)
      with self._cond:
        self._writing = False
        self._done.append(outcome)
        self._cond.notify_all()

  def _flush_aged(self) -> Optional[float]:
    """Moves buffers whose oldest item waited max_buffering_s to the ready queue (under the
    lock); returns the seconds until the next one is due, None when nothing is due."""
    limit = self._config.max_buffering_s
    if limit is None or not self._buffers:
      return None
    now = time.monotonic()
    next_due = None
    for key, buffer in list(self._buffers.items()):
      due = buffer.started + limit
      if due <= now:
        del self._buffers[key]
        self._ready.append(_Batch(key[0], key[1], buffer.items, buffer.started, FLUSHED_BY_TIME))
      elif next_due is None or due < next_due:
        next_due = due
    return None if next_due is None else next_due - now

  def _write(self, batch: _Batch) -> _Outcome:
    items = _newest_per_key(batch.items)
    start = time.monotonic()
    self._attempt_retries = 0
    failed, unexpected, error = {}, False, None
    try:
      failed = self.write_batch(batch.target, items)
    except SinkUnavailable as e:
      error = e
    except Exception as e:  # Deliberate last resort: a batch's surprise becomes dead letters.
      text = unexpected_text(e)
      _LOG.warning('%s sink: %s writing %d %s to %s', self.SINK, text, len(items), self.UNIT,
                   batch.target)
      failed, unexpected = {item.key: (type(e).__name__, text) for item in items}, True
    done = time.monotonic()
    return _Outcome(batch, items, failed, unexpected, error, self._attempt_retries,
                    int((done - start) * 1000), int((start - batch.started) * 1000))

  def retrying(self, target: str, attempt: Callable[[list], Optional[list]], items: list) -> None:
    """Calls `attempt(pending)` until it returns nothing left to retry; on a transient error
    (raised, or items returned) closes the client and retries after a backoff delay. Raises
    what is not transient, and SinkUnavailable once the retries are spent."""
    config = self._config
    delays = backoff_delays(config.max_retries, config.retry_base_s, config.retry_cap_s)
    pending = items
    while True:
      try:
        pending = attempt(pending) or []
        if not pending:
          return
        reason = f'{len(pending)} {self.UNIT} met transient errors'
      except Exception as e:  # Transient: retried below; anything else is raised.
        if not self.is_transient(e):
          raise
        reason = f'{type(e).__name__}: {scrub_values(error_text(e))[:200]}'
        self.close()
      delay = next(delays, None)
      if delay is None:
        raise SinkUnavailable(f'{self.SINK} write to {target} failed after '
                              f'{config.max_retries} retries: {reason}')
      self._attempt_retries += 1
      _LOG.warning('%s write to %s: %s; retry in %.1f s', self.SINK, target, reason, delay)
      self._sleep(delay)


# ---- the write transform ------------------------------------------------------------------

class BatchingWrite(beam.PTransform, abc.ABC):
  """records → SinkResult(written, failures): map, window, write in batches, rewindow.

  Subclasses name the two steps (constant labels: Flink matches steps by name) and give the
  two DoFns.
  """
  TO_ITEMS_LABEL: str
  ITEMS_TAG: str
  WRITE_LABEL: str

  def __init__(self, config: BatchingConfig, clock: Clock = utc_now):
    super().__init__()
    self._config = config
    self._clock = clock

  def display_data(self):
    return self._config.display_data()

  @abc.abstractmethod
  def to_items_fn(self) -> ToItemsFn: ...

  @abc.abstractmethod
  def write_fn(self) -> BatchWriteFn: ...

  def expand(self, records) -> SinkResult:
    mapped = records | self.TO_ITEMS_LABEL >> beam.ParDo(
        self.to_items_fn()).with_outputs(FAILED_TAG, main=self.ITEMS_TAG)
    batched = (
        mapped[self.ITEMS_TAG]
        | 'WindowIntoBatches' >> beam.WindowInto(FixedWindows(self._config.window_s))
        | self.WRITE_LABEL >> beam.ParDo(self.write_fn()).with_outputs(
            FAILED_TAG, main=WRITTEN_TAG))
    return sink_result(records, mapped[FAILED_TAG], batched)
