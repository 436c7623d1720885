"""Lax scalar types for source payloads: ids beyond 2^53, money as strings, many time formats.

Each type accepts every writing the real APIs use (see tests/unit/data/SOURCES.md) and rejects
the rest with a pydantic error, so a wrong type lands in the DLQ with its field path.
"""
from __future__ import annotations

import datetime
import decimal
import re
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field

# Shared by every source model: tolerate unknown fields (and drop them: unknown fields may hold
# PII the policy table has never seen), reject NaN/Infinity, keep strings as written.
SOURCE_MODEL_CONFIG = ConfigDict(
    extra='ignore', allow_inf_nan=False, populate_by_name=True, frozen=True,
    str_max_length=1_000_000, coerce_numbers_to_str=False)

_NULL_STRINGS = frozenset(('', 'null', 'none', 'None', 'NULL'))
_DIGITS = re.compile(r'^[0-9]{1,40}$')
_FB_ID = re.compile(r'^[0-9]{1,40}(?:_[0-9]{1,40})?$')
# Lazada/Daraz: "2014-10-15 19:12:15 +0800" (space before the offset), which pydantic rejects.
_SPACED_OFFSET = re.compile(
    r'^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.\d+)?\s+([+-]\d{2}):?(\d{2})$')
_EPOCH = re.compile(r'^[0-9]{9,13}$')
# Bounds of every number -> id / time / decimal conversion, checked before converting, so that no
# number of any size can raise OverflowError (or take long) inside a conversion.
_MAX_ID = 10 ** 40                                   # ids: at most 40 digits, as strings are
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


def _numeric_id(value: Any) -> str:
  """An id written as a JSON integer or a numeric string; kept as a string (exact beyond 2^53)."""
  if isinstance(value, bool):
    raise ValueError('id must be an integer or a numeric string, not a boolean')
  if isinstance(value, int):
    if value < 0:
      raise ValueError('id must not be negative')
    if value >= _MAX_ID:
      raise ValueError('id must have at most 40 digits')
    return str(value)
  if isinstance(value, str) and _DIGITS.match(value.strip()):
    return value.strip()
  raise ValueError('id must be an integer or a numeric string')


def _facebook_id(value: Any) -> str:
  if isinstance(value, bool):
    raise ValueError('Graph id must be a string like "123" or "123_456"')
  if isinstance(value, int) and 0 <= value < _MAX_ID:
    return str(value)
  if isinstance(value, str) and _FB_ID.match(value.strip()):
    return value.strip()
  raise ValueError('Graph id must be a string like "123" or "123_456"')


def _money(value: Any) -> Any:
  """Money arrives as "598.94", "1,299.00" or a number; floats are read via str (no 0.1+0.2).

  Converted here, exactly and bounded: a Decimal far out of range ("1e999999999") would raise
  decimal.Overflow (not a ValueError) in later arithmetic, pydantic's own included."""
  value = _null_string_to_none(value)
  if value is None:
    return None
  if isinstance(value, bool):
    raise ValueError('amount must be a number or a numeric string')
  if isinstance(value, float):
    value = repr(value)
  elif isinstance(value, int):
    if not -_MAX_MONEY < value < _MAX_MONEY:
      raise ValueError('amount must be below 10^16')
    return decimal.Decimal(value)
  if isinstance(value, str):
    if len(value) > _MAX_MONEY_CHARS:
      raise ValueError(f'amount must be at most {_MAX_MONEY_CHARS} characters')
    try:
      amount = decimal.Decimal(value.strip().replace(',', ''))
    except decimal.InvalidOperation as e:
      raise ValueError('amount must be a number or a numeric string') from e
    return _bounded_decimal(amount)
  return value


def _bounded_decimal(value: Optional[decimal.Decimal]) -> Optional[decimal.Decimal]:
  """Finite, below 10^16, at most 32 decimal places; checked without arithmetic (no context)."""
  if value is not None:
    if not value.is_finite():
      raise ValueError('amount must be finite')
    if value and (value.adjusted() >= _MONEY_DIGITS or value.as_tuple().exponent < -32):
      raise ValueError('amount must be below 10^16 with at most 32 decimal places')
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
    return value.replace(tzinfo=datetime.timezone.utc)
  return value.astimezone(datetime.timezone.utc)


def _lax_bool(value: Any) -> Any:
  value = _null_string_to_none(value)
  if isinstance(value, str):
    lowered = value.strip().lower()
    if lowered in ('true', '1', 'yes'):
      return True
    if lowered in ('false', '0', 'no'):
      return False
  return value


NumericId = Annotated[str, BeforeValidator(_numeric_id)]
FacebookId = Annotated[str, BeforeValidator(_facebook_id)]
Money = Annotated[Optional[decimal.Decimal], BeforeValidator(_money), AfterValidator(_bounded_decimal)]
FlexDatetime = Annotated[Optional[datetime.datetime], BeforeValidator(_flex_datetime),
                         AfterValidator(_to_utc)]
LaxBool = Annotated[Optional[bool], BeforeValidator(_lax_bool)]
NullableStr = Annotated[Optional[str], BeforeValidator(_null_string_to_none)]
# Counts and other integers: within 64 bits, as every sink stores them (Weaviate int, orjson).
Int64 = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
