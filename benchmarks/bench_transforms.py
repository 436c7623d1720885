"""Prints throughput and latency figures of the transforms (not a test: numbers depend on the box).

  .local/venv/bin/python -m benchmarks.bench_transforms [--records 20000] [--texts 1024]
  .local/venv/bin/python -m benchmarks.bench_transforms --stages-only [--baseline REV] [--profile N]

--stages-only: µs per record of each stage of the record path as plain calls (validate, privacy,
   enrich, output JSON; benchmarks/record_path.py) on 5,000 demo records, for this tree and, with
   --baseline, for git revision REV side by side (interleaved runs, CPU time, the best kept).
Otherwise:
1. records/s of validate + privacy + enrich on the DirectRunner (target 10,000/s on 2 cores),
   on demo-generator data (agents.demo), plus the same stages called as plain functions;
2. embeddings/s through RunInference vs plain SentenceTransformer.encode on the same texts
   (target ratio >= 0.9), with p50/p95 per-element latency;
3. the dedupe cache's gain on a stream where 30% of texts repeat.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Benchmark-only keys: 32 bytes as hex, as the pipeline requires (connectors/secrets.py).
os.environ.setdefault('MILLIONX_BENCH_HMAC_KEY', ''.join(f'{i:02x}' for i in range(101, 133)))
os.environ.setdefault('MILLIONX_BENCH_DLQ_KEY', ''.join(f'{i:02x}' for i in range(140, 172)))
os.environ['HF_HUB_OFFLINE'] = '1'

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from schemas.envelope import RawRecord  # noqa: E402
from transforms.config import (DeadLetterConfig, EmbedConfig, EnrichConfig,  # noqa: E402
                               PrivacyConfig, ValidationConfig, default_model_dir)
from transforms.context import (ProductCatalogFile, ProductSideInput,  # noqa: E402
                                WeatherSideInput, WeatherSnapshotFile, product_catalog,
                                weather_snapshot)
from transforms.enrich import EnrichRecords, _EnrichFn  # noqa: E402
from transforms.normalize import NORMALIZERS as _SHIELDS  # noqa: E402
from transforms.privacy import PrivacyShield, Shield  # noqa: E402
from transforms.validate import ValidateRecords, parse_raw  # noqa: E402


def _pct(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(q * len(values)))]


def demo_inputs(n: int):
  from agents import demo
  data = demo.generate(seed=3, events=n, malformed_share=0.02)
  raws, weather, catalog = [], [], []
  for i, e in enumerate(data.events):
    source = dict(e.headers)['source'].decode()
    if source == 'openweather':
      weather.append((int(e.key.split(b':', 1)[0]), json.loads(e.value)))  # city id[:hour]
    elif source == 'catalog':
      catalog.append(json.loads(e.value))
    else:
      raws.append(RawRecord(source, e.topic, 0, i, 1_764_000_000_000, e.key, e.value, e.headers))
  return raws, weather, catalog


def configs():
  dlq = DeadLetterConfig(key_ref='env:MILLIONX_BENCH_DLQ_KEY')
  return (ValidationConfig(), PrivacyConfig(hmac_key_ref='env:MILLIONX_BENCH_HMAC_KEY'),
          EnrichConfig(), dlq)


def _load_pickled(path):
  """Inputs are read on the worker: beam.Create would pickle + bz2 them into the graph (slow)."""
  with open(path, 'rb') as f:
    yield from pickle.load(f)


def bench_pipeline(raws_path, n, weather_path, catalog_path, runner_args, stages=True):
  """Wall seconds of one DirectRunner run: read the records, (validate, privacy, enrich), count."""
  validation, privacy, enrich, dlq = configs()
  options = PipelineOptions(runner_args)
  started, cpu_started = time.perf_counter(), time.process_time()
  with beam.Pipeline(options=options) as p:
    records = p | beam.Create([raws_path]) | 'ReadRecords' >> beam.FlatMap(_load_pickled)
    if stages:
      weather = p | 'Weather' >> WeatherSideInput(WeatherSnapshotFile(weather_path))
      products = p | 'Products' >> ProductSideInput(ProductCatalogFile(catalog_path))
      valid = (records | ValidateRecords(validation, dlq)).valid
      shielded = valid | PrivacyShield(privacy, dlq)
      records = (shielded.records
                 | EnrichRecords(enrich, dlq, weather=weather, products=products)).records
    _ = records | beam.combiners.Count.Globally()
  return time.perf_counter() - started, time.process_time() - cpu_started


def bench_functions(raws, weather_items, catalog_items):
  """The same three stages as plain calls: per-element latency without the runner."""
  _, privacy, enrich, dlq = configs()
  shield = Shield(os.environ['MILLIONX_BENCH_HMAC_KEY'].encode())
  snap = weather_snapshot(weather_items, time_now())
  cat = product_catalog(catalog_items, time_now())
  fn = _EnrichFn(enrich, dlq)
  fn.setup()
  fn.start_bundle()
  latencies, n_out = [], 0
  started = time.perf_counter()
  for raw in raws:
    t0 = time.perf_counter()
    try:
      valid = parse_raw(raw, 2 * 1024 * 1024)
    except ValueError:  # invalid demo records (ValidationError and friends) are skipped
      continue
    for record in _SHIELDS[type(valid.model)](shield, valid, valid.model, time_now()):
      n_out += sum(1 for _ in fn.process(record, [snap], [cat]))
    latencies.append((time.perf_counter() - t0) * 1e6)
  return time.perf_counter() - started, latencies, n_out


def time_now():
  import datetime
  return datetime.datetime.now(datetime.timezone.utc)


def embedding_texts(raws, n):
  """Scrubbed texts as the chain builds them (caption + hashtags, product titles)."""
  from transforms.embed import embedding_text
  shield = Shield(b'bench')
  texts = []
  for raw in raws:
    try:
      valid = parse_raw(raw, 2 * 1024 * 1024)
    except ValueError:
      continue
    for record in _SHIELDS[type(valid.model)](shield, valid, valid.model, time_now()):
      text = embedding_text(record)
      if text:
        texts.append(text)
  unique = list(dict.fromkeys(texts))
  rng = random.Random(5)
  while len(unique) < n:  # demo captions repeat: vary them to get n distinct texts
    unique.append(f'{rng.choice(unique)} #{len(unique)}')
  return unique[:n]


def bench_embeddings(texts, batch_size, rounds):
  """Plain encode and RunInference, interleaved `rounds` times; the best of each is compared
  (the shared 2-core box is noisy: the minimum is the least disturbed run)."""
  from apache_beam.ml.inference.base import RunInference
  from transforms.embed import SentenceTransformerModelHandler, load_sentence_transformer
  config = EmbedConfig(min_batch_size=batch_size, max_batch_size=batch_size,
                       max_batch_duration_secs=None, cache_size=0)
  model = load_sentence_transformer(default_model_dir())
  model.encode(texts[:batch_size], batch_size=batch_size)  # warm-up
  handler = SentenceTransformerModelHandler(config)
  with beam.Pipeline() as p:  # loads the model into the process-wide Shared handle
    _ = p | beam.Create(texts[:batch_size]) | RunInference(handler)

  plain_runs, beam_runs, batch_latencies = [], [], []
  plain_cpu, beam_cpu = [], []
  for _ in range(rounds):
    started, cpu_started = time.perf_counter(), time.process_time()
    for i in range(0, len(texts), batch_size):
      t0 = time.perf_counter()
      model.encode(texts[i:i + batch_size], batch_size=batch_size, normalize_embeddings=True,
                   show_progress_bar=False)
      batch_latencies.append(time.perf_counter() - t0)
    plain_runs.append(time.perf_counter() - started)
    plain_cpu.append(time.process_time() - cpu_started)
    started, cpu_started = time.perf_counter(), time.process_time()
    with beam.Pipeline() as p:
      _ = (p | beam.Create(texts, reshuffle=False) | RunInference(handler)
           | beam.combiners.Count.Globally())
    beam_runs.append(time.perf_counter() - started)
    beam_cpu.append(time.process_time() - cpu_started)
  per_element_ms = [1000 * b / batch_size for b in batch_latencies]
  return plain_runs, beam_runs, batch_latencies, per_element_ms, model, plain_cpu, beam_cpu


def bench_cache(model, texts, rounds, repeat_share=0.3):
  """The same stream (30% of texts repeat earlier ones) through CachedEncoder without and with
  the cache; best of `rounds` each."""
  from transforms.embed import CachedEncoder
  rng = random.Random(9)
  n_unique = int(len(texts) * (1 - repeat_share))
  base = texts[:n_unique]
  stream = base + [rng.choice(base) for _ in range(len(texts) - n_unique)]
  rng.shuffle(stream)
  results = {'no cache': [], 'cache': []}
  calls = {}
  for _ in range(rounds):
    for label, size in (('no cache', 0), ('cache', 50_000)):
      encoder = CachedEncoder(model, 'bench', size)
      started = time.perf_counter()
      for i in range(0, len(stream), 64):
        encoder.encode(stream[i:i + 64])
      results[label].append(time.perf_counter() - started)
      calls[label] = encoder.misses
  return {k: (min(v), calls[k]) for k, v in results.items()}


_STAGE_LABELS = (('validate', 'validate'), ('privacy', 'privacy'), ('enrich', 'enrich'),
                 ('output_json', 'output JSON'))


def _stage_run(tree: str, inputs: str, rounds: int) -> dict:
  """One record_path.py process on `tree`: the best µs/record per stage of `rounds` rounds."""
  import subprocess
  script = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'record_path.py')
  done = subprocess.run([sys.executable, script, '--tree', tree, '--inputs', inputs,
                         '--rounds', str(rounds)], cwd=tree, check=True, capture_output=True,
                        text=True, env=dict(os.environ, PYTHONHASHSEED='0'))
  result = json.loads(done.stdout.strip().splitlines()[-1])
  return {stage: min(r[stage] for r in result['rounds']) for stage, _ in _STAGE_LABELS}


def bench_stages(records: int, runs: int, baseline: str = None, profile: int = 0) -> int:
  """Per-stage µs/record of this tree (and of git revision `baseline`), printed side by side."""
  import subprocess
  from benchmarks import record_path
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  tmp = tempfile.mkdtemp(prefix='bench-stages-')
  inputs = os.path.join(tmp, 'inputs.pickle')
  raws, weather_items, catalog_items = record_path.demo_inputs(records)
  with open(inputs, 'wb') as f:
    pickle.dump((raws, weather_items, catalog_items), f)
  trees = [('this tree', root)]
  if baseline:
    old = os.path.join(tmp, 'baseline')
    os.mkdir(old)
    archive = subprocess.run(['git', 'archive', baseline], cwd=root, check=True,
                             capture_output=True).stdout
    subprocess.run(['tar', '-x', '-C', old], input=archive, check=True)
    trees.insert(0, (baseline, old))
  best = {label: {} for label, _ in trees}
  for run in range(runs):       # interleaved, alternating the order: neither tree always first
    for label, tree in (trees if run % 2 == 0 else trees[::-1]):
      for stage, us in _stage_run(tree, inputs, 2).items():
        best[label][stage] = min(us, best[label].get(stage, float('inf')))
  print(f'record path as plain calls, {len(raws)} demo records (2% malformed), '
        f'µs per record (CPU time, best of {runs} runs x 2 rounds):')
  header = f'  {"stage":<12}' + ''.join(f'{label:>16}' for label, _ in trees)
  print(header + ('      ratio' if baseline else ''))
  totals = {label: sum(best[label].values()) for label, _ in trees}
  for stage, name in _STAGE_LABELS + (('total', 'total'),):
    values = [totals[label] if stage == 'total' else best[label][stage] for label, _ in trees]
    line = f'  {name:<12}' + ''.join(f'{v:>16.1f}' for v in values)
    if baseline:
      line += f'{values[0] / values[1]:>10.2f}x'
    print(line)
  print(f'load average during the run: {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
  if profile:
    subprocess.run([sys.executable, os.path.join(root, 'benchmarks', 'record_path.py'), '--tree',
                    root, '--inputs', inputs, '--profile', str(profile)], cwd=root, check=True)
  return 0


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--stages-only', action='store_true',
                      help='only the per-stage µs/record of the record path as plain calls')
  parser.add_argument('--baseline', default=None, metavar='REV',
                      help='with --stages-only: also measure git revision REV (e.g. a commit '
                           'before a change), side by side with this tree')
  parser.add_argument('--profile', type=int, default=0, metavar='N',
                      help='with --stages-only: then print the top N functions of a cProfile '
                           "of this tree's record path")
  parser.add_argument('--records', type=int, default=None,
                      help='source events to generate (default 20000; 5000 with --stages-only)')
  parser.add_argument('--texts', type=int, default=1024, help='texts to embed')
  parser.add_argument('--batch-size', type=int, default=64, help='embedding batch size')
  parser.add_argument('--rounds', type=int, default=3, help='interleaved runs; the best is kept')
  parser.add_argument('--skip-embeddings', action='store_true', help='only the CPU stages')
  parser.add_argument('--multi-processing', action='store_true',
                      help='also run the DirectRunner with 2 worker processes (slow here)')
  args = parser.parse_args(argv)
  if args.stages_only:
    return bench_stages(args.records or 5000, args.rounds, args.baseline, args.profile)
  if args.baseline or args.profile:
    parser.error('--baseline and --profile go with --stages-only')
  args.records = args.records or 20000

  raws, weather_items, catalog_items = demo_inputs(args.records)
  tmp = tempfile.mkdtemp(prefix='bench-')
  weather_path, catalog_path = os.path.join(tmp, 'weather.json'), os.path.join(tmp, 'catalog.json')
  with open(weather_path, 'w') as f:
    json.dump({str(k): v for k, v in weather_items}, f)
  with open(catalog_path, 'w') as f:
    json.dump(catalog_items, f)
  print(f'cores: {os.cpu_count()}  records: {len(raws)} (demo generator, 2% malformed)')

  fn_s, latencies, n_out = bench_functions(raws, weather_items, catalog_items)
  print(f'validate+privacy+enrich as plain calls: {len(raws) / fn_s:,.0f} records/s  '
        f'p50 {_pct(latencies, .5):.0f} µs  p95 {_pct(latencies, .95):.0f} µs per record '
        f'({n_out} outputs)')
  raws_path = os.path.join(tmp, 'raws.pickle')
  with open(raws_path, 'wb') as f:
    pickle.dump(raws, f)
  modes = [('in-process, 1 worker', [])]
  if args.multi_processing:
    modes.append(('2 workers, multi_processing',
                  ['--direct_num_workers=2', '--direct_running_mode=multi_processing']))
  for label, runner_args in modes:
    baseline, baseline_cpu = bench_pipeline(raws_path, len(raws), weather_path, catalog_path,
                                            runner_args, False)
    seconds, cpu = bench_pipeline(raws_path, len(raws), weather_path, catalog_path, runner_args)
    print(f'validate+privacy+enrich on DirectRunner ({label}): '
          f'{len(raws) / seconds:,.0f} records/s wall ({seconds:.1f} s incl. start-up); '
          f'{len(raws) / max(1e-9, seconds - baseline):,.0f} records/s net of a read+count '
          f'baseline run ({baseline:.1f} s); {len(raws) / max(1e-9, cpu - baseline_cpu):,.0f} '
          f'records per CPU-second (net)')

  if args.skip_embeddings:
    return 0
  texts = embedding_texts(raws, args.texts)
  plain_runs, beam_runs, batch_lat, per_el, model, plain_cpu, beam_cpu = bench_embeddings(
      texts, args.batch_size, args.rounds)
  plain_rate, beam_rate = len(texts) / min(plain_runs), len(texts) / min(beam_runs)
  print(f'embeddings, {len(texts)} distinct texts, batch {args.batch_size}, best of {args.rounds}:')
  print(f'  SentenceTransformer.encode: {plain_rate:,.0f} texts/s '
        f'(runs: {", ".join(f"{s:.1f}" for s in plain_runs)} s)')
  print(f'  RunInference (DirectRunner, incl. pipeline start-up): {beam_rate:,.0f} texts/s '
        f'(runs: {", ".join(f"{s:.1f}" for s in beam_runs)} s)  ratio {beam_rate / plain_rate:.2f} '
        f'best, {statistics.median(plain_runs) / statistics.median(beam_runs):.2f} median')
  print(f'  per CPU-second (less sensitive to other load): encode {len(texts) / min(plain_cpu):,.1f}, '
        f'RunInference {len(texts) / min(beam_cpu):,.1f} texts/CPU-s, '
        f'ratio {min(plain_cpu) / min(beam_cpu):.2f}')
  print(f'  batch latency p50 {1000 * _pct(batch_lat, .5):.0f} ms  p95 {1000 * _pct(batch_lat, .95):.0f} ms; '
        f'per element (batch / {args.batch_size}) p50 {_pct(per_el, .5):.1f} ms  p95 {_pct(per_el, .95):.1f} ms')
  cache = bench_cache(model, texts, args.rounds)
  (no_s, no_m), (c_s, c_m) = cache['no cache'], cache['cache']
  print(f'dedupe cache, 30% repeated texts: {no_s:.2f} s / {no_m} texts through the model without, '
        f'{c_s:.2f} s / {c_m} with: {no_s / c_s:.2f}x faster')
  print(f'load average during the run: {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
