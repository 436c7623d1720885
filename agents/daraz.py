"""Daraz agent: orders updated since the checkpoint, each with its items -> the Daraz raw topic.

    python -m agents.daraz --app-key 123456 --app-secret-ref env:DARAZ_APP_SECRET \
        --access-token-ref env:DARAZ_ACCESS_TOKEN \
        --refresh-token-ref env:DARAZ_REFRESH_TOKEN [--once]
"""
from __future__ import annotations

import argparse
import sys

from agents import cli
from agents.runner import SourceAgent
from connectors.daraz import DEFAULT_BASE_URL, DarazClient, DarazConfig


class DarazAgent(SourceAgent):
  source = 'daraz'
  client: DarazClient

  @property
  def scope(self) -> str:
    return self.client.daraz.app_key

  def fetch(self, start, end):
    for orders in self.client.iter_order_pages(start, end):
      yield [(str(o['order_id']) if isinstance(o, dict) and o.get('order_id') else None, o)
             for o in orders]


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--app-key', required=True, help='App Key from the Daraz Open Platform')
  parser.add_argument('--app-secret-ref', '--app-secret', type=cli.secret_ref, metavar='REF',
                      default='env:DARAZ_APP_SECRET',
                      help='secret reference (env:NAME or file:PATH) to the App Secret (default '
                      'env:DARAZ_APP_SECRET); --app-secret is its old name')
  parser.add_argument('--access-token-ref', '--access-token', type=cli.secret_ref, metavar='REF',
                      default='env:DARAZ_ACCESS_TOKEN',
                      help='secret reference (env:NAME or file:PATH) to the seller access '
                      'token (default env:DARAZ_ACCESS_TOKEN); --access-token is its old name')
  parser.add_argument('--refresh-token-ref', '--refresh-token', type=cli.secret_ref,
                      metavar='REF',
                      help='secret reference (env:NAME or file:PATH) to the refresh token; '
                      'without it an expired access token stops the run; --refresh-token is its '
                      'old name')
  parser.add_argument('--no-items', action='store_true',
                      help='skip GetOrderItems (orders then carry an empty order_items list)')


def build(args: argparse.Namespace) -> DarazAgent:
  config = DarazConfig(args.app_key, args.app_secret_ref, args.access_token_ref,
                       args.refresh_token_ref, base_url=args.base_url or DEFAULT_BASE_URL,
                       fetch_items=not args.no_items)
  return DarazAgent(DarazClient(config, cli.http_config(args, DEFAULT_BASE_URL)))


if __name__ == '__main__':
  sys.exit(cli.main('daraz', __doc__.split('\n\n')[0], add_arguments, build))
