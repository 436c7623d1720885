"""Malformed demo records: bad JSON, truncated, wrong types, missing required fields."""
from __future__ import annotations

import functools
from typing import Callable

from agents.demo.builders import Builder
from schemas.registry import SOURCE_MODELS

MALFORMED_KINDS = ('bad_json', 'truncated', 'wrong_type', 'missing_required')

_RETYPE = {  # field -> a value of the wrong type
    'tiktok': (('create_time', 'yesterday'), ('view_count', 'many'), ('hashtag_names', '#sale')),
    'facebook': (('created_time', ['yesterday']), ('message', {'text': 'hi'}), ('from', 'page')),
    'shopify': (('line_items', 'none'), ('total_price', ['598.94']), ('id', 'ABC-123')),
    'daraz': (('order_items', 'n/a'), ('price', {'amount': 106}), ('created_at', True)),
}


@functools.lru_cache(maxsize=None)
def _required_fields(source: str) -> tuple[str, ...]:
  """The fields the pipeline's source contract requires: dropping one makes a record invalid."""
  model = SOURCE_MODELS[source]
  return tuple(sorted(name for name, field in model.model_fields.items() if field.is_required()))


def malform(b: Builder, source: str, payload: dict,
            encode: Callable[[object], bytes]) -> tuple[bytes, str]:
  """A broken writing of `payload` and its reason (`<kind>` or `<kind>:<field>`)."""
  kind = b.pick(MALFORMED_KINDS)
  if kind == 'missing_required':
    field = b.pick(_required_fields(source))
    payload = {k: v for k, v in payload.items() if k != field}
    return encode(payload), f'missing_required:{field}'
  if kind == 'wrong_type':
    field, value = b.pick(_RETYPE[source])
    return encode(dict(payload, **{field: value})), f'wrong_type:{field}'
  if kind == 'truncated':
    raw = encode(payload)
    return raw[:b.between(1, len(raw) - 1)], 'truncated'
  # bad_json: what naive producers emit: Python repr (single quotes, True/None), or a trailing comma
  if b.random() < 0.5:
    return repr(payload).encode('utf-8'), 'bad_json'
  return encode(payload)[:-1] + b',}', 'bad_json'

