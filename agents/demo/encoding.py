"""Payload encoding for the demo generator: orjson when installed, else the stdlib, same bytes."""
from __future__ import annotations

import json
from typing import Callable

try:
  import orjson
except ImportError:  # optional accelerator, see fast_json
  orjson = None


def stdlib_json(payload) -> bytes:
  return json.dumps(payload, ensure_ascii=False, separators=(',', ':')).encode('utf-8')


# orjson writes the same bytes as the stdlib call above for these payloads (compact, UTF-8, no
# ASCII escaping; a unit test compares whole batches) at about a tenth of the cost, which was
# over half of the generator's time. It is optional: without it the output is the same, slower.
fast_json: Callable[[object], bytes] = orjson.dumps if orjson is not None else stdlib_json

