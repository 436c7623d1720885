"""ValidateRecords: raw Kafka messages → typed source records, or dead letters."""
from __future__ import annotations

import datetime
from typing import Any, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from pydantic import BaseModel, TypeAdapter, ValidationError

from schemas.envelope import RawRecord
from schemas.normalized import DeadLetter
from schemas.sources import (DEFAULT_SOURCE_SCHEMA_VERSION, KNOWN_SOURCE_SCHEMA_VERSIONS,
                             SOURCE_MODELS)
from schemas.types import FlexDatetime
from transforms.config import ValidationConfig
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG, DeadLetterFactory
from transforms.metrics import NAMESPACE

STAGE = 'validate'
# Sources whose messages are records (the context sources feed side inputs, not this stage).
RECORD_SOURCES = ('tiktok', 'facebook', 'shopify', 'daraz')


class UnknownSchemaVersion(ValueError):
  """The `schema_version` header names a version this code does not know."""


class UnknownSource(ValueError):
  """The record's source has no model (or is a context source)."""


class EmptyPayload(ValueError):
  """The Kafka message has no value."""


class PayloadTooLarge(ValueError):
  """The message value is larger than ValidationConfig.max_payload_bytes."""


class ValidRecord(NamedTuple):
  """A message that passed validation: its source model plus where it came from."""
  raw: RawRecord
  model: BaseModel
  schema_version: str
  fetched_at: Optional[datetime.datetime]


class ValidateResult(NamedTuple):
  valid: beam.PCollection        # of ValidRecord
  dead_letters: beam.PCollection  # of DeadLetter


_FLEX_DT = TypeAdapter(FlexDatetime)


def _fetched_at(text: Optional[str]) -> Optional[datetime.datetime]:
  if text is None:
    return None
  try:
    return _FLEX_DT.validate_python(text)
  except ValidationError:
    return None  # a bad fetched_at header is not worth a dead letter: lineage only


def parse_raw(raw: RawRecord, max_payload_bytes: int) -> ValidRecord:
  """Parses one message or raises (ValidationError, UnknownSchemaVersion, ...)."""
  source = raw.source
  if source not in RECORD_SOURCES:
    raise UnknownSource(f'no record model for source {str(source)[:40]!r}; '
                        f'expected one of {", ".join(RECORD_SOURCES)}')
  version = raw.header('schema_version')
  if version is None:
    version = DEFAULT_SOURCE_SCHEMA_VERSION
  elif version.strip() not in KNOWN_SOURCE_SCHEMA_VERSIONS:
    raise UnknownSchemaVersion(
        f'schema_version header {version[:20]!r} is not known to this pipeline '
        f'(known: {", ".join(sorted(KNOWN_SOURCE_SCHEMA_VERSIONS))}); deploy a version that '
        'reads it, then replay this dead letter')
  value = raw.value
  if value is None or len(value) == 0:
    raise EmptyPayload('Kafka message has no value')
  if isinstance(value, str):
    value = value.encode('utf-8', errors='surrogatepass')
  if len(value) > max_payload_bytes:
    # Thousands separators: a bare 7-digit size would read as a phone number to the redaction.
    raise PayloadTooLarge(f'value is {len(value):,} bytes; the limit is {max_payload_bytes:,}')
  model = SOURCE_MODELS[source].model_validate_json(value)
  return ValidRecord(raw, model, version.strip(), _fetched_at(raw.header('fetched_at')))


class _ValidateFn(beam.DoFn):

  def __init__(self, config: ValidationConfig):
    self._config = config
    self._num_valid = Metrics.counter(NAMESPACE, 'num_valid')
    self._num_invalid = Metrics.counter(NAMESPACE, 'num_invalid')
    self._num_unexpected = Metrics.counter(NAMESPACE, f'num_unexpected_{STAGE}')
    self._num_invalid_by_class = {}

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._config.dead_letter)

  def process(self, raw: RawRecord):
    try:
      record = parse_raw(raw, self._config.max_payload_bytes)
    except (ValidationError, UnknownSchemaVersion, UnknownSource, EmptyPayload,
            PayloadTooLarge) as e:
      yield self._dead_letter(raw, e)
      return
    except (TypeError, AttributeError, ValueError, UnicodeError, RecursionError) as e:
      # A malformed RawRecord (wrong types from a misbehaving reader) must not crash the worker.
      yield self._dead_letter(raw, e)
      return
    except Exception as e:  # pylint: disable=broad-except
      # The deliberate last resort (STYLE rule 16): whatever else one record raises becomes its
      # counted dead letter, never a failed bundle (which would replay the same record forever).
      # Nothing of the record is logged; the dead letter keeps it encrypted.
      self._num_unexpected.inc()
      yield self._dead_letter(raw, e)
      return
    self._num_valid.inc()
    yield record

  def _dead_letter(self, raw: Any, error: BaseException):
    self._num_invalid.inc()
    name = type(error).__name__
    counter = self._num_invalid_by_class.get(name)
    if counter is None:
      counter = self._num_invalid_by_class[name] = Metrics.counter(NAMESPACE, f'num_invalid_{name}')
    counter.inc()
    return beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, self._dead_letters.from_raw(STAGE, raw, error))


class ValidateRecords(beam.PTransform):
  """PCollection[RawRecord] → ValidateResult(valid: ValidRecord, dead_letters: DeadLetter).

  Every message ends in exactly one of the two outputs; none can crash the worker. Counted as
  num_valid / num_invalid (and num_invalid_<ErrorClass>; num_unexpected_validate for errors
  caught only by the last-resort catch).
  """

  def __init__(self, config: ValidationConfig):
    super().__init__()
    self._config = config

  def expand(self, raw_records) -> ValidateResult:
    outputs = raw_records | 'ParseAndValidate' >> beam.ParDo(_ValidateFn(self._config)).with_outputs(
        DEAD_LETTER_TAG, main=VALID_TAG)
    return ValidateResult(outputs[VALID_TAG], outputs[DEAD_LETTER_TAG])
