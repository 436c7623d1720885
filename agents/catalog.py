"""Catalog agent: Shopify products updated since the checkpoint -> the product context topic.

One message per variant that has a SKU, in the product contract the enrichment reads
(`{"sku", "product_id", "title", "category", "brand", "price_bdt", "updated_at"}`, key = sku),
so orders from any shop can be joined to their product by SKU.

    python -m agents.catalog --shop-url https://SHOP.myshopify.com \
        --access-token-ref env:SHOPIFY_ACCESS_TOKEN [--once | --interval 3600]
"""
from __future__ import annotations

import argparse
import datetime
import logging
import sys
import urllib.parse
from typing import Optional

from agents import cli, shopify
from agents.runner import SourceAgent
from connectors.shopify import ShopifyClient

_LOG = logging.getLogger('agents.catalog')


def _later(a: Optional[str], b: Optional[str]) -> Optional[str]:
  """The later of two ISO-8601 times with offsets (compared as instants, kept as written)."""
  def parse(text):
    try:
      return datetime.datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):
      return None
  pa, pb = parse(a), parse(b)
  if pa is None or pb is None:
    return a if pb is None else b
  return a if pa >= pb else b


def product_records(product: dict) -> list[tuple[Optional[str], dict]]:
  """(sku, product record) per variant with a SKU; variants without one cannot be joined."""
  records = []
  for variant in product.get('variants') or []:
    if not isinstance(variant, dict) or not (variant.get('sku') or '').strip():
      continue
    title = product.get('title')
    if variant.get('title') not in (None, '', 'Default Title'):
      title = f'{title} - {variant["title"]}'
    sku = variant['sku'].strip()
    records.append((sku, {
        'sku': sku, 'product_id': str(product.get('id')) if product.get('id') else None,
        'title': title, 'category': product.get('product_type') or None,
        'brand': product.get('vendor') or None, 'price_bdt': variant.get('price'),
        'updated_at': _later(product.get('updated_at'), variant.get('updated_at')),
    }))
  return records


class CatalogAgent(SourceAgent):
  source = 'catalog'
  client: ShopifyClient

  @property
  def scope(self) -> str:
    return 'shopify-' + urllib.parse.urlparse(self.client.shop.shop_url).netloc

  def fetch(self, start, end):
    for products in self.client.iter_product_pages(start, end):
      page, skipped = [], 0
      for product in products:
        records = product_records(product) if isinstance(product, dict) else [(None, product)]
        skipped += not records
        page.extend(records)
      if skipped:
        _LOG.info('catalog: %d product(s) without any SKU skipped', skipped)
      yield page


def add_arguments(parser: argparse.ArgumentParser) -> None:
  shopify.add_arguments(parser)
  parser.add_argument('--shop-currency', default='BDT',
                      help='the shop\'s currency; must be BDT, prices are published as price_bdt '
                      'and this agent converts nothing')


def build(args: argparse.Namespace) -> CatalogAgent:
  if args.shop_currency != 'BDT':
    raise ValueError(f'--shop-currency {args.shop_currency}: price_bdt needs a shop priced in BDT')
  return CatalogAgent(shopify.client(args))


if __name__ == '__main__':
  sys.exit(cli.main('catalog', __doc__.split('\n\n')[0], add_arguments, build))
