"""Daraz Open Platform (the Lazada "LazOP" protocol): signed requests, orders with their items.

Every request is signed: HMAC-SHA256, keyed by the app secret, over the API path followed by the
sorted parameters as key+value pairs, in upper-case hex (../shared/fixtures/daraz_signing.md; the
published worked example is a unit test). Errors arrive as HTTP 200 with a non-"0" `code`.
"""
from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import time
from typing import Callable, Iterator, Mapping, Optional

import requests

from connectors.api_auth import AuthFailed, CachedSecret, CredentialRefresh
from connectors.http import (ApiClient, ApiError, AuthExpired, HttpConfig, PermanentError,
                             RateLimited, RetryableError)
from connectors.secrets import SecretRef

# Daraz Bangladesh gateway (see daraz_signing.md: not confirmed by an official page; verify at the
# first live call). Other countries: api.daraz.pk, api.daraz.lk, api.daraz.com.np, api.shop.com.mm.
DEFAULT_BASE_URL = 'https://api.daraz.com.bd/rest'

_AUTH_CODES = frozenset({'IllegalAccessToken', 'InvalidAccessToken', 'AccessTokenExpired',
                         'IllegalRefreshToken'})
_RATE_CODES = frozenset({'ApiCallLimit', 'AppCallLimit', 'SellerCallLimit', 'AccessControl'})
_RETRY_CODES = frozenset({'ServiceTimeout', 'ServiceUnavailable', 'InternalError', 'SystemError',
                          'ISP.ServiceUnavailable'})


def sign(api_path: str, params: Mapping[str, str], app_secret: str) -> str:
  """The LazOP signature: upper-case hex HMAC-SHA256 of path + k1 + v1 + k2 + v2 ... (sorted by
  key in byte order, `sign` excluded, values raw: not URL-encoded)."""
  message = api_path + ''.join(f'{k}{params[k]}' for k in sorted(params) if k != 'sign')
  return hmac.new(app_secret.encode('utf-8'), message.encode('utf-8'),
                  hashlib.sha256).hexdigest().upper()


@dataclasses.dataclass(frozen=True)
class DarazConfig:
  app_key: str
  app_secret: SecretRef
  access_token: SecretRef
  refresh_token: Optional[SecretRef] = None
  base_url: str = DEFAULT_BASE_URL
  page_size: int = 100
  fetch_items: bool = True

  def __post_init__(self):
    if not self.app_key:
      raise ValueError('Daraz app_key is empty (the App Key from the Daraz Open Platform console)')
    if not 1 <= self.page_size <= 100:
      raise ValueError('Daraz page_size must be within 1..100')


class DarazClient(CredentialRefresh, ApiClient):
  """GetOrders by update-time window, keyset-paged, then GetOrderItems per order.

  On an expired access token it calls /auth/token/refresh with the refresh token and keeps the
  new pair in memory (Daraz rotates refresh tokens: persist them outside if runs outlive them).
  A refused refresh (IllegalRefreshToken) raises AuthFailed.
  """

  source = 'daraz'

  def __init__(self, config: DarazConfig, http: Optional[HttpConfig] = None, *,
               clock: Callable[[], float] = time.time, **kwargs):
    super().__init__(http or HttpConfig(config.base_url), **kwargs)
    self.daraz = config
    self._clock = clock
    self._secret = CachedSecret(config.app_secret)
    self._access = CachedSecret(config.access_token)
    self._refresh = CachedSecret(config.refresh_token) if config.refresh_token else None
    self.token_refreshes = 0

  # --- signing and credentials -----------------------------------------------------------------
  def _signed(self, api_path: str, params: Mapping[str, object], with_token: bool) -> dict:
    signed = {k: str(v) for k, v in params.items() if v is not None and str(v) != ''}
    signed.update(app_key=self.daraz.app_key, sign_method='sha256',
                  timestamp=str(int(self._clock() * 1000)))
    if with_token:
      signed['access_token'] = self._access.get()
    signed['sign'] = sign(api_path, signed, self._secret.get())
    return signed

  def authorize(self, request: dict) -> None:
    api_path = request.pop('api_path')
    request['params'] = self._signed(api_path, request['params'], request.pop('with_token', True))

  def renew_credentials(self) -> bool:
    if self._refresh is None:
      return False
    refresh = self._refresh.get()
    with self.credential_call():
      body = self.request_json('GET', '/auth/token/refresh', api_path='/auth/token/refresh',
                               with_token=False, params={'refresh_token': refresh})
    if not isinstance(body, dict) or not body.get('access_token'):
      raise AuthFailed('daraz: token refresh returned no access_token')
    self._access.replace(body['access_token'])
    self._refresh.replace(body.get('refresh_token') or refresh)
    self.token_refreshes += 1
    return True

  def classify(self, response: requests.Response) -> Optional[ApiError]:
    error = super().classify(response)
    if error is not None:
      return error
    try:
      body = response.json()
    except ValueError:
      return None  # fetch_json reports it, with the body for the dead-letter topic
    code = str(body.get('code', '0')) if isinstance(body, dict) else '0'
    if code == '0':
      return None
    where = response.request.path_url.split('?')[0]
    label = f'daraz API error {code} ({body.get("type", "")}) on {where}'
    if code in _AUTH_CODES:
      return AuthExpired(label, status=response.status_code)
    if code in _RATE_CODES:
      return RateLimited(label, status=response.status_code)
    if code in _RETRY_CODES:
      return RetryableError(label, status=response.status_code)
    return PermanentError(label, status=response.status_code)

  # --- API calls -------------------------------------------------------------------------------
  def call(self, api_path: str, params: Mapping[str, object]) -> tuple[requests.Response, dict]:
    response, body = self.fetch_json('GET', api_path, api_path=api_path, params=dict(params))
    if not isinstance(body, dict) or 'data' not in body:
      raise self.malformed(f'no "data" in the response of {api_path}', response)
    return response, body

  def order_items(self, order_id: str) -> list[dict]:
    response, body = self.call('/order/items/get', {'order_id': order_id})
    if not isinstance(body['data'], list):
      raise self.malformed('GetOrderItems data is not a list', response)
    return body['data']

  def iter_order_pages(self, update_after: datetime.datetime,
                       update_before: datetime.datetime) -> Iterator[list[dict]]:
    """GetOrders pages (oldest update first); each order gets `order_items` from GetOrderItems.

    Keyset paging: an order updated while we page leaves its place in the update-time order,
    so with offsets alone the order that slides into a page already read is skipped. Each
    request starts instead at the newest update time read so far (less a second, since the API
    does not say whether `update_after` is inclusive), and skips by offset only the orders it
    has already read at or after that time, less half a page that it reads again (a tie group
    that loses members shifts left). Orders read twice are yielded once per (id, updated_at);
    a newer version of an order is yielded again.
    """
    limit = self.daraz.page_size
    after = update_after
    read: dict[tuple, Optional[datetime.datetime]] = {}   # (order id, updated_at) -> time
    exact = False   # the previous page re-read only: skip without overlap this time
    first = True
    while True:
      behind = sum(1 for at in read.values() if at is None or at >= after)
      offset = behind if exact else max(0, behind - limit // 2)
      response, body = self.call('/orders/get', {
          'update_after': after.isoformat(timespec='seconds'),
          'update_before': update_before.isoformat(timespec='seconds'),
          'sort_by': 'updated_at', 'sort_direction': 'ASC',
          'offset': offset, 'limit': limit})
      data = body['data']
      orders = data.get('orders') if isinstance(data, dict) else None
      if not isinstance(orders, list):
        raise self.malformed('GetOrders data has no "orders" list', response)
      fresh = []
      for order in orders:
        key = _version_key(order)
        if key is None or key not in read:
          fresh.append(order)
          if key is not None:
            at = _updated_at(order)
            # Not after `after`: the API did not filter by time; count it as always returned.
            read[key] = at if at is not None and at >= after else None
      if self.daraz.fetch_items:
        for order in fresh:
          if isinstance(order, dict) and order.get('order_id') is not None:
            order['order_items'] = self.order_items(str(order['order_id']))
      if fresh or first:
        yield fresh
      first = False
      total = _as_int(data.get('countTotal'))
      if len(orders) < limit or (total is not None and offset + len(orders) >= total):
        return
      if not fresh and exact:
        raise self.malformed('GetOrders paging makes no progress (offset ignored?)', response)
      exact = not fresh
      newest = max((t for t in map(_updated_at, orders) if t is not None), default=None)
      if newest is not None and newest - _REREAD > after:
        after = newest - _REREAD


# `update_after` may be exclusive: each keyset page re-reads this much before the newest time read.
_REREAD = datetime.timedelta(seconds=1)


def _version_key(order) -> Optional[tuple]:
  if not isinstance(order, dict) or order.get('order_id') is None:
    return None
  return (str(order['order_id']), str(order.get('updated_at')))


def _updated_at(order) -> Optional[datetime.datetime]:
  """An order's updated_at as an aware time: ISO 8601, or '2018-02-10 10:07:23 +0800'."""
  text = order.get('updated_at') if isinstance(order, dict) else None
  if not isinstance(text, str) or len(text) > 40:
    return None
  try:
    value = datetime.datetime.fromisoformat(text)
  except ValueError:
    try:
      value = datetime.datetime.strptime(text, '%Y-%m-%d %H:%M:%S %z')
    except ValueError:
      return None
  return value if value.tzinfo is not None else None


def _as_int(value) -> Optional[int]:
  try:
    return int(value)
  except (TypeError, ValueError):
    return None
