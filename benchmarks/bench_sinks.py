"""Prints throughput figures of the sinks against the clients' own bulk paths, in one run.

  .local/venv/bin/python -m benchmarks.bench_sinks [--rows 2000] [--objects 3000]

Needs the local servers (./run_local.sh start, or stack/stack.sh start snowflake weaviate).

1. Snowflake (local fakesnow): rows/s through WriteToSnowflake on the DirectRunner (stage,
   MERGE, COMMIT per batch; whole pipeline wall time, start-up included) against the
   connector's own `executemany` of the same rows (same batch size, server-side qmark
   binding) into a plain table. The sink binds each batch as one JSON parameter, which the
   local emulator runs as one statement where executemany runs one per row.
2. Weaviate: objects/s through WriteToWeaviate on the DirectRunner against the v4 client's
   own `batch.fixed_size` import of the same objects (same batch size), each into a fresh
   collection. Target for both: sink / client >= 0.8.
Each path runs `--reps` times, interleaved, and its best time counts (the box is shared).
Each sink figure is also given net of a DirectRunner run that makes the same records and
drops them (the runner's fixed and per-element cost, which the clients alone do not pay), and
with how the sink cut its batches (items per batch, and flushed full / by time / at bundle end).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import apache_beam as beam  # noqa: E402

from connectors.sink_results import METRICS_NAMESPACE  # noqa: E402
from connectors.snowflake import WriteToSnowflake, connect  # noqa: E402
from connectors.snowflake_tables import TABLES, rows_for  # noqa: E402
from connectors.weaviate import (VECTOR_NAME, WriteToWeaviate, ensure_collections,  # noqa: E402
                                 open_client, to_object)
from tests.integration import sink_helpers as h  # noqa: E402


@functools.lru_cache(maxsize=None)
def _unit_vector(i: int, dim: int = 384) -> tuple[float, ...]:
  """A seeded random unit vector, made once per process: both paths start from ready
  vectors, so neither timing includes drawing 384 random numbers per record."""
  rng = random.Random(7_000_003 * i + 11)
  vector = [rng.gauss(0, 1) for _ in range(dim)]
  norm = sum(x * x for x in vector) ** 0.5
  return tuple(x / norm for x in vector)


def _record(i: int):
  """Post i with its vector: the same record wherever it is built."""
  return h.post(i, with_weather=False, embedding=_unit_vector(i))


def _records(n: int):
  return [_record(i) for i in range(n)]


def _drop(_):
  return None


_BATCHES: dict[str, str] = {}   # sink -> how its batches were cut, from the last sink run


def _run_pipeline(n: int, transform, sink: str = '') -> float:
  """Seconds of a DirectRunner run that builds posts 0..n-1 on the worker and applies
  `transform` (the records are made in the pipeline, so the graph does not carry them)."""
  start = time.perf_counter()
  result = h.run_pipeline(lambda p: (p | 'Create' >> beam.Create(list(range(n)))
                                     | 'MakeRecords' >> beam.Map(_record) | 'Write' >> transform))
  seconds = time.perf_counter() - start
  if sink:
    _BATCHES[sink] = _batching(result, sink)
  return seconds


def _batching(result, sink: str) -> str:
  """Items per batch (rows per MERGE, objects per insert_many) and why batches were flushed."""
  from apache_beam.metrics.metric import MetricsFilter
  metrics = result.metrics().query(MetricsFilter().with_namespace(METRICS_NAMESPACE))
  sizes = [d.committed for d in metrics['distributions'] if d.key.metric.name == f'{sink}_batch_size']
  counts = {c.key.metric.name: c.committed for c in metrics['counters']}
  flushed = ', '.join(f'{reason} {counts.get(f"num_{sink}_flushed_{reason}", 0)}'
                      for reason in ('full', 'by_time', 'at_bundle_end'))
  if not sizes or not sizes[0] or not sizes[0].count:
    return 'no batch metrics'
  size = sizes[0]
  return (f'{size.count} batches of {size.sum / size.count:.0f} on average (min {size.min}, '
          f'max {size.max}); flushed: {flushed}')


def _figures(n: int, client_s: float, sink_s: float, empty_s: float) -> dict:
  return {'n': n, 'client_per_s': n / client_s, 'sink_per_s': n / sink_s,
          'ratio': client_s / sink_s, 'net_per_s': n / max(sink_s - empty_s, 1e-9),
          'net_ratio': client_s / max(sink_s - empty_s, 1e-9)}


def _snowflake_client_s(config, values, batch_size: int, table: str) -> float:
  """The connector alone: executemany of the row tuples, batch by batch, into a plain table."""
  spec = TABLES['SOCIAL_POSTS']
  conn = connect(config)
  try:
    cursor = conn.cursor()
    cursor.execute(f'CREATE TABLE {config.qualified(table)} '
                   f'({", ".join(f"{c} VARCHAR" for c in spec.column_names)})')
    insert = (f'INSERT INTO {config.qualified(table)} ({", ".join(spec.column_names)}) '
              f'VALUES ({", ".join(["?"] * len(spec.columns))})')
    start = time.perf_counter()
    for i in range(0, len(values), batch_size):
      cursor.executemany(insert, values[i:i + batch_size])
    return time.perf_counter() - start
  finally:
    conn.close()


def bench_snowflake(n: int, batch_size: int, reps: int) -> dict:
  """Best of `reps` interleaved runs of each path (the box is shared: load comes and goes)."""
  values = [row.values for record in _records(n) for row in rows_for(record)]
  client, sink = [], []
  for rep in range(reps):
    with h.snowflake_schema() as config:
      config = dataclasses.replace(config, batch_size=batch_size)
      client.append(_snowflake_client_s(config, values, batch_size, f'BENCH_EXECUTEMANY_{rep}'))
      sink.append(_run_pipeline(n, WriteToSnowflake(config), 'snowflake'))
      assert h.count(config, 'SOCIAL_POSTS') == n
  return _figures(n, min(client), min(sink), _run_pipeline(n, beam.Map(_drop)))


def _weaviate_client_s(config, objects, batch_size: int) -> float:
  """The v4 client alone: batch.fixed_size import into a fresh collection; checks every object."""
  with open_client(config) as client:
    ensure_collections(client, config)
    collection = client.collections.get(config.posts_collection)
    try:
      start = time.perf_counter()
      with collection.batch.fixed_size(batch_size=batch_size, concurrent_requests=1) as batch:
        for o in objects:
          batch.add_object(properties=o.properties, uuid=o.uuid, vector={VECTOR_NAME: o.vector})
      seconds = time.perf_counter() - start
      failed = len(collection.batch.failed_objects)
      stored = collection.aggregate.over_all(total_count=True).total_count
    finally:
      client.collections.delete([config.posts_collection, config.orders_collection])
  assert failed == 0 and stored == len(objects), (failed, stored)
  return seconds


def bench_weaviate(n: int, batch_size: int, reps: int) -> dict:
  records = _records(n)
  client, sink = [], []
  for rep in range(reps):
    with h.weaviate_collections(batch_size=batch_size) as config:
      objects = [to_object(r, config) for r in records]
      client.append(_weaviate_client_s(dataclasses.replace(
          config, posts_collection=f'{config.posts_collection}Client{rep}',
          orders_collection=f'{config.orders_collection}Client{rep}'), objects, batch_size))
      sink.append(_run_pipeline(n, WriteToWeaviate(config), 'weaviate'))
      assert h.weaviate_count(config, config.posts_collection) == n
  return _figures(n, min(client), min(sink), _run_pipeline(n, beam.Map(_drop)))


def _print(name, unit, batch, client, sink, f) -> None:
  print(f"{name:<10} {f['n']} {unit}, batch {batch}: {client} {f['client_per_s']:.0f} {unit}/s; "
        f"{sink} {f['sink_per_s']:.0f} {unit}/s (ratio {f['ratio']:.2f}); net of the "
        f"DirectRunner run making the same records without writing: {f['net_per_s']:.0f} "
        f"{unit}/s (ratio {f['net_ratio']:.2f})")
  print(f"{'':<10} {sink}: {_BATCHES.get(name, 'no batch metrics')}")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--rows', type=int, default=2000, help='Rows for the Snowflake figures.')
  parser.add_argument('--objects', type=int, default=3000, help='Objects for the Weaviate figures.')
  parser.add_argument('--snowflake-batch', type=int, default=500, help='Rows per batch, both paths.')
  parser.add_argument('--weaviate-batch', type=int, default=200, help='Objects per batch, both paths.')
  parser.add_argument('--reps', type=int, default=2, help='Interleaved runs of each path; best counts.')
  args = parser.parse_args(argv)

  sf = bench_snowflake(args.rows, args.snowflake_batch, args.reps)
  _print('snowflake', 'rows', args.snowflake_batch, 'connector executemany', 'WriteToSnowflake', sf)
  wv = bench_weaviate(args.objects, args.weaviate_batch, args.reps)
  _print('weaviate', 'objects', args.weaviate_batch, 'client batch import', 'WriteToWeaviate', wv)
  return 0


if __name__ == '__main__':
  sys.exit(main())
