"""The loop every source agent shares: fetch window by window, check, publish, checkpoint.

An agent only says how to fetch a time window (pages of (key, object)) and how long a window is.
The runner validates each object against the pipeline's source contract (schemas.sources), sends
good ones to the source's raw topic and bad ones to the ingest dead-letter topic with the reason,
flushes, and only then moves the checkpoint to the window's end.
"""
from __future__ import annotations

import abc
import dataclasses
import datetime
import json
import logging
import sys
from typing import Callable, Iterator, NamedTuple, Optional, TextIO, Union

import pydantic

from agents import metrics as agent_metrics
from agents.checkpoint import CheckpointStore
from agents.redaction import redacted
from agents.topics import AgentTopics
from connectors.http import ApiClient, MalformedResponse
from connectors.kafka_publisher import (DeadLetterCodec, KafkaPublisher, dead_letter_headers,
                                        standard_headers)
from schemas.sources import SOURCE_MODELS

_LOG = logging.getLogger('agents')
Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
  return datetime.datetime.now(datetime.timezone.utc)


class Rejected(NamedTuple):
  """Something an agent fetched but cannot publish: goes to the ingest dead-letter topic."""
  key: Optional[str]
  payload: bytes
  reason: str
  error_class: str


Item = Union[tuple[Optional[str], object], Rejected]


class SourceAgent(abc.ABC):
  """What differs between sources. `window` bounds how much is re-fetched after a crash.

  Entering the agent enters its API client (session open for the duration of one pass).
  """
  source: str
  window: datetime.timedelta = datetime.timedelta(days=1)
  lag: datetime.timedelta = datetime.timedelta(minutes=1)   # let the API's indexes catch up
  windowed: bool = True

  def __init__(self, client: ApiClient):
    self.client = client

  @property
  def scope(self) -> str:
    """Tells apart checkpoints of one source (shop, page, app)."""
    return 'default'

  @abc.abstractmethod
  def fetch(self, start: datetime.datetime, end: datetime.datetime) -> Iterator[list[Item]]:
    """Pages of (native key, API object) for objects of [start, end)."""

  def __enter__(self):
    self.client.__enter__()
    return self

  def __exit__(self, *exc) -> None:
    self.client.__exit__(*exc)


def shape_error(source: str, obj: object) -> Optional[str]:
  """Why `obj` would not pass the pipeline's source contract, naming fields, never values."""
  if not isinstance(obj, dict):
    return f'not a JSON object ({type(obj).__name__})'
  try:
    SOURCE_MODELS[source].model_validate(obj)
  except pydantic.ValidationError as e:
    problems = [f'{".".join(str(p) for p in err["loc"]) or "<root>"}: {err["type"]}'
                for err in e.errors(include_input=False, include_url=False)[:5]]
    return 'shape: ' + '; '.join(problems)
  return None


class Sink(abc.ABC):
  @abc.abstractmethod
  def emit(self, source: str, key: str, obj: object) -> None: ...

  @abc.abstractmethod
  def dead_letter(self, source: str, rejected: Rejected) -> None: ...

  @abc.abstractmethod
  def commit(self) -> None:
    """Everything emitted so far is durable (raises if not)."""

  durable = True


class KafkaSink(Sink):
  """Publishes to the source topic and the ingest DLQ through one KafkaPublisher."""

  def __init__(self, publisher: KafkaPublisher, topics: AgentTopics, dlq: DeadLetterCodec,
               clock: Clock = utc_now):
    self._publisher, self._topics, self._dlq, self._clock = publisher, topics, dlq, clock

  def emit(self, source: str, key: str, obj: object) -> None:
    self._publisher.send_json(self._topics.for_source(source), key, obj,
                              standard_headers(source, self._clock()))

  def dead_letter(self, source: str, rejected: Rejected) -> None:
    now = self._clock()
    value = self._dlq.encode(source=source, intended_topic=self._topics.for_source(source),
                             key=rejected.key, reason=rejected.reason,
                             error_class=rejected.error_class, payload=rejected.payload, now=now)
    self._publisher.send(self._topics.ingest_dlq,
                         rejected.key.encode() if rejected.key is not None else None, value,
                         dead_letter_headers(source, rejected.reason, now))

  def commit(self) -> None:
    self._publisher.flush()


class DryRunSink(Sink):
  """Prints what would be published, one JSON line per record; saves no checkpoint.

  Only what the pipeline keeps in clear is printed (agents/redaction.py) unless `show_pii`:
  stdout is often a log.
  """
  durable = False

  def __init__(self, topics: AgentTopics, out: TextIO = sys.stdout, clock: Clock = utc_now,
               show_pii: bool = False):
    self._topics, self._out, self._clock = topics, out, clock
    self._show_pii = show_pii

  def emit(self, source: str, key: str, obj: object) -> None:
    headers = {k: v.decode() for k, v in standard_headers(source, self._clock())}
    value = obj if self._show_pii else redacted(obj, source)
    print(json.dumps({'topic': self._topics.for_source(source), 'key': key, 'headers': headers,
                      'value': value}, ensure_ascii=False), file=self._out)

  def dead_letter(self, source: str, rejected: Rejected) -> None:
    # The reason only: the payload may hold PII and stdout is often a log.
    print(json.dumps({'topic': self._topics.ingest_dlq, 'key': rejected.key,
                      'reason': rejected.reason, 'error_class': rejected.error_class,
                      'payload_size': len(rejected.payload)}), file=self._out)

  def commit(self) -> None:
    self._out.flush()


@dataclasses.dataclass
class RunStats:
  published: int = 0
  dead_lettered: int = 0
  pages: int = 0
  windows: int = 0
  checkpoint: Optional[datetime.datetime] = None

  def line(self) -> str:
    return (f'{self.published} published, {self.dead_lettered} dead-lettered, {self.pages} pages, '
            f'{self.windows} windows' +
            (f', checkpoint {self.checkpoint.isoformat()}' if self.checkpoint else ''))


def windows(start: datetime.datetime, end: datetime.datetime,
            size: datetime.timedelta) -> list[tuple[datetime.datetime, datetime.datetime]]:
  out = []
  while start < end:
    out.append((start, min(end, start + size)))
    start = out[-1][1]
  return out


def run_once(agent: SourceAgent, sink: Sink, store: Optional[CheckpointStore], *,
             since: Optional[datetime.datetime] = None,
             lookback: datetime.timedelta = datetime.timedelta(hours=24),
             clock: Clock = utc_now, log: logging.Logger = _LOG) -> RunStats:
  """One pass from the checkpoint (or `since`, or `lookback` ago) to now minus the agent's lag.

  A malformed API response is dead-lettered and re-raised after flushing what came before it:
  the checkpoint then stays at the last complete window.
  """
  stats = RunStats()
  now = clock()
  saved = store.load() if store is not None else None
  start = since or saved or (now - lookback)
  end = now - agent.lag
  spans = windows(start, end, agent.window) if agent.windowed else [(start, now)]
  if agent.windowed:
    log.info('%s: fetching %s .. %s in %d window(s)%s', agent.source, start.isoformat(),
             end.isoformat(), len(spans), '' if since is None else ' (--since)')
  else:
    log.info('%s: fetching current values', agent.source)
  for span_start, span_end in spans:
    try:
      for page in agent.fetch(span_start, span_end):
        agent_metrics.FETCHED.labels(agent.source).inc(len(page))
        for item in page:
          _route(agent.source, item, sink, stats)
        stats.pages += 1
        log.info('%s: window %s page %d: %d published, %d dead-lettered so far', agent.source,
                 span_start.isoformat(timespec='minutes'), stats.pages, stats.published,
                 stats.dead_lettered)
    except MalformedResponse as e:
      sink.dead_letter(agent.source, Rejected(None, e.body, str(e), type(e).__name__))
      stats.dead_lettered += 1
      agent_metrics.dead_letter(agent.source, type(e).__name__)
      sink.commit()
      log.error('%s: %s; dead-lettered, checkpoint stays at %s', agent.source, e,
                stats.checkpoint or saved)
      raise
    sink.commit()
    stats.windows += 1
    if agent.windowed and store is not None and sink.durable:
      store.save(span_end)
      stats.checkpoint = span_end
  agent_metrics.pass_succeeded(agent.source)
  log.info('%s: done: %s', agent.source, stats.line())
  return stats


def _route(source: str, item: Item, sink: Sink, stats: RunStats) -> None:
  if isinstance(item, Rejected):
    sink.dead_letter(source, item)
    stats.dead_lettered += 1
    agent_metrics.dead_letter(source, item.error_class)
    return
  key, obj = item
  reason = shape_error(source, obj) or (None if key else 'no native id')
  if reason is None:
    sink.emit(source, key, obj)
    stats.published += 1
    agent_metrics.PUBLISHED.labels(source).inc()
    return
  payload = json.dumps(obj, ensure_ascii=False).encode('utf-8')
  sink.dead_letter(source, Rejected(key or None, payload, reason, 'ShapeError'))
  stats.dead_lettered += 1
  agent_metrics.dead_letter(source, 'ShapeError')
