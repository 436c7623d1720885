"""What an agent's --dry-run may print: the API objects with every value the pipeline protects hidden.

stdout is often a log or a terminal someone shares, and an API object is full of personal data.
What may be shown is the pipeline's own contract, one fact in one place: a field of the source's
model (schemas/sources.py) that the privacy policy (transforms/privacy_policy.py) keeps as it is
(KEEP: not marked PII) is printed as fetched. Every other value is replaced by its kind and
length: a field the pipeline pseudonymizes, coarsens, scrubs or drops (a Facebook author's id, a
Shopify customer id, a Daraz buyer id, a phone written as a number, a post code), and any field
the model does not know (the pipeline ignores it, so nobody decided it is safe: TikTok's
`open_id`, `union_id`). Numbers and booleans are values like any other: shown only under a KEEP
field. The objects' shape (keys, list lengths) is kept. `--show-pii` prints the objects as fetched.
"""
from __future__ import annotations

import functools
import typing
from typing import Any, Optional

from pydantic import BaseModel

from schemas.registry import SOURCE_MODELS
from schemas.sources import pii_fields
from transforms.privacy_policy import POLICY, Policy

_MAX_DEPTH = 64
_SCALARS = (str, int, float, bool, type(None))


def redacted(value: Any, source: Optional[str] = None) -> Any:
  """`value` (one API object of `source`) with only its KEEP fields in clear."""
  return _walk(value, SOURCE_MODELS.get(source), 0)


def _walk(value: Any, model: Optional[type[BaseModel]], depth: int) -> Any:
  if depth > _MAX_DEPTH:
    return '[redacted: nested too deep]'
  if isinstance(value, list):
    return [_walk(v, model, depth + 1) for v in value]
  if model is None or not isinstance(value, dict):
    return _hidden(value, depth)
  fields = _fields(model)
  out = {}
  for key, v in value.items():
    kept, nested = fields.get(key, (False, None))
    if not kept:
      out[key] = _hidden(v, depth + 1)
    elif nested is not None:
      out[key] = _walk(v, nested, depth + 1)
    else:
      out[key] = _shown(v, depth + 1)
  return out


def _shown(value: Any, depth: int) -> Any:
  """A KEEP field's value: a scalar or a list of them as it is; anything else (an object where
  the model expects a scalar) is not what the policy was decided for, so it is hidden."""
  if isinstance(value, _SCALARS):
    return value
  if isinstance(value, list) and all(isinstance(v, _SCALARS) for v in value):
    return value
  return _hidden(value, depth)


def _hidden(value: Any, depth: int) -> Any:
  if depth > _MAX_DEPTH:
    return '[redacted: nested too deep]'
  if isinstance(value, dict):
    return {k: _hidden(v, depth + 1) for k, v in value.items()}
  if isinstance(value, list):
    return [_hidden(v, depth + 1) for v in value]
  if isinstance(value, str):
    return f'[redacted {len(value)} chars]'
  if value is None:
    return None
  return '[redacted]'


@functools.lru_cache(maxsize=None)
def _fields(model: type[BaseModel]) -> dict[str, tuple[bool, Optional[type[BaseModel]]]]:
  """{JSON key: (shown in clear, the nested model)} of one source model: a field is shown when
  it is not PII or its policy is KEEP; its JSON keys are its name, alias and validation aliases."""
  pii = pii_fields(model)
  out = {}
  for name, info in model.model_fields.items():
    kept = name not in pii or POLICY.get((model.__name__, name)) is Policy.KEEP
    entry = (kept, _nested_model(info.annotation))
    keys = {info.alias or name}
    choices = getattr(info.validation_alias, 'choices', None)
    if choices:
      keys.update(c for c in choices if isinstance(c, str))
    elif isinstance(info.validation_alias, str):
      keys.add(info.validation_alias)
    for key in keys:
      out[key] = entry
  return out


def _nested_model(annotation: Any) -> Optional[type[BaseModel]]:
  """The model inside Optional[...] / list[...] of a field's type, if any."""
  if isinstance(annotation, type) and issubclass(annotation, BaseModel):
    return annotation
  for arg in typing.get_args(annotation):
    found = _nested_model(arg)
    if found is not None:
      return found
  return None
