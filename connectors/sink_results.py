"""What the Snowflake and Weaviate write transforms emit: what they wrote, and what they could not.

A sink cannot build a `schemas.normalized.DeadLetter` itself: the dead letter's payload is
sealed with the DLQ key by `transforms.dead_letter.DeadLetterFactory`, and `connectors/`
never imports `transforms/`. So a permanently failed write comes out as a `WriteFailure`
carrying the record and the error (class and message only, never values); the graph turns
it into a dead letter with `DeadLetterFactory.from_record(failure.stage, failure.record,
failure.as_exception())`.
"""
from __future__ import annotations

import dataclasses
import datetime
import re
from typing import Any, Callable, NamedTuple

import apache_beam as beam

from connectors.metrics import NAMESPACE as METRICS_NAMESPACE

# Tags of the write DoFns' two outputs.
WRITTEN_TAG = 'written'
FAILED_TAG = 'failed'

_MAX_MESSAGE_CHARS = 1000


class Written(NamedTuple):
  """One record now held by a sink: the table or collection, and the record's key."""
  sink: str            # 'snowflake' | 'weaviate'
  target: str          # table or collection name
  key: str             # event_id (dead_letter_id for the dead-letters table)
  source: str          # the record's source, for per-source reconciliation


class WriteFailure(NamedTuple):
  """A record a sink gave up on: a permanent error (or an unmappable record).

  `record` is the element as the sink received it, minus its embedding (the vector is
  not needed to replay it and would only weigh on the DLQ).
  """
  stage: str           # 'sink_snowflake' | 'sink_weaviate': DeadLetter.stage
  target: str
  record: Any
  error_class: str
  error_message: str
  failed_at: datetime.datetime

  def as_exception(self) -> 'SinkWriteError':
    return SinkWriteError(self.error_class, self.error_message)


class SinkWriteError(Exception):
  """A failed write re-raised as an exception for `DeadLetterFactory.from_record`.

  Its message names the original error class first, since the factory records the class
  of the exception it is given (this one).
  """

  def __init__(self, error_class: str, error_message: str):
    super().__init__(f'{error_class}: {error_message}')
    self.error_class = error_class


class SinkResult(NamedTuple):
  """The two outputs of `WriteToSnowflake` and `WriteToWeaviate`."""
  written: beam.PCollection        # of Written
  failures: beam.PCollection       # of WriteFailure


def error_text(error: BaseException) -> str:
  """The error's message, bounded. Drivers' messages name columns and SQL states, not values."""
  return str(error).replace('\n', ' ')[:_MAX_MESSAGE_CHARS]


_DOUBLE_QUOTED = re.compile(r'"[^"]*"')
_SINGLE_QUOTED = re.compile(r"'[^']*'")
_GIVEN_VALUE = re.compile(r"(value(?: is)?:? )'[^']*'")


def scrub_values(text: str, single_quotes: bool = True) -> str:
  """The message without the quoted literals drivers echo from the data.

  Snowflake's data errors quote the offending value ("Numeric value 'x' is not recognized";
  the emulator: 'Could not convert string "x"'); Weaviate's say "the given value is 'x'".
  Records are pseudonymized by now, but a dead letter's message is not encrypted, so no
  value goes into it. `single_quotes=False` keeps single-quoted names (Weaviate quotes
  property and class names) and scrubs only the given value.
  """
  text = _DOUBLE_QUOTED.sub('"…"', text)
  if single_quotes:
    return _SINGLE_QUOTED.sub("'…'", text)
  return _GIVEN_VALUE.sub(r"\1'…'", text)


def without_embedding(record: Any) -> Any:
  """The record without its vector (normalized records are frozen dataclasses)."""
  if getattr(record, 'embedding', None) is None:
    return record
  return dataclasses.replace(record, embedding=None)


def utc_now() -> datetime.datetime:
  return datetime.datetime.now(datetime.timezone.utc)


Clock = Callable[[], datetime.datetime]
