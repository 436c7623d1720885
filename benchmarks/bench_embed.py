"""Embedding backends side by side on the same demo texts (not a test: numbers depend on the box).

  .local/venv/bin/python -m benchmarks.bench_embed [--texts 1024] [--rounds 2] [--events 2000]

1. texts/s of plain SentenceTransformer.encode (the baseline: batches of 64, as the pipeline
   embedded before the ONNX backends) and of RunInference with each backend (torch, onnx,
   onnx-int8), each without and with token-length bucketing; p50/p95 latency per batch and per
   element (a batch's model time divided by its texts), texts per CPU-second;
2. intra-op threads 1 vs 2 for the default backend, in RunInference and as direct model calls
   (many short interleaved rounds, medians: less exposed to the box's other load);
3. the whole graph (validate → privacy → enrich → embed) on the DirectRunner, records/s, without
   embeddings, with the old torch path and with the default backend;
4. the quality gate's figures (mean cosine, top-10 neighbour overlap vs torch fp32) and the
   retrieval evaluation (precision@10 / recall@10, English and Bangla queries) per backend.

Configurations run interleaved, `--rounds` times; the best run of each is reported (the shared
2-core box is noisy: the least disturbed run is the fairest). Ratios are to plain encode.
"""
from __future__ import annotations

import argparse
import os
import pickle
import secrets
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ['HF_HUB_OFFLINE'] = '1'
os.environ.setdefault('MILLIONX_BENCH_DLQ_KEY', secrets.token_hex(32))
os.environ.setdefault('MILLIONX_BENCH_HMAC_KEY', secrets.token_hex(32))

import apache_beam as beam  # noqa: E402
import numpy as np  # noqa: E402

from benchmarks import embed_data  # noqa: E402
from transforms.config import (DEFAULT_EMBED_BACKEND, DeadLetterConfig, EmbedConfig,  # noqa: E402
                               default_model_dir)

BATCH = 64
BUCKET = EmbedConfig.__dataclass_fields__['bucket_size'].default   # the pipeline's default
_BATCH_TIMES: dict[str, list[tuple[float, int]]] = {}   # label → (seconds, texts) per model call


def _pct(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(q * len(values)))] if values else float('nan')


def _dlq():
  return DeadLetterConfig(key_ref='env:MILLIONX_BENCH_DLQ_KEY')


def embed_config(backend, bucket, threads=None, **kwargs):
  return EmbedConfig(backend=backend, bucket_size=bucket, threads=threads,
                     min_batch_size=BATCH, max_batch_size=BATCH, max_batch_duration_secs=None,
                     cache_size=0, **kwargs)


def _registry():
  """This module by its import name: the handler is pickled by value when this file runs as
  __main__, and would record into a copy; the imported module's dict is the one shared."""
  import benchmarks.bench_embed as module  # pylint: disable=import-self
  return module._BATCH_TIMES


def _timed_handler(config, label):
  """The pipeline's model handler, timing each run_inference call (in-process runner)."""
  from transforms.embed import EmbeddingModelHandler

  class _Timed(EmbeddingModelHandler):
    def run_inference(self, batch, model, inference_args=None):
      t0 = time.perf_counter()
      out = super().run_inference(batch, model, inference_args)
      _registry().setdefault(label, []).append((time.perf_counter() - t0, len(batch)))
      return out

  return _Timed(config)


class Run:
  def __init__(self, label):
    self.label = label
    self.walls, self.cpus, self.steady = [], [], []

  def best(self, n):
    return n / min(self.steady or self.walls)


def run_plain(model, texts, whole):
  t0, c0 = time.perf_counter(), time.process_time()
  times = []
  if whole:   # SentenceTransformer sorts the whole list by length itself
    model.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
  else:
    for i in range(0, len(texts), BATCH):
      b0 = time.perf_counter()
      model.encode(texts[i:i + BATCH], batch_size=BATCH, normalize_embeddings=True,
                   show_progress_bar=False)
      times.append((time.perf_counter() - b0, len(texts[i:i + BATCH])))
  return time.perf_counter() - t0, time.process_time() - c0, times


def run_inference(config, texts, label):
  from apache_beam.ml.inference.base import RunInference
  handler = _timed_handler(config, label)
  _registry().pop(label, None)
  t0, c0 = time.perf_counter(), time.process_time()
  with beam.Pipeline() as p:
    _ = (p | beam.Create(texts, reshuffle=False) | RunInference(handler)
         | beam.combiners.Count.Globally())
  wall, cpu = time.perf_counter() - t0, time.process_time() - c0
  # The model loads in setup, so the model calls' sum is the steady-state time; the wall time
  # adds pipeline start-up and the model load.
  times = _registry().get(label, [])
  return wall, cpu, times


def bench_backends(texts, rounds, threads_compare):
  from transforms.embed import load_sentence_transformer
  model = load_sentence_transformer(default_model_dir())
  model.encode(texts[:BATCH], batch_size=BATCH)   # warm-up
  bucket = BUCKET
  configs = [('RunInference torch', 'torch', 0, None),
             ('RunInference torch, bucketed', 'torch', bucket, None),
             ('RunInference onnx', 'onnx', 0, None), ('RunInference onnx, bucketed', 'onnx', bucket, None),
             ('RunInference onnx-int8', 'onnx-int8', 0, None),
             ('RunInference onnx-int8, bucketed', 'onnx-int8', bucket, None)]
  if threads_compare:
    configs += [(f'RunInference {DEFAULT_EMBED_BACKEND}, bucketed, {t} thread{"s" * (t > 1)}',
                 DEFAULT_EMBED_BACKEND, bucket, t) for t in (1, 2)]
  runs = {'plain encode (batches of 64)': Run('plain'), 'plain encode (whole list)': Run('whole')}
  batch_times = {}
  for label, *_ in configs:
    runs[label] = Run(label)
  for r in range(rounds):
    for label, whole in (('plain encode (batches of 64)', False), ('plain encode (whole list)', True)):
      wall, cpu, times = run_plain(model, texts, whole)
      runs[label].walls.append(wall)
      runs[label].cpus.append(cpu)
      runs[label].steady.append(sum(t for t, _ in times) if times else wall)
      if times:
        batch_times.setdefault(label, []).extend(times)
    for label, backend, bucket, threads in configs:
      wall, cpu, times = run_inference(embed_config(backend, bucket, threads), texts, label)
      runs[label].walls.append(wall)
      runs[label].cpus.append(cpu)
      runs[label].steady.append(sum(t for t, _ in times))
      batch_times.setdefault(label, []).extend(times)
    print(f'  round {r + 1}/{rounds} done, load average {os.getloadavg()[0]:.1f}', flush=True)
  return runs, batch_times


def print_backends(runs, batch_times, n):
  base = runs['plain encode (batches of 64)'].best(n)
  print(f'\n{n} distinct demo texts, RunInference batches of {BATCH} (bucketed: sub-batches of '
        f'{BUCKET} sorted by token length), best of '
        f'{len(next(iter(runs.values())).walls)} interleaved rounds; texts/s = texts / time in '
        f'the model (wall incl. pipeline start-up and model load in brackets)')
  header = (f'{"configuration":<44} {"texts/s":>8} {"× plain":>7} {"(wall)":>8} {"/CPU-s":>7} '
            f'{"batch p50":>9} {"p95 ms":>7} {"elem p50":>8} {"p95 ms":>7}')
  print(header)
  print('-' * len(header))
  for label, run in runs.items():
    rate = run.best(n)
    wall_rate = n / min(run.walls)
    cpu_rate = n / min(run.cpus)
    times = batch_times.get(label, [])
    batch_ms = [1000 * t for t, _ in times]
    element_ms = [1000 * t / k for t, k in times]
    latency = (f'{_pct(batch_ms, .5):>9.0f} {_pct(batch_ms, .95):>7.0f} '
               f'{_pct(element_ms, .5):>8.1f} {_pct(element_ms, .95):>7.1f}' if times
               else f'{"(one call)":>9}')
    print(f'{label:<44} {rate:>8,.0f} {rate / base:>7.2f} {f"({wall_rate:,.0f})":>8} '
          f'{cpu_rate:>7,.0f} {latency}')


def bench_direct(texts, rounds):
  """Model calls without the runner, many short interleaved rounds, medians: plain encode and
  the default backend (bucketed) with 1 and 2 intra-op threads. Less exposed to the box's
  other load than the RunInference runs above."""
  from transforms.embed import BucketedModel, load_sentence_transformer
  from transforms.embed_model import WordPieceTokenizer, load_backend
  model_dir = default_model_dir()
  tokenizer = WordPieceTokenizer(model_dir, 256)
  plain = load_sentence_transformer(model_dir)
  runs = {'plain encode (batches of 64)': None}
  for threads in (1, 2):
    runs[f'{DEFAULT_EMBED_BACKEND}, bucketed, {threads} thread{"s" * (threads > 1)}'] = (
        BucketedModel(load_backend(DEFAULT_EMBED_BACKEND, model_dir, None, threads=threads),
                      tokenizer, BUCKET))
  walls = {label: [] for label in runs}
  cpus = {label: [] for label in runs}
  for _ in range(rounds):
    for label, model in runs.items():
      t0, c0 = time.perf_counter(), time.process_time()
      for i in range(0, len(texts), BATCH):
        if model is None:
          plain.encode(texts[i:i + BATCH], batch_size=BATCH, normalize_embeddings=True,
                       show_progress_bar=False)
        else:
          model.encode_counting(texts[i:i + BATCH])
      walls[label].append(time.perf_counter() - t0)
      cpus[label].append(time.process_time() - c0)
  base = statistics.median(walls['plain encode (batches of 64)'])
  base_cpu = statistics.median(cpus['plain encode (batches of 64)'])
  print(f'\nmodel calls without the runner, {len(texts)} texts, medians of {rounds} interleaved '
        f'rounds (load average now {os.getloadavg()[0]:.1f}):')
  for label in runs:
    wall, cpu = statistics.median(walls[label]), statistics.median(cpus[label])
    print(f'  {label:<36} {len(texts) / wall:>6,.0f} texts/s ({base / wall:.2f}× plain), '
          f'{len(texts) / cpu:>5,.0f} texts per CPU-s ({base_cpu / cpu:.2f}×); best round '
          f'{len(texts) / min(walls[label]):,.0f} texts/s')


def _load_pickled(path):
  with open(path, 'rb') as f:
    yield from pickle.load(f)


def bench_graph(events, rounds):
  """records/s of ProcessRecords (no side inputs) on the DirectRunner, per embedding setting."""
  from agents import demo
  from schemas.envelope import RawRecord
  from transforms.config import EnrichConfig, PrivacyConfig, ProcessConfig, ValidationConfig
  from transforms.process import ProcessRecords
  data = demo.generate(seed=11, events=events, malformed_share=0.02)
  raws = []
  for i, e in enumerate(data.events):
    source = dict(e.headers)['source'].decode()
    if source not in ('openweather', 'catalog'):
      raws.append(RawRecord(source, e.topic, 0, i, 1_764_000_000_000, e.key, e.value, e.headers))
  path = os.path.join(tempfile.mkdtemp(prefix='bench-embed-'), 'raws.pickle')
  with open(path, 'wb') as f:
    pickle.dump(raws, f)
  dlq = _dlq()
  settings = [('no embeddings', None),
              ('torch, no bucketing (before)', EmbedConfig(backend='torch', bucket_size=0,
                                                           max_batch_duration_secs=None)),
              (f'{DEFAULT_EMBED_BACKEND}, bucketed (default)',
               EmbedConfig(max_batch_duration_secs=None))]
  results = {label: [] for label, _ in settings}
  for _ in range(rounds):
    for label, embed in settings:
      config = ProcessConfig(dlq, ValidationConfig(), PrivacyConfig(
          hmac_key_ref='env:MILLIONX_BENCH_HMAC_KEY'), EnrichConfig(), embed)
      t0 = time.perf_counter()
      with beam.Pipeline() as p:
        out = (p | beam.Create([path]) | 'Read' >> beam.FlatMap(_load_pickled)
               | ProcessRecords(config))
        _ = ((out.posts, out.orders, out.dead_letters) | beam.Flatten()
             | beam.combiners.Count.Globally())
      results[label].append(time.perf_counter() - t0)
  print(f'\nwhole graph (validate → privacy → enrich → embed), DirectRunner in process, '
        f'{len(raws)} demo records, best of {rounds} (incl. start-up and model load):')
  for label, walls in results.items():
    print(f'  {label:<36} {len(raws) / min(walls):>7,.0f} records/s  '
          f'({", ".join(f"{w:.1f}" for w in walls)} s)')


def bench_quality(n_gate):
  """The quality gate's figures and the retrieval evaluation, per backend."""
  from transforms.embed import load_encoder
  texts = embed_data.demo_texts(events=max(3000, int(n_gate * 1.3)))
  gate = texts[:n_gate]
  corpus = embed_data.evaluation_corpus(texts)
  queries = embed_data.evaluation_queries()
  from transforms.embed import load_sentence_transformer
  st = load_sentence_transformer(default_model_dir())
  reference = st.encode([t.text for t in gate], batch_size=BATCH, normalize_embeddings=True,
                        show_progress_bar=False)
  langs = {lang: sum(1 for t in gate if t.language == lang) for lang in ('en', 'bn', 'mixed')}
  print(f'\nquality gate: {len(gate)} demo texts ({langs["en"]} English, {langs["bn"]} Bangla, '
        f'{langs["mixed"]} mixed script) vs SentenceTransformer.encode fp32 '
        f'(pass: mean cosine ≥ 0.99 and top-10 neighbour overlap ≥ 0.9)')
  rows = []
  for backend in ('torch', 'onnx', 'onnx-int8'):
    encoder = load_encoder(embed_config(backend, BUCKET))
    vectors = np.array(encoder.encode([t.text for t in gate]))
    mean_cos, min_cos, overlap = embed_data.cosine_and_overlap(reference, vectors)
    passed = mean_cos >= 0.99 and overlap >= 0.9
    by_lang = []
    for lang in ('en', 'bn'):
      idx = [i for i, t in enumerate(gate) if t.language == lang]
      cos = float((reference[idx] * vectors[idx]).sum(axis=1).mean())
      by_lang.append(f'{lang} {cos:.4f}')
    print(f'  {backend:<10} mean cosine {mean_cos:.4f} (min {min_cos:.4f}; {", ".join(by_lang)})  '
          f'top-10 overlap {overlap:.3f}  {"PASS" if passed else "FAIL"}')
    post_vectors = np.array(encoder.encode([t.text for t in corpus]))
    query_vectors = np.array(encoder.encode([q for _, _, q in queries]))
    rows.append((backend, post_vectors, query_vectors))
  n_rel = sum(1 for t in corpus if t.category == embed_data.CATEGORIES[0])
  print(f'\nretrieval: {len(corpus)} posts ({n_rel} per category, half in Bengali script, '
        f'{sum(1 for t in corpus if t.category is None)} naming no product), '
        f'{len(queries)} queries (2 English + 2 Bangla per category); nearest vectors')
  categories = [t.category for t in corpus]
  for backend, post_vectors, query_vectors in rows:
    parts = []
    for lang in ('en', 'bn'):
      idx = [i for i, q in enumerate(queries) if q[1] == lang]
      f = embed_data.retrieval_figures(post_vectors, categories, query_vectors[idx],
                                       [queries[i][0] for i in idx])
      parts.append(f'{lang} queries P@10 {f.precision:.2f} R@10 {f.recall:.2f}')
    # Within one script: English queries on Latin-script posts, Bangla on Bengali-script ones.
    for lang, script in (('en', 'Latin'), ('bn', 'Bengali')):
      posts = [i for i, t in enumerate(corpus) if (t.language == 'en') == (lang == 'en')]
      idx = [i for i, q in enumerate(queries) if q[1] == lang]
      f = embed_data.retrieval_figures(post_vectors[posts], [categories[i] for i in posts],
                                       query_vectors[idx], [queries[i][0] for i in idx])
      parts.append(f'{lang} on {script}-script posts only P@10 {f.precision:.2f} '
                   f'R@10 {f.recall:.2f}')
    print(f'  {backend:<10} ' + '; '.join(parts[:2]))
    print(f'  {"":<10} ' + '; '.join(parts[2:]))


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--texts', type=int, default=1024, help='distinct demo texts to embed')
  parser.add_argument('--rounds', type=int, default=2, help='interleaved runs; the best is kept')
  parser.add_argument('--events', type=int, default=2000,
                      help='demo events through the whole graph (0: skip that part)')
  parser.add_argument('--gate-texts', type=int, default=2000,
                      help='texts for the quality figures (0: skip quality and retrieval)')
  parser.add_argument('--no-threads', action='store_true', help='skip the 1 vs 2 threads runs')
  parser.add_argument('--direct-rounds', type=int, default=10,
                      help='short interleaved rounds of model calls without the runner (0: skip)')
  args = parser.parse_args(argv)

  from transforms.embed_model import SETUP_HINT, default_onnx_dir, export_problem
  problem = export_problem(default_model_dir(), default_onnx_dir())
  if problem:
    print(f'no ONNX export: {problem}; {SETUP_HINT}', file=sys.stderr)
    return 2
  texts = [t.text for t in embed_data.demo_texts(events=int(args.texts * 1.6) + 200)][:args.texts]
  print(f'cores: {os.cpu_count()}  load average at start: '
        f'{" ".join(f"{x:.1f}" for x in os.getloadavg())}  default backend: {DEFAULT_EMBED_BACKEND}')
  lengths = [len(ids) for ids in _tokenize(texts)]
  print(f'texts: {len(texts)}, word pieces per text: mean {statistics.mean(lengths):.0f}, '
        f'max {max(lengths)}')
  runs, batch_times = bench_backends(texts, args.rounds, not args.no_threads)
  print_backends(runs, batch_times, len(texts))
  if args.direct_rounds:
    bench_direct(texts[:256], args.direct_rounds)
  if args.events:
    bench_graph(args.events, args.rounds)
  if args.gate_texts:
    bench_quality(args.gate_texts)
  print(f'\nload average at the end: {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
  return 0


def _tokenize(texts):
  from transforms.embed_model import WordPieceTokenizer
  return WordPieceTokenizer(default_model_dir(), 512)(texts).ids


if __name__ == '__main__':
  sys.exit(main())
