"""The documented response envelopes of the source APIs: where their records are, how errors look.

A raw message is normally one API object (one order, one post, one video). A producer that
forwards a whole documented response instead (a Daraz `GetOrder`/`GetOrders` body, a Shopify
`{"order": …}` / `{"orders": […]}` body, a Graph `{"data": […]}` page, a TikTok
`{"data": {"videos": […]}}` body) sends the records inside that envelope; validation unwraps them
(transforms/validate.py), each becoming a record of its own. Each record source names its API's
Envelope in schemas/registry.py. An error body (Daraz `code` other
than "0", Graph `{"error": …}`, TikTok `error.code` other than "ok", Shopify `{"errors": …}`)
holds no record: it becomes a dead letter naming the API's error by its code and type only
(the API's free-text message may echo request values and stays inside the sealed payload).

Bounded: an envelope holds at most MAX_ENVELOPE_RECORDS records (more than any documented page:
Shopify 250, Daraz GetOrders 100, Graph 100, TikTok 100); a larger one is one dead letter.
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Callable, Mapping, Optional

MAX_ENVELOPE_RECORDS = 500
_MAX_CODE_CHARS = 64
# Error codes and types are identifiers ("IllegalAccessToken", "OAuthException", 190): anything
# else in those fields is not quoted into the dead letter's message.
_IDENTIFIER = re.compile(r'[A-Za-z0-9_.:\-]{1,64}')


@dataclasses.dataclass(frozen=True)
class RecordsAt:
  """One documented shape: the record(s) at `path` (keys from the top), a list if `many`."""
  path: tuple[str, ...]
  many: bool
  response: str                 # the documented response, for messages: 'GetOrders'

  @property
  def label(self) -> str:
    return '.'.join(self.path)


def _code(value: Any) -> Optional[str]:
  """An error code or type as text, if it is an identifier; else None."""
  if isinstance(value, bool) or not isinstance(value, (str, int)):
    return None
  text = str(value)[:_MAX_CODE_CHARS + 1]
  return text if _IDENTIFIER.fullmatch(text) else None


def _describe(api: str, code: Any, *kinds: Any) -> str:
  parts = [p for p in (_code(k) for k in kinds) if p]
  return (f'{api} error {_code(code) or "without a code"}'
          + (f' ({", ".join(parts)})' if parts else '')
          + '; the response holds no record')


def _daraz_error(body: Mapping[str, Any]) -> Optional[str]:
  if 'code' in body and str(body['code']) != '0':
    return _describe('daraz API', body['code'], body.get('type'))
  return None


def _graph_error(body: Mapping[str, Any]) -> Optional[str]:
  error = body.get('error')
  if isinstance(error, Mapping):
    return _describe('Graph API', error.get('code'), error.get('type'), error.get('error_subcode'))
  return None


def _tiktok_error(body: Mapping[str, Any]) -> Optional[str]:
  error = body.get('error')
  if isinstance(error, Mapping) and error.get('code') not in (None, '', 'ok'):
    return _describe('TikTok API', error.get('code'))
  return None


def _shopify_error(body: Mapping[str, Any]) -> Optional[str]:
  return _describe('Shopify API', None, 'errors') if 'errors' in body else None


@dataclasses.dataclass(frozen=True)
class Envelope:
  """The documented responses of one API: the shapes holding records, in the order they are
  tried (the first whose path holds a list (many) or an object (one) is taken), and how its
  error bodies look. Each record source names its API's envelope (schemas/registry.py)."""
  shapes: tuple[RecordsAt, ...]
  error: Callable[[Mapping[str, Any]], Optional[str]]

  def api_error(self, body: Mapping[str, Any]) -> Optional[str]:
    """The API error the body reports, named by code and type, or None when it reports none."""
    return self.error(body)

  def records_at(self, body: Mapping[str, Any]) -> Optional[tuple[RecordsAt, Any]]:
    """(the shape, the list or object found there) of the first documented shape `body` has."""
    for shape in self.shapes:
      value: Any = body
      for key in shape.path:
        value = value.get(key) if isinstance(value, Mapping) else None
      if shape.many and isinstance(value, list):
        return shape, value
      if not shape.many and isinstance(value, Mapping):
        return shape, value
    return None


# Daraz GetOrders' `data` is an object holding `orders`, so it is tried before GetOrder's `data`,
# which is the order itself.
DARAZ = Envelope((RecordsAt(('data', 'orders'), True, 'Daraz GetOrders'),
                  RecordsAt(('data',), False, 'Daraz GetOrder')), _daraz_error)
SHOPIFY = Envelope((RecordsAt(('orders',), True, 'Shopify orders list'),
                    RecordsAt(('order',), False, 'Shopify order')), _shopify_error)
GRAPH = Envelope((RecordsAt(('data',), True, 'Graph page feed'),), _graph_error)
TIKTOK = Envelope((RecordsAt(('data', 'videos'), True, 'TikTok video query/list'),), _tiktok_error)
