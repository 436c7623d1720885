"""The demo generator's command line: `python -m agents.demo --help`."""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import sys
import time
from typing import Optional, Sequence

from agents.demo.generate import DEFAULT_NOW, generate
from agents.demo.publish import CLIENTS, DEFAULT_CLIENT, publish
from agents.demo.records import DemoData
from agents.topics import load_topics

DESCRIPTION = ('Synthetic demo data for every source, in the real API shapes, published to the raw '
               'topics (or printed with --dry-run). Same seed, same bytes.')


def write_pii(path: str, data: DemoData, seed: int) -> None:
  with open(path, 'w', encoding='utf-8') as f:
    json.dump({'seed': seed, 'synthetic': True,
               'values': [p._asdict() for p in data.pii]}, f, ensure_ascii=False, indent=1)


def _parse_now(text: Optional[str]) -> Optional[datetime.datetime]:
  if text is None:
    return None
  if text == 'now':
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
  ts = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
  if ts.tzinfo is None:
    raise argparse.ArgumentTypeError('--now needs a UTC offset, e.g. 2026-11-28T12:00:00Z')
  return ts


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m agents.demo', description=DESCRIPTION)
  parser.add_argument('--bootstrap-servers', help='Kafka brokers host:port[,...]; default: the '
                      'bootstrap_servers of the topics file')
  parser.add_argument('--events', type=int, default=1000,
                      help='number of source events (tiktok/facebook/shopify/daraz), default 1000; '
                      '48 product and 8 weather records come on top')
  parser.add_argument('--seed', type=int, default=42, help='random seed; same seed, same data')
  parser.add_argument('--malformed-share', type=float, default=0.05,
                      help='share of source events that are malformed, 0..1 (default 0.05)')
  parser.add_argument('--pii-out', help='write the planted PII values to this JSON file')
  parser.add_argument('--now', type=_parse_now,
                      help='reference time (ISO-8601 with offset, or "now"); events fall in the '
                      f'6 hours before it. Default {DEFAULT_NOW.isoformat()} for reproducible data')
  parser.add_argument('--topics-file', help='topic config (default pipeline/topics.yaml)')
  parser.add_argument('--topic-prefix', default='',
                      help='prefix every topic name (tests use unique topics)')
  parser.add_argument('--workers', type=int, default=1,
                      help='publishing processes (default 1; one librdkafka process keeps up with '
                      'a local broker, kafka-python needs 2 or more for large --events)')
  parser.add_argument('--client', choices=sorted(CLIENTS), default=DEFAULT_CLIENT,
                      help=f'Kafka client for publishing (default {DEFAULT_CLIENT}; the agents '
                      'use kafka-python, with the same settings)')
  parser.add_argument('--dry-run', action='store_true',
                      help='print the events as JSON lines to stdout instead of publishing')
  args = parser.parse_args(argv)

  topics = load_topics(args.topics_file)
  if args.topic_prefix:
    topics = topics.with_prefix(args.topic_prefix)
  started = time.monotonic()
  data = generate(args.seed, args.events, args.malformed_share, topics=topics, now=args.now)
  gen_s = time.monotonic() - started
  if args.pii_out:
    write_pii(args.pii_out, data, args.seed)
  summary = sys.stderr if args.dry_run else sys.stdout
  if args.dry_run:
    for e in data.events:
      print(json.dumps({'topic': e.topic, 'key': e.key.decode(),
                        'headers': {k: v.decode() for k, v in e.headers},
                        'value': e.value.decode('utf-8', errors='replace')}, ensure_ascii=False))
    counts = data.counts()
  else:
    servers = args.bootstrap_servers or topics.bootstrap_servers
    started = time.monotonic()
    counts = publish(data.events, servers, workers=args.workers, client=args.client,
                     progress=lambda n: print(f'  published {n}/{len(data.events)}', file=sys.stderr))
    pub_s = time.monotonic() - started
    print(f'published {sum(counts.values())} records to {servers} in {pub_s:.2f}s '
          f'({sum(counts.values()) / max(pub_s, 1e-9):,.0f}/s)', file=summary)
  print(f'generated {len(data.events)} records in {gen_s:.2f}s (seed {args.seed})', file=summary)
  for topic, n in counts.items():
    print(f'  {topic:<24} {n:>8}', file=summary)
  reasons = collections.Counter(m.reason.split(':')[0] for m in data.malformed)
  print(f'malformed: {len(data.malformed)} ' + json.dumps(dict(sorted(reasons.items()))),
        file=summary)
  print(f'planted PII values: {len(data.pii)}' + (f' -> {args.pii_out}' if args.pii_out else ''),
        file=summary)
  return 0

