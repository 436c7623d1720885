"""After a run: do Snowflake and Weaviate hold the same events?

Posts and orders are written to both sinks under the same key (Snowflake EVENT_ID, Weaviate
object id = event_id). This lists the event ids each holds, per source, and the differences.

    python -m pipeline.reconcile --local
"""
from __future__ import annotations

import argparse
import collections
import sys
from typing import Optional, Sequence

from connectors.snowflake import connect
from connectors.snowflake_migrate import local_config
from connectors.snowflake_tables import MARKET_ORDERS, SOCIAL_POSTS
from connectors.weaviate import WeaviateConfig, open_client


def snowflake_events(config) -> dict[str, set[str]]:
  conn = connect(config)
  try:
    cur = conn.cursor()
    out = collections.defaultdict(set)
    for table in (SOCIAL_POSTS, MARKET_ORDERS):
      cur.execute(f'SELECT EVENT_ID, SOURCE FROM {config.qualified(table)}')  # table names are constants
      for event_id, source in cur.fetchall():
        out[source].add(str(event_id))
    return out
  finally:
    conn.close()


def weaviate_events(config: WeaviateConfig) -> dict[str, set[str]]:
  client = open_client(config)
  try:
    out = collections.defaultdict(set)
    for name in (config.posts_collection, config.orders_collection):
      collection = client.collections.get(name)
      for obj in collection.iterator(return_properties=['source']):
        out[obj.properties.get('source') or 'unknown'].add(str(obj.uuid))
    return out
  finally:
    client.close()


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m pipeline.reconcile', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--local', action='store_true', required=True,
                      help='the local stack\'s fakesnow server and Weaviate (the only mode for now)')
  parser.parse_args(argv)
  snow = snowflake_events(local_config())
  weav = weaviate_events(WeaviateConfig())
  ok = True
  print('Snowflake vs Weaviate (event ids per source)')
  for source in sorted(set(snow) | set(weav)):
    s, w = snow.get(source, set()), weav.get(source, set())
    agree = s == w
    ok &= agree
    print(f'  {source:<10} snowflake {len(s):>6}  weaviate {len(w):>6}  '
          f'{"agree" if agree else f"DIFFER: {len(s - w)} only in Snowflake, {len(w - s)} only in Weaviate"}')
  return 0 if ok else 1


if __name__ == '__main__':
  sys.exit(main())
