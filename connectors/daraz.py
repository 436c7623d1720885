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


class DarazClient(ApiClient):
  """GetOrders by update-time window with offset paging, then GetOrderItems per order.

  On an expired access token it calls /auth/token/refresh with the refresh token and keeps the
  new pair in memory (Daraz rotates refresh tokens: persist them outside if runs outlive them).
  """

  source = 'daraz'

  def __init__(self, config: DarazConfig, http: Optional[HttpConfig] = None, *,
               clock: Callable[[], float] = time.time, **kwargs):
    super().__init__(http or HttpConfig(config.base_url), **kwargs)
    self.daraz = config
    self._clock = clock
    self._secret: Optional[str] = None
    self._access: Optional[str] = None
    self._refresh: Optional[str] = None
    self.token_refreshes = 0

  # --- signing and credentials -----------------------------------------------------------------
  def _app_secret(self) -> str:
    if self._secret is None:
      self._secret = self.daraz.app_secret.resolve()
    return self._secret

  def _signed(self, api_path: str, params: Mapping[str, object], with_token: bool) -> dict:
    signed = {k: str(v) for k, v in params.items() if v is not None and str(v) != ''}
    signed.update(app_key=self.daraz.app_key, sign_method='sha256',
                  timestamp=str(int(self._clock() * 1000)))
    if with_token:
      if self._access is None:
        self._access = self.daraz.access_token.resolve()
      signed['access_token'] = self._access
    signed['sign'] = sign(api_path, signed, self._app_secret())
    return signed

  def authorize(self, request: dict) -> None:
    api_path = request.pop('api_path')
    request['params'] = self._signed(api_path, request['params'], request.pop('with_token', True))

  def refresh_auth(self) -> bool:
    if self.daraz.refresh_token is None and self._refresh is None:
      return False
    refresh = self._refresh or self.daraz.refresh_token.resolve()
    body = self.request_json('GET', '/auth/token/refresh', api_path='/auth/token/refresh',
                             with_token=False, params={'refresh_token': refresh})
    if not body.get('access_token'):
      raise AuthExpired('daraz: token refresh returned no access_token')
    self._access = body['access_token']
    self._refresh = body.get('refresh_token') or refresh
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
    """GetOrders pages (oldest update first); each order gets `order_items` from GetOrderItems."""
    offset = 0
    while True:
      response, body = self.call('/orders/get', {
          'update_after': update_after.isoformat(timespec='seconds'),
          'update_before': update_before.isoformat(timespec='seconds'),
          'sort_by': 'updated_at', 'sort_direction': 'ASC',
          'offset': offset, 'limit': self.daraz.page_size})
      data = body['data']
      orders = data.get('orders') if isinstance(data, dict) else None
      if not isinstance(orders, list):
        raise self.malformed('GetOrders data has no "orders" list', response)
      if self.daraz.fetch_items:
        for order in orders:
          if isinstance(order, dict) and order.get('order_id') is not None:
            order['order_items'] = self.order_items(str(order['order_id']))
      yield orders
      offset += len(orders)
      total = _as_int(data.get('countTotal'))
      if not orders or len(orders) < self.daraz.page_size or (total is not None and offset >= total):
        return


def _as_int(value) -> Optional[int]:
  try:
    return int(value)
  except (TypeError, ValueError):
    return None
