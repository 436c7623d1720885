"""TikTok agent: Research API videos matching a query, by date window -> the TikTok raw topic.

    python -m agents.tiktok --client-key KEY --client-secret-ref env:TIKTOK_CLIENT_SECRET \
        [--query '{"and": [...]}'] [--once | --interval 3600] [--since 2026-11-01]
"""
from __future__ import annotations

import argparse
import datetime
import sys

from agents import cli
from agents.runner import SourceAgent
from connectors.tiktok import DEFAULT_BASE_URL, MAX_WINDOW_DAYS, TikTokClient, TikTokConfig


class TikTokAgent(SourceAgent):
  """Dates, not times: the API filters by UTC day, so each pass re-reads its last day (and window
  boundaries are read twice: duplicates, never gaps). The Research API indexes videos with a delay,
  hence the one-day lag."""
  source = 'tiktok'
  window = datetime.timedelta(days=MAX_WINDOW_DAYS - 1)
  lag = datetime.timedelta(days=1)
  client: TikTokClient

  @property
  def scope(self) -> str:
    return self.client.tiktok.client_key

  def fetch(self, start, end):
    utc = datetime.timezone.utc
    for videos in self.client.iter_video_pages(start.astimezone(utc).date(),
                                               end.astimezone(utc).date()):
      yield [(_video_id(v), v) for v in videos]


def _video_id(video) -> str | None:
  if not isinstance(video, dict):
    return None
  vid = video.get('id', video.get('video_id'))  # the doc's table says id, its example video_id
  return str(vid) if vid is not None else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--client-key', required=True, help='Research API client key')
  parser.add_argument('--client-secret-ref', '--client-secret', type=cli.secret_ref, metavar='REF',
                      default='env:TIKTOK_CLIENT_SECRET',
                      help='secret reference (env:NAME or file:PATH) to the client secret '
                      '(default env:TIKTOK_CLIENT_SECRET); --client-secret is its old name')
  parser.add_argument('--query', help='Research API query object as JSON (default: region BD)')


def build(args: argparse.Namespace) -> TikTokAgent:
  extra = {'query_text': args.query} if args.query else {}
  config = TikTokConfig(args.client_key, args.client_secret_ref,
                        base_url=args.base_url or DEFAULT_BASE_URL, **extra)
  return TikTokAgent(TikTokClient(config, cli.http_config(args, DEFAULT_BASE_URL)))


if __name__ == '__main__':
  sys.exit(cli.main('tiktok', __doc__.split('\n\n')[0], add_arguments, build))
