"""What an agent's --dry-run may print: the API objects with their text values redacted.

stdout is often a log or a terminal someone shares, and an API object is full of personal data
(names, phones, addresses, emails, free text) under keys no list can foresee. So every string
is replaced by `[redacted N chars]` unless its key is one that holds an identifier, a time, a
status or a count; numbers, booleans and the objects' shape are kept. `--show-pii` prints the
objects as fetched.
"""
from __future__ import annotations

import re
from typing import Any, Optional

# Keys whose string values are identifiers, times, statuses or counts, never personal data.
_SAFE_KEY = re.compile(
    r'(?:id|ids|sku|currency|status|statuses|kind|type|region_code|count|countTotal|'
    r'[a-z0-9_]*_(?:id|ids|at|time|date|count|status))',
    re.IGNORECASE)
_MAX_DEPTH = 64


def redacted(value: Any, key: Optional[str] = None, _depth: int = 0) -> Any:
  """`value` with every string not under a safe key replaced by its length."""
  if _depth > _MAX_DEPTH:
    return '[redacted: nested too deep]'
  if isinstance(value, dict):
    return {k: redacted(v, k, _depth + 1) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [redacted(v, key, _depth + 1) for v in value]
  if isinstance(value, str):
    if key is not None and len(key) <= 64 and _SAFE_KEY.fullmatch(key):
      return value
    return f'[redacted {len(value)} chars]'
  return value
