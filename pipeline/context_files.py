"""Snapshot the compacted context topics (weather, products) into the files the side inputs load.

Bounded runs load their snapshots once; this turns the latest value per key of
`context.weather` (key: city id and hour, `1185241:2026-11-28T11`: so the file holds each city's
history, which enrichment picks the observation nearest each record's event time from) and
`context.products` (key: SKU) into `--weather_snapshot` and `--product_catalog` files:

    python -m pipeline.context_files --out-dir .local/context
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

from pipeline.topics import TOPICS_FILE, load_topics


def latest_by_key(bootstrap_servers: str, topic: str, timeout_ms: int = 5000) -> dict[bytes, bytes]:
  """The last value of every key in `topic` (what compaction keeps), read from the beginning."""
  from kafka import KafkaConsumer, TopicPartition
  consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                           consumer_timeout_ms=timeout_ms)
  try:
    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
    consumer.assign(partitions)
    consumer.seek_to_beginning(*partitions)
    end = consumer.end_offsets(partitions)
    latest = {}
    while any(consumer.position(tp) < end[tp] for tp in partitions):
      batch = consumer.poll(timeout_ms=timeout_ms)
      if not batch:
        break
      for records in batch.values():
        for r in records:
          if r.key is not None and r.value is not None:
            latest[r.key] = r.value
    return latest
  finally:
    consumer.close()


def write_context_files(bootstrap_servers: str, out_dir: str, weather_topic: str = 'context.weather',
                        products_topic: str = 'context.products') -> tuple[str, str, int, int]:
  os.makedirs(out_dir, exist_ok=True)
  weather = {k.decode(): json.loads(v) for k, v in latest_by_key(bootstrap_servers, weather_topic).items()}
  products = [json.loads(v) for v in latest_by_key(bootstrap_servers, products_topic).values()]
  weather_path = os.path.join(out_dir, 'weather_snapshot.json')
  catalog_path = os.path.join(out_dir, 'product_catalog.json')
  with open(weather_path, 'w', encoding='utf-8') as f:
    json.dump(weather, f, ensure_ascii=False)
  with open(catalog_path, 'w', encoding='utf-8') as f:
    json.dump(products, f, ensure_ascii=False)
  return weather_path, catalog_path, len(weather), len(products)


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m pipeline.context_files', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--out-dir', required=True, help='folder for weather_snapshot.json and product_catalog.json')
  parser.add_argument('--bootstrap-servers', default=None, help='Kafka (default: from pipeline/topics.yaml)')
  args = parser.parse_args(argv)
  servers = args.bootstrap_servers or load_topics(TOPICS_FILE).bootstrap_servers
  weather_path, catalog_path, n_weather, n_products = write_context_files(servers, args.out_dir)
  print(f'{n_weather} observations -> {weather_path}; {n_products} products -> {catalog_path}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
