"""Semantic search over the posts the pipeline stored in Weaviate.

  python -m pipeline.search "eid saree offer"                      # nearest vectors
  python -m pipeline.search "eid saree offer" --hybrid --alpha 0.5 # + BM25 keywords
  python -m pipeline.search "rice cooker" --city Dhaka --since 2026-11-01 --limit 5 --json
  python -m pipeline.search --like EVENT_ID                        # posts like a stored one

The query is embedded with the same model, backend and settings as the pipeline (the --embed_*
flags; give the ones the pipeline ran with). Exit status: 0 with hits or none, 2 for a bad flag or
when Weaviate is down, the collection missing or empty, or the --like post unknown.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence


from pipeline import options as opts

_TEXT_WIDTH = 72
_WEAVIATE_FLAGS = {'weaviate_http_host', 'weaviate_http_port', 'weaviate_grpc_host',
                   'weaviate_grpc_port', 'weaviate_secure', 'weaviate_api_key_ref',
                   'weaviate_posts_collection'}


def _copy_flags(parser, view, title: str, keep) -> None:
  """The flags of another options class that search uses, defined once there, shown here."""
  scratch = argparse.ArgumentParser(add_help=False)
  view._add_argparse_args(scratch)  # pylint: disable=protected-access
  group = parser.add_argument_group(title)
  for action in scratch._actions:  # pylint: disable=protected-access
    if action.option_strings and keep(action.dest):
      group._add_action(action)  # pylint: disable=protected-access


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m pipeline.search', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('query', nargs='?', default=None,
                      help='What to look for, in English or Bangla (not with --like).')
  opts.SearchOptions._add_argparse_args(parser)  # pylint: disable=protected-access
  _copy_flags(parser, opts.TransformOptions, 'Embedding (as for python -m pipeline)',
              lambda dest: dest.startswith('embed_') and dest != 'embed_max_batch_size')
  _copy_flags(parser, opts.SinkOptions, 'Weaviate (as for python -m pipeline)',
              lambda dest: dest in _WEAVIATE_FLAGS)
  return parser


def _one_line(text: str, width: int) -> str:
  text = ' '.join(text.split())
  return text if len(text) <= width else text[:width - 1] + '…'


def format_table(hits, score_name: str) -> str:
  rows = [(f'{h.score:.4f}', h.source or '', h.city or '',
           h.event_time.strftime('%Y-%m-%d %H:%M') if h.event_time else '',
           _one_line(h.text, _TEXT_WIDTH), ' '.join(f'#{t}' for t in h.hashtags))
          for h in hits]
  header = (score_name, 'source', 'city', 'time (UTC)', 'text', 'hashtags')
  widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
  lines = ['  '.join(c.ljust(w) for c, w in zip(header, widths)).rstrip(),
           '  '.join('-' * w for w in widths)]
  lines += ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
  return '\n'.join(lines)


def _city(name: Optional[str]) -> Optional[str]:
  """The canonical city name the pipeline stores (Dhaka for dhaka, ঢাকা, Dhaka-1207 …)."""
  if not name:
    return None
  from transforms.cities import resolve_city
  city = resolve_city([name])
  if city is None:
    raise ValueError(f'--city {name[:40]!r} is none of the cities the pipeline knows')
  return city.name


def _embed_query(args, text: str) -> list[float]:
  from transforms.config import EmbedConfig
  from transforms.embed import load_encoder
  config = EmbedConfig(cache_size=0, **opts.embed_settings(args))
  return list(load_encoder(config).encode([text])[0])


def run(argv: Sequence[str], out=sys.stdout) -> int:
  from connectors.weaviate import WeaviateConfig
  from connectors.weaviate_search import SearchError, SearchFilters, WeaviateSearch

  parser = build_parser()
  args = parser.parse_args(list(argv))
  errors = opts.search_errors(args)
  if bool(args.query) == bool(args.like):
    errors.append('give a query text or --like EVENT_ID (one of them)')
  errors += opts.embed_errors(args, embedding=bool(args.query))
  try:
    city = _city(args.city)
  except ValueError as e:
    errors.append(str(e))
  if errors:
    for error in errors:
      print(f'error: {error}', file=sys.stderr)
    return 2
  filters = SearchFilters(
      source=args.source, city=city,
      since=opts.parse_time(args.since) if args.since else None,
      until=opts.parse_time(args.until) if args.until else None,
      hashtags=tuple(args.hashtag or ()))
  weaviate = WeaviateConfig(
      http_host=args.weaviate_http_host, http_port=args.weaviate_http_port,
      http_secure=args.weaviate_secure, grpc_host=args.weaviate_grpc_host,
      grpc_port=args.weaviate_grpc_port, grpc_secure=args.weaviate_secure,
      api_key_ref=args.weaviate_api_key_ref, posts_collection=args.weaviate_posts_collection,
      timeout_s=30.0)
  try:
    with WeaviateSearch(weaviate) as search:
      total = search.count()
      if args.like:
        vector = search.vector_of(args.like)
        hits = search.near_vector(vector, filters, args.limit, exclude_event_id=args.like)
      else:
        vector = _embed_query(args, args.query)
        hits = (search.hybrid(args.query, vector, args.alpha, filters, args.limit) if args.hybrid
                else search.near_vector(vector, filters, args.limit))
  except SearchError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if args.json:
    json.dump({'query': args.query, 'like': args.like, 'hybrid': args.hybrid,
               'alpha': args.alpha if args.hybrid else None, 'searched': total,
               'hits': [h.as_json() for h in hits]}, out, ensure_ascii=False, indent=2)
    out.write('\n')
  elif hits:
    out.write(format_table(hits, 'fused' if args.hybrid else 'cosine') + '\n')
    out.write(f'{len(hits)} of {total} posts\n')
  else:
    out.write(f'no post of the {total} stored matches the filters\n')
  return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
  os.environ.setdefault('HF_HUB_OFFLINE', '1')
  return run(sys.argv[1:] if argv is None else argv)


if __name__ == '__main__':
  sys.exit(main())
