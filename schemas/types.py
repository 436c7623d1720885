"""Lax scalar types for source payloads: ids beyond 2^53, money as strings, many time formats.

Each type accepts every writing the real APIs use (see tests/unit/data/SOURCES.md) and rejects
the rest with a pydantic error, so a wrong type lands in the DLQ with its field path.
"""
from __future__ import annotations

import datetime
import decimal
import re
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BeforeValidator, ConfigDict

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
    return str(value)
  if isinstance(value, str) and _DIGITS.match(value.strip()):
    return value.strip()
  raise ValueError('id must be an integer or a numeric string')


def _facebook_id(value: Any) -> str:
  if isinstance(value, bool):
    raise ValueError('Graph id must be a string like "123" or "123_456"')
  if isinstance(value, int) and value >= 0:
    return str(value)
  if isinstance(value, str) and _FB_ID.match(value.strip()):
    return value.strip()
  raise ValueError('Graph id must be a string like "123" or "123_456"')


def _money(value: Any) -> Any:
  """Money arrives as "598.94", "1,299.00" or a number; floats are read via str (no 0.1+0.2)."""
  value = _null_string_to_none(value)
  if value is None:
    return None
  if isinstance(value, bool):
    raise ValueError('amount must be a number or a numeric string')
  if isinstance(value, float):
    return decimal.Decimal(repr(value))
  if isinstance(value, str):
    return value.strip().replace(',', '')
  return value


def _finite_decimal(value: Optional[decimal.Decimal]) -> Optional[decimal.Decimal]:
  if value is not None and not value.is_finite():
    raise ValueError('amount must be finite')
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
  if number != number or number in (float('inf'), float('-inf')):
    raise ValueError('timestamp must be finite')
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
Money = Annotated[Optional[decimal.Decimal], BeforeValidator(_money), AfterValidator(_finite_decimal)]
FlexDatetime = Annotated[Optional[datetime.datetime], BeforeValidator(_flex_datetime),
                         AfterValidator(_to_utc)]
LaxBool = Annotated[Optional[bool], BeforeValidator(_lax_bool)]
NullableStr = Annotated[Optional[str], BeforeValidator(_null_string_to_none)]
