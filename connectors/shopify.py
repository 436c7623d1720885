"""Shopify Admin REST API: orders, paginated by the `Link` header's `page_info` cursor."""
from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Iterator, Optional

import requests

from connectors.api_auth import CachedSecret, RotatedTokenAuth
from connectors.http import ApiClient, HttpConfig
from connectors.secrets import SecretRef

_LOG = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ShopifyConfig:
  """`shop_url` is https://<shop>.myshopify.com; the token comes from a secret reference."""
  shop_url: str
  access_token: SecretRef
  api_version: str = '2024-04'
  page_size: int = 250
  # Sleep when the leaky bucket (X-Shopify-Shop-Api-Call-Limit "used/size") is this full.
  bucket_high_water: float = 0.8

  def __post_init__(self):
    if not 1 <= self.page_size <= 250:
      raise ValueError('Shopify page_size must be within 1..250')
    if len(self.api_version) != 7 or self.api_version[4] != '-':
      raise ValueError(f'api_version looks like 2024-04, got {self.api_version!r}')


def _iso(ts: datetime.datetime) -> str:
  return ts.astimezone(datetime.timezone.utc).isoformat(timespec='seconds')


class ShopifyClient(RotatedTokenAuth, ApiClient):
  """Orders updated in a time window, page by page. A token that stops working is re-read from
  its secret reference once (rotation); Shopify offline tokens themselves do not expire."""

  source = 'shopify'
  token_header = 'X-Shopify-Access-Token'

  def __init__(self, config: ShopifyConfig, http: Optional[HttpConfig] = None, **kwargs):
    super().__init__(http or HttpConfig(config.shop_url), **kwargs)
    self.shop = config
    self._token = CachedSecret(config.access_token)

  def observe(self, response: requests.Response) -> None:
    used, _, size = response.headers.get('X-Shopify-Shop-Api-Call-Limit', '').partition('/')
    if used.isdigit() and size.isdigit() and int(size) and (
        int(used) / int(size) >= self.shop.bucket_high_water):
      self._sleep(1.0)  # the bucket leaks 2 calls/s (standard plans): let it drain a little

  def iter_order_pages(self, updated_at_min: datetime.datetime,
                       updated_at_max: datetime.datetime) -> Iterator[list[dict]]:
    """Lists of Order objects updated in [min, max], one list per page."""
    return self._iter_pages('orders', updated_at_min, updated_at_max, status='any')

  def iter_product_pages(self, updated_at_min: datetime.datetime,
                         updated_at_max: datetime.datetime) -> Iterator[list[dict]]:
    """Lists of Product objects (with their variants) updated in [min, max], one per page."""
    return self._iter_pages('products', updated_at_min, updated_at_max)

  def _iter_pages(self, resource: str, updated_at_min: datetime.datetime,
                  updated_at_max: datetime.datetime, **filters) -> Iterator[list[dict]]:
    path: Optional[str] = f'/admin/api/{self.shop.api_version}/{resource}.json'
    # Any order is fine: the caller checkpoints whole [min, max] windows, not positions in one.
    params: Optional[dict] = dict(
        filters, limit=self.shop.page_size, updated_at_min=_iso(updated_at_min),
        updated_at_max=_iso(updated_at_max))
    while path:
      response, body = self.fetch_json('GET', path, params=params or {})
      items = body.get(resource) if isinstance(body, dict) else None
      if not isinstance(items, list):
        raise self.malformed(f'no "{resource}" list in the response of {self.where(path)}',
                             response)
      yield items
      # With page_info, Shopify rejects every other filter: the next URL carries all it needs.
      path = response.links.get('next', {}).get('url')
      params = None
