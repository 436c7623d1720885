"""Capacity and cost on paper (docs/CAPACITY.md) from measured per-record costs.

    python -m benchmarks.capacity [--cpu-us-per-record 450] [--embed-ms-per-text 4.0] ...

For 1 M, 10 M and 100 M events a day it prints Kafka partitions, Flink slots and TaskManagers,
Python workers, Weaviate memory for the 384-d HNSW vectors and the Snowflake warehouse time of
the sinks' MERGE cadence at a 2 s and a 60 s flush. Every input is a flag whose default is the
figure measured here (BENCHMARKS.md says where each comes from), so the tables can be redone
when a measurement changes. Arithmetic only: nothing is started.
"""
from __future__ import annotations

import argparse
import math
import sys

DAY_S = 86_400
VOLUMES = (1_000_000, 10_000_000, 100_000_000)
# (--sink_flush_seconds, --snowflake_batch_size): today's defaults, the old 60 s windows, and a
# slow lane whose MERGEs are rare enough for the warehouse to suspend between them.
CADENCES = ((2.0, 500), (60.0, 500), (900.0, 100_000))


def plan(events_per_day: int, a) -> dict:
  avg = events_per_day / DAY_S
  peak = avg * a.peak_factor
  records = peak * a.records_per_event            # normalized records (posts, comments, orders)
  texts = records * a.texts_per_record
  # CPU seconds per second at the peak: the graph without embeddings, plus the model.
  cpu_graph = peak * a.cpu_us_per_record / 1e6
  cpu_embed = texts * (1 - a.embed_cache_hit) * a.embed_ms_per_text / 1e3
  cores = (cpu_graph + cpu_embed) / a.utilization
  slots = max(1, math.ceil(cores))
  # A partition feeds at most one source reader; keep at least as many raw partitions as slots
  # (over 4 raw topics), rounded up to a multiple of 3, never below today's 3 per topic.
  per_topic = max(3, 3 * math.ceil(math.ceil(slots / a.raw_topics) / 3))
  task_managers = math.ceil(slots / a.slots_per_tm)
  objects = events_per_day * a.records_per_event * a.texts_per_record * a.retention_days
  graph_bytes = objects * 2 * a.max_connections * 10   # layer-0 links, ~10 B each
  # In memory per vector: float32 (uncompressed), PQ with dims/4 one-byte segments, BQ one bit
  # per dimension (both keep the full vectors on disk for rescoring).
  weaviate_gb = {name: (objects * per_vector + graph_bytes) * a.memory_headroom / 1e9
                 for name, per_vector in (('float32', a.dimensions * 4), ('PQ', a.dimensions / 4),
                                          ('BQ', a.dimensions / 8))}
  # The warehouse works at the daily mean; the peak decides how many MERGEs run at once.
  merges = merges_per_hour(avg * a.records_per_event, slots, a)
  merges_peak = merges_per_hour(records, slots, a)
  return {'avg': avg, 'peak': peak, 'cores': cores, 'slots': slots, 'partitions': per_topic,
          'task_managers': task_managers, 'workers': slots, 'objects': objects,
          'weaviate_gb': weaviate_gb, 'merges': merges, 'merges_peak': merges_peak,
          'kafka_mb_s': peak * a.event_bytes / 1e6}


def merges_per_hour(records_per_s: float, writers: int, a) -> dict[float, float]:
  """MERGE statements an hour for each flush interval: each writer instance (one per slot)
  keeps one buffer per table (posts, orders) and MERGEs it when it holds batch_size rows or
  its oldest row waited `flush` seconds (the dead letters' table, a trickle, is left out)."""
  out = {}
  per_buffer = records_per_s / (2 * writers)        # rows/s into one instance's table buffer
  for flush, batch_size in CADENCES:
    if per_buffer * flush >= batch_size:
      per_hour = per_buffer * 3600 / batch_size
    elif per_buffer * flush >= 1:
      per_hour = 3600 / flush
    else:
      per_hour = per_buffer * 3600
    out[(flush, batch_size)] = 2 * writers * per_hour
  return out


def warehouse_hours(merges_hour: float, a) -> float:
  """Hours a day the warehouse runs: a MERGE every `flush` seconds keeps it awake whenever the
  gap is shorter than AUTO_SUSPEND; otherwise each MERGE pays the 60 s minimum."""
  if merges_hour == 0:
    return 0.0
  gap = 3600 / merges_hour
  if gap <= a.auto_suspend_s:
    return 24.0
  return 24 * merges_hour * max(60.0, a.merge_s + a.auto_suspend_s) / 3600


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--cpu-us-per-record', type=float, default=450,
                      help='CPU-µs per event through the Flink graph without embeddings, Python '
                      'and JVM (BENCHMARKS.md, Flink rows)')
  parser.add_argument('--embed-ms-per-text', type=float, default=19.0,
                      help='CPU-ms per embedded text (BENCHMARKS.md, plain encode per element)')
  parser.add_argument('--embed-cache-hit', type=float, default=0.0,
                      help='share of texts served by the embedding cache (0: none)')
  parser.add_argument('--records-per-event', type=float, default=1.37,
                      help='normalized records per raw event (Facebook comments; demo data)')
  parser.add_argument('--texts-per-record', type=float, default=0.95,
                      help='share of records with text to embed (a Weaviate object each)')
  parser.add_argument('--event-bytes', type=float, default=2100, help='mean raw event size')
  parser.add_argument('--peak-factor', type=float, default=4.0,
                      help='peak rate over the daily mean (evening peaks, sales days)')
  parser.add_argument('--utilization', type=float, default=0.6,
                      help='CPU share planned at the peak (headroom for catch-up after a restart)')
  parser.add_argument('--slots-per-tm', type=int, default=4, help='task slots (cores) per TaskManager')
  parser.add_argument('--raw-topics', type=int, default=4, help='raw topics (one per source)')
  parser.add_argument('--dimensions', type=int, default=384, help='embedding dimensions')
  parser.add_argument('--max-connections', type=int, default=32, help='HNSW maxConnections')
  parser.add_argument('--memory-headroom', type=float, default=1.5,
                      help='Weaviate memory over vectors + graph (Go heap, caches, imports)')
  parser.add_argument('--retention-days', type=float, default=90,
                      help='days of objects kept in Weaviate')
  parser.add_argument('--merge-s', type=float, default=2.0,
                      help='seconds one MERGE of a batch keeps the warehouse busy (assumed)')
  parser.add_argument('--auto-suspend-s', type=float, default=60,
                      help='warehouse AUTO_SUSPEND seconds (Snowflake bills at least 60 s a resume)')
  parser.add_argument('--max-concurrency', type=int, default=8,
                      help='statements one warehouse cluster runs at once (MAX_CONCURRENCY_LEVEL)')
  parser.add_argument('--credits-per-hour', type=float, default=1.0,
                      help='warehouse credits an hour (X-Small: 1)')
  a = parser.parse_args(argv)
  rows = [(v, plan(v, a)) for v in VOLUMES]
  print('| events a day | mean / peak events/s | Kafka in at peak | raw partitions per topic '
        '| cores at peak | Flink slots | TaskManagers | Python workers |')
  print('| --- | --- | --- | --- | --- | --- | --- | --- |')
  for v, p in rows:
    print(f'| {v:,} | {p["avg"]:,.0f} / {p["peak"]:,.0f} | {p["kafka_mb_s"]:.2f} MB/s | '
          f'{p["partitions"]} | {p["cores"]:.1f} | {p["slots"]} | {p["task_managers"]} '
          f'({a.slots_per_tm} slots) | {p["workers"]} |')
  print(f'\n| events a day | Weaviate objects ({a.retention_days:.0f} days) | memory, '
        f'{a.dimensions}-d float32 | with PQ | with BQ |')
  print('| --- | --- | --- | --- | --- |')
  for v, p in rows:
    w = p['weaviate_gb']
    print(f'| {v:,} | {p["objects"] / 1e6:,.0f} M | {w["float32"]:,.0f} GB | {w["PQ"]:,.0f} GB | '
          f'{w["BQ"]:,.0f} GB |')
  print(f'\n| events a day | flush / rows per MERGE at most | MERGEs an hour (mean) | MERGEs running at once (peak, '
        f'{a.merge_s:.0f} s each) | clusters | warehouse hours a day | credits a day |')
  print('| --- | --- | --- | --- | --- | --- | --- |')
  for v, p in rows:
    for (flush, batch), merges in p['merges'].items():
      busy = p['merges_peak'][(flush, batch)] / 3600 * a.merge_s
      clusters = max(1, math.ceil(busy / a.max_concurrency))
      hours = warehouse_hours(merges, a)
      print(f'| {v:,} | {flush:.0f} s / {batch:,} | {merges:,.0f} | {busy:.1f} | {clusters} | {hours:.1f} | '
            f'{hours * clusters * a.credits_per_hour:.1f} |')
  return 0


if __name__ == '__main__':
  sys.exit(main())
