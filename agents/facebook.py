"""Facebook agent: a page's posts (with comments) created since the checkpoint -> raw topic.

    python -m agents.facebook --page-id 104829375601234 --access-token-ref env:FB_PAGE_TOKEN \
        [--once]
"""
from __future__ import annotations

import argparse
import datetime
import sys

from agents import cli
from agents.runner import SourceAgent
from connectors.facebook import DEFAULT_BASE_URL, FacebookClient, FacebookConfig


class FacebookAgent(SourceAgent):
  """A page posts a few times a day: week-long windows keep calls few for a long --since."""
  source = 'facebook'
  window = datetime.timedelta(days=7)
  client: FacebookClient

  @property
  def scope(self) -> str:
    return self.client.fb.page_id

  def fetch(self, start, end):
    for posts in self.client.iter_post_pages(start, end):
      yield [(p.get('id') if isinstance(p, dict) else None, p) for p in posts]


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--page-id', required=True, help='the Facebook page id')
  parser.add_argument('--access-token-ref', '--access-token', type=cli.secret_ref, metavar='REF',
                      default='env:FB_PAGE_TOKEN',
                      help='secret reference (env:NAME or file:PATH) to a page access token '
                      '(default env:FB_PAGE_TOKEN); --access-token is its old name')
  parser.add_argument('--api-version', default='v21.0', help='Graph API version (v21.0)')
  parser.add_argument('--comments-per-post', type=int, default=100,
                      help='at most this many comments kept per post (100)')


def build(args: argparse.Namespace) -> FacebookAgent:
  config = FacebookConfig(args.page_id, args.access_token_ref, api_version=args.api_version,
                          base_url=args.base_url or DEFAULT_BASE_URL,
                          comments_per_post=args.comments_per_post)
  return FacebookAgent(FacebookClient(config, cli.http_config(args, DEFAULT_BASE_URL)))


if __name__ == '__main__':
  sys.exit(cli.main('facebook', __doc__.split('\n\n')[0], add_arguments, build))
