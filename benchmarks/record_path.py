"""The record path as plain calls, per stage: validate, privacy, enrich, output JSON (µs/record).

Runs against the source tree given by --tree (default: this checkout), so that an older commit
can be measured the same way, side by side (bench_transforms --stages-only --baseline REV does
that in one run). Imports nothing of the project at module level: the tree decides what loads.

  python benchmarks/record_path.py [--tree DIR] [--records 5000] [--rounds 3] [--inputs PICKLE]
                                   [--profile N]

Prints one JSON line: {"records": n, "outputs": m, "rounds": [{"validate": µs, ...}, ...]}, or
with --profile N the top N functions of a cProfile of one round (by internal time) instead.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import sys
import time

# Fixed keys (32 random-looking bytes as hex, as the pipeline's keys must be).
_HMAC_KEY = '5f7e94957310158b6243b9dcdb0b38f689f2e58375646f9b6271c6d2e0655e8b'
_DLQ_KEY = '69150964f3a5237959f9475da8d285d457a4cbd4a8098027303eca7819466a28'
_NOW = datetime.datetime(2026, 11, 28, 12, tzinfo=datetime.timezone.utc)
STAGES = ('validate', 'privacy', 'enrich', 'output_json')


def _import_context():
  try:    # where the snapshot builders live differs between versions of the tree
    from transforms.context import product_catalog, weather_snapshot
  except ImportError:
    from transforms.enrich import product_catalog, weather_snapshot
  return weather_snapshot, product_catalog


def demo_inputs(n: int):
  from agents import demo
  from schemas.envelope import RawRecord
  data = demo.generate(seed=3, events=n, malformed_share=0.02, now=demo.DEFAULT_NOW)
  raws, weather, catalog = [], [], []
  for i, e in enumerate(data.events):
    source = dict(e.headers)['source'].decode()
    if source == 'openweather':    # keyed by city id, or city id:hour (weather history)
      weather.append((int(e.key.split(b':', 1)[0]), json.loads(e.value)))
    elif source == 'catalog':
      catalog.append(json.loads(e.value))
    else:
      raws.append(RawRecord(source, e.topic, 0, i, 1_764_000_000_000, e.key, e.value, e.headers))
  return raws, weather, catalog


class RecordPath:
  """The four stages, set up once as the graph's DoFns set them up."""

  def __init__(self, weather_items, catalog_items):
    os.environ.setdefault('MILLIONX_BENCH_HMAC_KEY', _HMAC_KEY)
    os.environ.setdefault('MILLIONX_BENCH_DLQ_KEY', _DLQ_KEY)
    from pipeline.graph import _normalized_to_kv
    from transforms.config import DeadLetterConfig, EnrichConfig
    from transforms.enrich import _EnrichFn
    from transforms.privacy import Shield
    try:      # the normalizers' module since the privacy split; before it, privacy._SHIELDS
      from transforms.normalize import NORMALIZERS as _SHIELDS
    except ImportError:
      from transforms.privacy import _SHIELDS
    from transforms.validate import parse_raw
    weather_snapshot, product_catalog = _import_context()
    self.parse_raw, self.shields, self.to_kv = parse_raw, _SHIELDS, _normalized_to_kv
    self.shield = Shield(_HMAC_KEY.encode(), 'bench')
    self.snapshots = ([weather_snapshot(weather_items, _NOW)], [product_catalog(catalog_items, _NOW)])
    dead_letter = DeadLetterConfig(key_ref='env:MILLIONX_BENCH_DLQ_KEY')
    if 'dead_letter' in {f.name for f in dataclasses.fields(EnrichConfig)}:
      self.enrich = _EnrichFn(EnrichConfig(dead_letter))   # trees before ProcessConfig held it
    else:
      self.enrich = _EnrichFn(EnrichConfig(), dead_letter)
    self.enrich.setup()
    self.enrich.start_bundle()

  def _enrich_function(self):
    """The enrich call the graph makes: the fused chain enriches the records it built in place
    (enriched(..., owned=True)); trees before it call the DoFn's process."""
    enriched = getattr(self.enrich, 'enriched', None)
    if enriched is None:
      return self.enrich.process
    return lambda record, weather, catalogs: enriched(record, weather, catalogs, True)

  def run(self, raws, clock=time.thread_time) -> tuple[dict, int]:
    """Seconds per stage over all `raws`, and the number of outputs. The default clock is this
    thread's CPU time: on a shared machine, wall time also counts the other processes' turns."""
    pc = clock
    parse, shields, shield, to_kv = self.parse_raw, self.shields, self.shield, self.to_kv
    enrich, (weather, catalogs) = self._enrich_function(), self.snapshots
    spent = dict.fromkeys(STAGES, 0.0)
    outputs = 0
    for raw in raws:
      t0 = pc()
      try:
        valid = parse(raw, 2 * 1024 * 1024)
      except ValueError:           # the 2% malformed demo records: dead letters, not timed further
        spent['validate'] += pc() - t0
        continue
      t1 = pc()
      records = list(shields[type(valid.model)](shield, valid, valid.model, _NOW))
      t2 = pc()
      enriched = [out for record in records for out in enrich(record, weather, catalogs)]
      t3 = pc()
      for record in enriched:
        to_kv(record)
      t4 = pc()
      spent['validate'] += t1 - t0
      spent['privacy'] += t2 - t1
      spent['enrich'] += t3 - t2
      spent['output_json'] += t4 - t3
      outputs += len(enriched)
    return spent, outputs


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--tree', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      help='source tree to measure (default: this checkout)')
  parser.add_argument('--records', type=int, default=5000, help='demo source events')
  parser.add_argument('--rounds', type=int, default=3, help='timed rounds after one warm-up')
  parser.add_argument('--inputs', default=None,
                      help='pickle of (raw records, weather items, catalog items) to use instead '
                           'of generating them (so that two trees get the same records)')
  parser.add_argument('--clock', choices=('cpu', 'wall'), default='cpu',
                      help="cpu: this thread's CPU time (default; less disturbed by other load); "
                           'wall: perf_counter')
  parser.add_argument('--profile', type=int, default=0, metavar='N',
                      help='print the top N functions of a cProfile of one round instead')
  args = parser.parse_args(argv)
  sys.path.insert(0, os.path.abspath(args.tree))
  if args.inputs:
    import pickle
    with open(args.inputs, 'rb') as f:
      raws, weather, catalog = pickle.load(f)
  else:
    raws, weather, catalog = demo_inputs(args.records)
  path = RecordPath(weather, catalog)
  path.run(raws)                                  # warm-up: imports, caches, lazy tables
  if args.profile:
    import cProfile
    import pstats
    profile = cProfile.Profile()
    profile.enable()
    path.run(raws)
    profile.disable()
    pstats.Stats(profile, stream=sys.stdout).sort_stats('tottime').print_stats(args.profile)
    return 0
  clock = time.thread_time if args.clock == 'cpu' else time.perf_counter
  rounds, outputs = [], 0
  for _ in range(args.rounds):
    spent, outputs = path.run(raws, clock)
    rounds.append({stage: 1e6 * s / len(raws) for stage, s in spent.items()})
  print(json.dumps({'records': len(raws), 'outputs': outputs, 'rounds': rounds,
                    'cpu_s': time.process_time()}))
  return 0


if __name__ == '__main__':
  sys.exit(main())
