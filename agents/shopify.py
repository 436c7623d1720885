"""Shopify agent: orders updated since the checkpoint -> the Shopify raw topic.

    python -m agents.shopify --shop-url https://SHOP.myshopify.com \
        --access-token-ref env:SHOPIFY_ACCESS_TOKEN [--once | --interval 300] [--since 2026-11-01]
"""
from __future__ import annotations

import argparse
import sys
import urllib.parse

from agents import cli
from agents.runner import SourceAgent
from connectors.shopify import ShopifyClient, ShopifyConfig


class ShopifyAgent(SourceAgent):
  source = 'shopify'

  client: ShopifyClient

  @property
  def scope(self) -> str:
    return urllib.parse.urlparse(self.client.shop.shop_url).netloc

  def fetch(self, start, end):
    for orders in self.client.iter_order_pages(start, end):
      yield [(str(o['id']) if isinstance(o, dict) and o.get('id') is not None else None, o)
             for o in orders]


def add_arguments(parser: argparse.ArgumentParser) -> None:
  """The shop and its credentials; the catalog agent reads products with the same ones."""
  parser.add_argument('--shop-url', required=True, help='https://<shop>.myshopify.com')
  parser.add_argument('--access-token-ref', '--access-token', type=cli.secret_ref, metavar='REF',
                      default='env:SHOPIFY_ACCESS_TOKEN',
                      help='secret reference (env:NAME or file:PATH) to the Admin API access '
                      'token (default env:SHOPIFY_ACCESS_TOKEN); --access-token is its old name')
  parser.add_argument('--api-version', default='2024-04', help='Admin API version (2024-04)')


def client(args: argparse.Namespace) -> ShopifyClient:
  config = ShopifyConfig(args.shop_url, args.access_token_ref, api_version=args.api_version)
  return ShopifyClient(config, cli.http_config(args, args.shop_url))


def build(args: argparse.Namespace) -> ShopifyAgent:
  return ShopifyAgent(client(args))


if __name__ == '__main__':
  sys.exit(cli.main('shopify', __doc__.split('\n\n')[0], add_arguments, build))
