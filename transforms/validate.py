"""ValidateRecords: raw Kafka messages → typed source records, or dead letters."""
from __future__ import annotations

import datetime
from typing import Any, Iterator, NamedTuple, Optional, Union

import apache_beam as beam
from apache_beam.metrics import Metrics
from pydantic import BaseModel, TypeAdapter, ValidationError

from pydantic_core import from_json, to_json

from schemas.api_envelopes import MAX_ENVELOPE_RECORDS
from schemas.envelope import RawRecord
from schemas.registry import RECORD_SOURCES, SOURCE_MODELS, SOURCES
from schemas.sources import DEFAULT_SOURCE_SCHEMA_VERSION, KNOWN_SOURCE_SCHEMA_VERSIONS
from schemas.types import FlexDatetime
from transforms.config import DeadLetterConfig, ValidationConfig
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG, DeadLetterFactory
from transforms.metrics import NAMESPACE
from transforms.tally import CounterTally

STAGE = 'validate'
NUM_VALID, NUM_INVALID, NUM_UNEXPECTED = 'num_valid', 'num_invalid', f'num_unexpected_{STAGE}'
NUM_ENVELOPES, NUM_ENVELOPE_RECORDS = 'num_envelopes', 'num_envelope_records'
_COUNTERS = (NUM_VALID, NUM_INVALID, NUM_UNEXPECTED, NUM_ENVELOPES, NUM_ENVELOPE_RECORDS)


class UnknownSchemaVersion(ValueError):
  """The `schema_version` header names a version this code does not know."""


class UnknownSource(ValueError):
  """The record's source has no model (or is a context source)."""


class EmptyPayload(ValueError):
  """The Kafka message has no value."""


class PayloadTooLarge(ValueError):
  """The message value is larger than ValidationConfig.max_payload_bytes."""


class ApiErrorResponse(ValueError):
  """The message is a documented API error response (schemas/api_envelopes.py): no record."""


class EnvelopeTooLarge(ValueError):
  """The message is a documented response holding more than MAX_ENVELOPE_RECORDS records."""


class ValidRecord(NamedTuple):
  """A record that passed validation: its source model plus where it came from.

  sub_id: '' for a message that is one record; for a record unwrapped from a documented response
  envelope, its place in it ('data.orders.3'), so that its dead letters (here and in later
  stages) get ids of their own (schemas.normalized.dead_letter_id). Such a record's `raw` is the
  message with the record alone as its value (same coordinates, key and headers): a dead letter
  keeps that, replayable as the record on its own, and an envelope of N bad records costs N
  small dead letters, not N copies of the whole response.
  """
  raw: RawRecord
  model: BaseModel
  schema_version: str
  fetched_at: Optional[datetime.datetime]
  sub_id: str = ''


class InvalidSubRecord(NamedTuple):
  """A record of an envelope that failed validation (the others may pass); raw as for
  ValidRecord.raw."""
  raw: RawRecord
  sub_id: str
  error: ValidationError


class ValidateResult(NamedTuple):
  valid: beam.PCollection        # of ValidRecord
  dead_letters: beam.PCollection  # of DeadLetter


_FLEX_DT = TypeAdapter(FlexDatetime)


_FETCHED_AT_MEMO: dict = {}     # header text -> time: an agent stamps a whole fetch with one
_MEMO_ENTRIES = 4096            # bounded: cleared when full


def _fetched_at(text: Optional[str]) -> Optional[datetime.datetime]:
  if text is None:
    return None
  parsed = _FETCHED_AT_MEMO.get(text, _MISSING)
  if parsed is not _MISSING:
    return parsed
  try:
    parsed = _FLEX_DT.validate_python(text)
  except ValidationError:
    parsed = None  # a bad fetched_at header is not worth a dead letter: lineage only
  if len(_FETCHED_AT_MEMO) >= _MEMO_ENTRIES:
    _FETCHED_AT_MEMO.clear()
  if len(text) <= 64:
    _FETCHED_AT_MEMO[text] = parsed
  return parsed


_MISSING = object()


def _checked(raw: RawRecord, max_payload_bytes: int) -> tuple[type[BaseModel], str, bytes]:
  """(model, schema version, value) of a message this stage can read, or raises why not."""
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
  return SOURCE_MODELS[source], version.strip(), value


def parse_raw(raw: RawRecord, max_payload_bytes: int) -> ValidRecord:
  """Parses a message that is one record, or raises (ValidationError, UnknownSchemaVersion, ...).

  A documented response envelope fails here (it has no record id at the top): parse_message
  unwraps it."""
  model, version, value = _checked(raw, max_payload_bytes)
  return ValidRecord(raw, model.model_validate_json(value), version,
                     _fetched_at(raw.header('fetched_at')))


def parse_message(raw: RawRecord,
                  max_payload_bytes: int) -> list[Union[ValidRecord, InvalidSubRecord]]:
  """The records of one message: itself, or those of the documented response it holds.

  A message is read as one record first (the common case costs nothing more); only when that
  fails is it looked at as an envelope (schemas/api_envelopes.py). Raises what parse_raw raises
  when it is neither, ApiErrorResponse for an API error body, EnvelopeTooLarge beyond
  MAX_ENVELOPE_RECORDS. An envelope's records are validated one by one, each as the message it
  would be on its own (re-encoded by the same JSON parser), so a bad one fails alone.
  """
  model, version, value = _checked(raw, max_payload_bytes)
  try:
    return [ValidRecord(raw, model.model_validate_json(value), version,
                        _fetched_at(raw.header('fetched_at')))]
  except ValidationError as not_a_record:
    found = _envelope(raw.source, value)
    if found is None:
      raise not_a_record from None
    shape, records = found
  fetched_at = _fetched_at(raw.header('fetched_at'))
  out: list[Union[ValidRecord, InvalidSubRecord]] = []
  for path, record in _sub_records(shape, records):
    sub_id = '.'.join(str(p) for p in path)
    sub_raw = raw._replace(value=to_json(record, inf_nan_mode='constants'))
    try:
      out.append(ValidRecord(sub_raw, model.model_validate_json(sub_raw.value), version,
                             fetched_at, sub_id))
    except ValidationError as e:
      out.append(InvalidSubRecord(sub_raw, sub_id, _located(e, path)))
  return out


def _envelope(source: str, value: bytes):
  """(shape, records) of a documented response, None if `value` is not one; raises
  ApiErrorResponse / EnvelopeTooLarge. The value was size-checked; the parser is pydantic's
  own (as for a record: same numbers, same duplicate keys, NaN read and refused later)."""
  envelope = SOURCES[source].envelope
  if envelope is None:
    return None
  try:
    body = from_json(value, allow_inf_nan=True)
  except ValueError:
    return None                       # not JSON: the record's own error says so
  if not isinstance(body, dict):
    return None
  error = envelope.api_error(body)
  if error is not None:
    raise ApiErrorResponse(error)
  found = envelope.records_at(body)
  if found is None:
    return None
  shape, records = found
  if shape.many and len(records) > MAX_ENVELOPE_RECORDS:
    raise EnvelopeTooLarge(f'{shape.response} response: {shape.label} holds {len(records):,} '
                           f'records; at most {MAX_ENVELOPE_RECORDS:,} per message')
  return found


def _sub_records(shape, records) -> Iterator[tuple[tuple, Any]]:
  if shape.many:
    for i, record in enumerate(records):
      yield shape.path + (i,), record
  else:
    yield shape.path, records


def _located(error: ValidationError, path: tuple) -> ValidationError:
  """The same errors, located from the top of the message ('data.orders.3.price')."""
  try:
    return ValidationError.from_exception_data(
        error.title, [dict(item, loc=path + tuple(item['loc']))
                      for item in error.errors(include_url=False)])
  except (TypeError, ValueError, KeyError):
    return error               # an error type pydantic cannot rebuild: its own location then


class _ValidateFn(beam.DoFn):

  def __init__(self, config: ValidationConfig, dead_letter: DeadLetterConfig):
    self._dead_letter_config = dead_letter
    self._max_payload_bytes = config.payload_limit(dead_letter)
    self._tally = CounterTally(_COUNTERS)
    self._counts = self._tally.counts
    self._num_invalid_by_class = {}

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._dead_letter_config)

  def finish_bundle(self):
    self._tally.flush()

  def process(self, raw: RawRecord):
    try:
      records = parse_message(raw, self._max_payload_bytes)
    except (ValidationError, UnknownSchemaVersion, UnknownSource, EmptyPayload,
            PayloadTooLarge, ApiErrorResponse, EnvelopeTooLarge) as e:
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
      self._counts[NUM_UNEXPECTED] += 1
      yield self._dead_letter(raw, e)
      return
    if len(records) != 1 or records[0].sub_id:
      self._counts[NUM_ENVELOPES] += 1
      self._counts[NUM_ENVELOPE_RECORDS] += len(records)
    for record in records:
      if isinstance(record, InvalidSubRecord):
        yield self._dead_letter(record.raw, record.error, record.sub_id)
      else:
        self._counts[NUM_VALID] += 1
        yield record

  def _dead_letter(self, raw: Any, error: BaseException, sub_id: str = ''):
    self._counts[NUM_INVALID] += 1
    name = type(error).__name__
    counter = self._num_invalid_by_class.get(name)
    if counter is None:
      counter = self._num_invalid_by_class[name] = Metrics.counter(NAMESPACE, f'num_invalid_{name}')
    counter.inc()
    return beam.pvalue.TaggedOutput(DEAD_LETTER_TAG,
                                    self._dead_letters.from_raw(STAGE, raw, error, sub_id=sub_id))


class ValidateRecords(beam.PTransform):
  """PCollection[RawRecord] → ValidateResult(valid: ValidRecord, dead_letters: DeadLetter).

  A message is one record, or a documented API response holding several (schemas/
  api_envelopes.py: each of its records ends valid or as a dead letter of its own, an API error
  body as one dead letter, an empty page as nothing). Every record ends in exactly one of the
  two outputs; none can crash the worker. Counted as num_valid / num_invalid (and
  num_invalid_<ErrorClass>; num_unexpected_validate for errors caught only by the last-resort
  catch); envelopes as num_envelopes and the records they held as num_envelope_records, so
  messages read = num_valid + num_invalid - num_envelope_records + num_envelopes.
  """

  def __init__(self, config: ValidationConfig, dead_letter: DeadLetterConfig):
    super().__init__()
    self._config = config
    self._dead_letter = dead_letter

  def expand(self, raw_records) -> ValidateResult:
    outputs = raw_records | 'ParseAndValidate' >> beam.ParDo(_ValidateFn(self._config, self._dead_letter)).with_outputs(
        DEAD_LETTER_TAG, main=VALID_TAG)
    return ValidateResult(outputs[VALID_TAG], outputs[DEAD_LETTER_TAG])
