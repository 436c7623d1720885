"""Lax scalar types for source payloads: ids beyond 2^53, money as strings, many time formats.

Each type accepts every writing the real APIs use (see tests/unit/data/SOURCES.md) and rejects
the rest with a pydantic error, so a wrong type lands in the DLQ with its field path.
"""
from __future__ import annotations

import datetime
import decimal
import re
from typing import Annotated, Any, Optional

from pydantic import (BeforeValidator, ConfigDict, Field, PlainValidator, StringConstraints, TypeAdapter,
                      ValidationError)
from pydantic_core import PydanticKnownError

# Shared by every source model: tolerate unknown fields (and drop them: unknown fields may hold
# PII the policy table has never seen), reject NaN/Infinity, keep strings as written. Only keys
# go through pydantic's string cache: values rarely repeat, and caching them cost the record path
# ~10% (measured interleaved with the other stages, benchmarks/record_path.py).
SOURCE_MODEL_CONFIG = ConfigDict(
    extra='ignore', allow_inf_nan=False, populate_by_name=True, frozen=True,
    str_max_length=1_000_000, coerce_numbers_to_str=False, cache_strings='keys')

_NULL_STRINGS = frozenset(('', 'null', 'none', 'None', 'NULL'))
# Lazada/Daraz: "2014-10-15 19:12:15 +0800" (space before the offset), which pydantic rejects.
_SPACED_OFFSET = re.compile(
    r'^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s+([+-]\d{2}):?(\d{2})$')
_EPOCH = re.compile(r'^[0-9]{9,13}$')
# The writing nearly every timestamp of the APIs has ("2026-11-28T12:09:42+06:00", Graph's
# "+0000", "Z"): read with datetime.fromisoformat, which agrees with pydantic on exactly these.
_ISO_WITH_OFFSET = re.compile(
    r'[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.(?:[0-9]{3}|[0-9]{6}))?'
    r'(?:Z|[+-][0-9]{2}:?[0-9]{2})')
_UTC = datetime.timezone.utc
# Bounds of every number -> id / time / decimal conversion, checked before converting, so that no
# number of any size can raise OverflowError (or take long) inside a conversion.
_MIN_EPOCH_MS = -62_135_596_800_000                  # 0001-01-01T00:00:00Z
_MAX_EPOCH_MS = 253_402_300_799_999                  # 9999-12-31T23:59:59.999Z
_MONEY_DIGITS = 16                                   # Snowflake NUMBER(18, 2)
_MAX_MONEY = 10 ** _MONEY_DIGITS
_MAX_MONEY_CHARS = 40
INT64_MIN, INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _null_string_to_none(value: Any) -> Any:
  if isinstance(value, str) and value.strip() in _NULL_STRINGS:
    return None
  return value


def _money(value: Any) -> Optional[decimal.Decimal]:
  """Money arrives as "598.94", "1,299.00" or a number; floats are read via str (no 0.1+0.2).

  The whole conversion (a PlainValidator: one call, no pydantic decimal pass after it), exact and
  bounded: a Decimal far out of range ("1e999999999") would raise decimal.Overflow (not a
  ValueError) in later arithmetic, pydantic's own included."""
  if value is None:
    return None
  cls = type(value)
  if cls is str:
    if len(value) > _MAX_MONEY_CHARS:
      raise ValueError(f'amount must be at most {_MAX_MONEY_CHARS} characters')
    text = value.strip()
    if text in _NULL_STRINGS:
      return None
    try:
      amount = decimal.Decimal(text.replace(',', '') if ',' in text else text)
    except decimal.InvalidOperation as e:
      raise ValueError('amount must be a number or a numeric string') from e
    return _bounded_decimal(amount)
  if cls is float:
    return _bounded_decimal(decimal.Decimal(repr(value)))
  if cls is int:
    if not -_MAX_MONEY < value < _MAX_MONEY:
      raise ValueError('amount must be below 10^16')
    return decimal.Decimal(value)
  if cls is decimal.Decimal:
    return _bounded_decimal(value)
  raise ValueError('amount must be a number or a numeric string')


def _bounded_decimal(value: decimal.Decimal) -> decimal.Decimal:
  """Finite, zero or between 10^-32 and 10^16; checked without arithmetic (no context). The
  number of decimal places is bounded by the text's length (_MAX_MONEY_CHARS)."""
  if not value.is_finite():
    raise ValueError('amount must be finite')
  if value and not -32 <= value.adjusted() < _MONEY_DIGITS:
    raise ValueError('amount must be below 10^16 (and zero or above 10^-32)')
  return value


def _flex_datetime(value: Any) -> Any:
  """ISO-8601 (with or without colon in the offset), the Lazada spaced offset, epoch s or ms."""
  value = _null_string_to_none(value)
  if value is None:
    return None
  if isinstance(value, bool):
    raise ValueError('timestamp must be a string or a number')
  if isinstance(value, (int, float)):
    return _from_epoch(value)
  if isinstance(value, str):
    text = value.strip()
    if _EPOCH.match(text):
      return _from_epoch(int(text))
    m = _SPACED_OFFSET.match(text)
    if m:
      return f'{m.group(1)}T{m.group(2)}{m.group(3)}:{m.group(4)}'
    return text
  return value


def _from_epoch(number: float) -> datetime.datetime:
  """Epoch seconds, or milliseconds from 10^11 on (year 5138 in seconds, 1973 in ms)."""
  if number != number or number in (float('inf'), float('-inf')):
    raise ValueError('timestamp must be finite')
  # Compared before any arithmetic: an integer of any size compares exactly, but dividing one
  # beyond ~10^308 raises OverflowError.
  if not _MIN_EPOCH_MS <= number <= _MAX_EPOCH_MS:
    raise ValueError('timestamp out of range')
  seconds = number / 1000.0 if abs(number) >= 100_000_000_000 else float(number)
  try:
    return datetime.datetime.fromtimestamp(seconds, tz=datetime.timezone.utc)
  except (OverflowError, OSError, ValueError) as e:
    raise ValueError('timestamp out of range') from e


def _to_utc(value: Optional[datetime.datetime]) -> Optional[datetime.datetime]:
  """Aware datetimes are converted to UTC; naive ones are taken as UTC (documented choice)."""
  if value is None:
    return None
  if value.tzinfo is None:
    return value.replace(tzinfo=_UTC)
  return value.astimezone(_UTC)


def _flex_datetime_validator(value: Any) -> Optional[datetime.datetime]:
  """FlexDatetime in one call (a PlainValidator: a wrap validator costs pydantic a handler object
  per field): the common ISO writings read directly; everything else prepared by _flex_datetime
  and, if still not a datetime, parsed by pydantic's own lax datetime validation, whose error is
  raised as the same pydantic error (type, message and context), then converted to UTC."""
  if type(value) is str:
    text = value
    if not _ISO_WITH_OFFSET.fullmatch(text):
      m = _SPACED_OFFSET.match(text)
      text = f'{m.group(1)}T{m.group(2)}{m.group(3)}:{m.group(4)}' if m else None
    if text is not None:
      try:
        parsed = datetime.datetime.fromisoformat(text)
      except ValueError:
        pass                   # e.g. hour 25: pydantic says why
      else:
        return parsed if parsed.tzinfo is _UTC else parsed.astimezone(_UTC)
  value = _flex_datetime(value)
  if value is None or type(value) is datetime.datetime:
    return value
  try:
    return _to_utc(_PYDANTIC_DATETIME.validate_python(value))
  except ValidationError as e:
    error = e.errors(include_url=False, include_input=False)[0]
    raise PydanticKnownError(error['type'], error.get('ctx')) from None


def _lax_bool(value: Any) -> Any:
  value = _null_string_to_none(value)
  if isinstance(value, str):
    lowered = value.strip().lower()
    if lowered in ('true', '1', 'yes'):
      return True
    if lowered in ('false', '0', 'no'):
      return False
  return value


# Ids: a JSON integer or a numeric string, kept as the string (exact beyond 2^53), at most 40
# digits; checked by pydantic-core itself (no Python call per field).
NumericId = Annotated[str, Field(coerce_numbers_to_str=True),
                      StringConstraints(strip_whitespace=True, pattern=r'^[0-9]{1,40}$')]
FacebookId = Annotated[str, Field(coerce_numbers_to_str=True),
                       StringConstraints(strip_whitespace=True,
                                         pattern=r'^[0-9]{1,40}(?:_[0-9]{1,40})?$')]
Money = Annotated[Optional[decimal.Decimal], PlainValidator(_money)]
FlexDatetime = Annotated[Optional[datetime.datetime], PlainValidator(_flex_datetime_validator)]
_PYDANTIC_DATETIME = TypeAdapter(datetime.datetime)
LaxBool = Annotated[Optional[bool], BeforeValidator(_lax_bool)]
NullableStr = Annotated[Optional[str], BeforeValidator(_null_string_to_none)]
# Counts and other integers: within 64 bits, as every sink stores them (Weaviate int, orjson).
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
