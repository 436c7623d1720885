"""Where a run's wall time and CPU go, per runner, one boundary at a time.

    python -m benchmarks.bench_profile --events 20000 [--runners direct,flink_local,flink_cluster]
                                       [--variants full,no_writes,read_only,read_only_kv]

Publishes N demo events (2% malformed) into fresh topics, then measures in one run:

* the plain kafka-python consumer reading them once, and the graph's Python stages (validate →
  privacy → enrich → JSON) as plain calls on the records it read (benchmarks/plain_chain.py);
* for each runner and variant, `python -m pipeline` as a user runs it, through
  benchmarks/profile_hooks.py (timing marks and pass-through probes; see its docstring for the
  variants, each removing one boundary), with the CPU of every process of its tree sampled
  from /proc (the pipeline's Python, its Python workers, the JVMs).

Prints, per run, the wall-time phases (start-up and imports, preflight and backlog check,
graph construction with the JVM start and the cross-language expansions, submission to the first
record, processing, idle time inside it, the tail after the last record, shutdown) and the CPU of
each phase, then a table per runner: records/s, CPU-µs per record while records flow (Python and
JVM apart) and in all, and the difference each boundary makes. Needs the local stack; run it
under the heavy lock (`flock /tmp/millionx-heavy.lock ...`): it starts JVMs.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Optional

from benchmarks.proc_tree import TreeSampler, cluster_roots
from tests.integration import pipeline_helpers as h

RUNNERS = ('direct', 'flink_local', 'flink_cluster')
VARIANTS = ('full', 'no_writes', 'read_only', 'read_only_kv')
# Fixed benchmark keys (hex of 32 bytes, as `secrets.token_hex(32)` writes them).
SECRETS = {'dlq': hashlib.sha256(b'millionx-bench-dlq').hexdigest(),
           'pseudonym': hashlib.sha256(b'millionx-bench-pseudonym').hexdigest()}
FLINK_CLUSTER = 'localhost:8081'


def key_args(tmp: str) -> list[str]:
  """The two keys as file references: cluster workers do not inherit this environment."""
  refs = []
  for name, value in SECRETS.items():
    path = os.path.join(tmp, f'{name}.key')
    with open(path, 'w', encoding='utf-8') as f:
      f.write(value)
    os.chmod(path, 0o600)
    refs.append(f'--{name}_key_ref=file:{path}')
  return refs


def runner_args(runner: str) -> list[str]:
  runner = runner.split('@', 1)[0]   # NAME@LABEL: the same runner with other --extra flags
  if runner == 'direct':
    return []
  if runner == 'flink_local':
    return ['--runner=FlinkRunner', '--flink_master=[local]']
  if runner == 'flink_cluster':
    return ['--runner=FlinkRunner', f'--flink_master={FLINK_CLUSTER}']
  raise SystemExit(f'unknown runner {runner!r}; one of {RUNNERS}')


def stop_tree(proc: subprocess.Popen) -> None:
  """Stops a pipeline started in a session of its own, and whatever of its group is left: a
  JVM blocked in its shutdown hooks outlives the SIGTERM that ends its Python parent."""
  h.stop_pipeline(proc)
  try:
    os.killpg(proc.pid, signal.SIGKILL)
  except (ProcessLookupError, PermissionError):
    pass


def read_raw_records(topics, source_by_topic: dict[str, str]) -> tuple[list, float, float]:
  """Every raw message as a RawRecord (the plain consumer's run): records, seconds, CPU s."""
  from kafka import KafkaConsumer, TopicPartition

  from schemas.envelope import RawRecord
  consumer = KafkaConsumer(bootstrap_servers=h.BOOTSTRAP, enable_auto_commit=False,
                           fetch_max_bytes=52428800)
  parts = [TopicPartition(t, p) for t in sorted(source_by_topic)
           for p in sorted(consumer.partitions_for_topic(t) or ())]
  consumer.assign(parts)
  consumer.seek_to_beginning(*parts)
  end = consumer.end_offsets(parts)
  out = []
  started, cpu = time.perf_counter(), time.process_time()
  deadline = time.monotonic() + 300
  while any(consumer.position(tp) < end[tp] for tp in parts) and time.monotonic() < deadline:
    for records in consumer.poll(timeout_ms=1000, max_records=10000).values():
      for r in records:
        out.append(RawRecord(source=source_by_topic[r.topic], topic=r.topic, partition=r.partition,
                             offset=r.offset, timestamp_ms=r.timestamp, key=r.key, value=r.value,
                             headers=tuple(r.headers or ())))
  seconds, cpu_s = time.perf_counter() - started, time.process_time() - cpu
  consumer.close()
  return out, seconds, cpu_s


def output_end_offsets(topic_names: list[str]) -> int:
  from kafka import KafkaConsumer, TopicPartition
  consumer = KafkaConsumer(bootstrap_servers=h.BOOTSTRAP)
  try:
    parts = [TopicPartition(t, p) for t in topic_names for p in consumer.partitions_for_topic(t) or ()]
    return sum(consumer.end_offsets(parts).values())
  finally:
    consumer.close()


def _load_lines(path: str) -> list[dict]:
  if not os.path.exists(path):
    return []
  with open(path, encoding='utf-8') as f:
    return [json.loads(line) for line in f if line.strip()]


def _probe_total(lines, probe: str) -> int:
  return sum(x['n'] for x in lines if x.get('probe') == probe)


class Run:
  """One `python -m pipeline` run under profile_hooks, its marks, probes and CPU samples."""

  def __init__(self, runner: str, variant: str, label: str):
    self.runner, self.variant, self.label = runner, variant, label
    self.spawned = self.exited = self.stop_requested = None
    self.marks: list[dict] = []
    self.probes: list[dict] = []
    self.sampler: Optional[TreeSampler] = None
    self.records = 0
    self.returncode = None
    self.load = ()

  def mark(self, name: str, last: bool = False) -> Optional[dict]:
    found = [m for m in self.marks if m.get('mark') == name]
    return (found[-1] if last else found[0]) if found else None

  def t(self, name: str) -> Optional[float]:
    m = self.mark(name)
    return m['t'] if m else None


def run_pipeline(runner: str, variant: str, label: str, args: list[str], expected_read: int,
                 out_topics: list[str], expected_out: int, timeout_s: float, tmp: str) -> Run:
  run = Run(runner, variant, label)
  marks_path = os.path.join(tmp, f'marks-{uuid.uuid4().hex[:8]}.jsonl')
  env = dict(os.environ, MILLIONX_PROFILE_MARKS=marks_path, MILLIONX_PROFILE_VARIANT=variant)
  # Process workers (use_loopback_process_worker) start `python` from PATH: this interpreter's.
  env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
  log_path = os.path.join(h.REPO, '.local', 'logs', f'bench-profile-{uuid.uuid4().hex[:6]}.log')
  streaming = not runner.startswith('direct')
  out_before = output_end_offsets(out_topics) if streaming and variant == 'full' else 0
  load_before = os.getloadavg()[0]
  with open(log_path, 'w', encoding='utf-8') as log:
    run.spawned = time.time()
    proc = subprocess.Popen([sys.executable, '-m', 'benchmarks.profile_hooks', *args], cwd=h.REPO,
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    # A cluster job runs in the TaskManager and the worker pool: their CPU counts too.
    run.sampler = TreeSampler(proc.pid, interval_s=0.5,
                              also=tuple(cluster_roots()) if 'cluster' in runner else ())
    run.sampler.start()
    try:
      if streaming:
        # Done when the read probe has seen every record and (full) the output topics hold the
        # expected count, or the output probes stopped growing (the other variants).
        deadline = time.monotonic() + timeout_s
        last_total, last_change = -1, time.monotonic()
        while time.monotonic() < deadline and proc.poll() is None:
          lines = _load_lines(marks_path)
          read = _probe_total(lines, 'read')
          total = read + sum(x.get('n', 0) for x in lines if x.get('probe') in ('out', 'write'))
          if total != last_total:
            last_total, last_change = total, time.monotonic()
          if read >= expected_read:
            if variant == 'full':
              if output_end_offsets(out_topics) - out_before >= expected_out:
                break
              if time.monotonic() - last_change > 60:
                print(f'  [{label}] outputs short of {expected_out} and still for 60 s: stopping')
                break
            elif time.monotonic() - last_change > 5:
              break
          time.sleep(1)
        run.stop_requested = time.time()
        stop_tree(proc)
      else:
        proc.wait(timeout_s)
    finally:
      if proc.poll() is None:
        stop_tree(proc)
      run.exited = time.time()
      run.sampler.stop()
  run.returncode = proc.returncode
  run.load = (load_before, os.getloadavg()[0])
  lines = _load_lines(marks_path)
  run.marks = [x for x in lines if 'mark' in x]
  run.probes = [x for x in lines if 'probe' in x]
  run.records = _probe_total(run.probes, 'read')
  print(f'  [{label}] {run.records} records read, exit {run.returncode}, '
        f'{run.exited - run.spawned:.1f} s, log {log_path}', flush=True)
  return run


def _union(intervals: list[tuple[float, float]]) -> float:
  total, end = 0.0, None
  for a, b in sorted(intervals):
    if end is None or a > end:
      total += b - a
      end = b
    elif b > end:
      total += b - end
      end = b
  return total


def phases(run: Run) -> list[tuple[str, float, float, float]]:
  """(phase, start, end, CPU seconds of the tree) in wall order."""
  s = run.sampler
  t0 = run.spawned
  elements = [p for p in run.probes if p['probe'] in ('read', 'out', 'write', 'stages')]
  first = min((p['first'] for p in elements), default=None)
  last = max((p['last'] for p in elements), default=None)
  points = [('start-up, imports', t0, run.t('imported')),
            ('preflight, backlog check', run.t('imported'), run.t('graph_begin')),
            ('graph construction (JVM start, expansion)', run.t('graph_begin'), run.t('graph_end')),
            ('submission to the first record', run.t('run_begin'), first),
            ('processing (first to last record)', first, last)]
  end_of_run = run.t('pipeline_done') or run.t('run_returned')
  if run.stop_requested:
    points.append(('last record to stop', last, run.stop_requested))
    points.append(('stop to exit', run.stop_requested, run.exited))
  else:
    points.append(('last record to the end of the run', last, end_of_run))
    points.append(('end of the run to exit', end_of_run, run.exited))
  out = []
  for name, a, b in points:
    if a is not None and b is not None:
      out.append((name, a - t0, b - t0, s.cpu_between(a, b)))
  return out


def summarize(run: Run) -> dict:
  s = run.sampler
  elements = [p for p in run.probes if p['probe'] in ('read', 'out', 'write', 'stages')]
  first = min((p['first'] for p in elements), default=None)
  last = max((p['last'] for p in elements), default=None)
  window = (last - first) if first is not None else 0.0
  busy = _union([(p['first'], p['last']) for p in elements])
  kinds = sorted({k for _, _, by in s.samples for k in by})
  per_kind = {k: s.cpu_between(first, last, k) for k in kinds} if first is not None else {}
  n = max(1, run.records)
  python = sum(v for k, v in per_kind.items() if k.startswith('python'))
  jvm = sum(v for k, v in per_kind.items() if k.startswith('jvm'))
  return {
      'records': run.records, 'wall_s': run.exited - run.spawned, 'window_s': window,
      'idle_s': max(0.0, window - busy), 'rate_wall': run.records / (run.exited - run.spawned),
      'rate_window': run.records / window if window > 0 else 0.0,
      'us_python': 1e6 * python / n, 'us_jvm': 1e6 * jvm / n,
      'us_window': 1e6 * (python + jvm) / n, 'us_total': 1e6 * s.total_cpu() / n,
      'cpu_total_s': s.total_cpu(), 'cpu_by_kind': s.cpu_by_kind(), 'peak_rss_mb': s.peak_rss_mb,
      'bundles': len([p for p in run.probes if p['probe'] == 'read']),
  }


def print_run(run: Run) -> None:
  print(f'\n### {run.label}  (load average {run.load[0]:.1f} → {run.load[1]:.1f})')
  print('| phase | from s | to s | wall s | CPU s (all processes) |')
  print('| --- | --- | --- | --- | --- |')
  for name, a, b, cpu in phases(run):
    print(f'| {name} | {a:.1f} | {b:.1f} | {b - a:.1f} | {cpu:.1f} |')
  jvms = [m for m in run.marks if m.get('mark') == 'jvm_ready']
  for m in jvms:
    print(f'| ↳ JVM ready: {m["what"]} | {m["started"] - run.spawned:.1f} | {m["t"] - run.spawned:.1f} '
          f'| {m["t"] - m["started"]:.1f} | |')
  expansions = [m for m in run.marks if m.get('mark') == 'expansion']
  if expansions:
    print(f'| ↳ {len(expansions)} cross-language expansions | | | '
          f'{sum(m["t"] - m["started"] for m in expansions):.1f} | |')
  sm = summarize(run)
  kinds = ', '.join(f'{k} {v:.1f}' for k, v in sorted(sm['cpu_by_kind'].items()))
  print(f'records {sm["records"]}, {len([p for p in run.probes if p["probe"] == "read"])} read '
        f'bundles; idle inside processing {sm["idle_s"]:.1f} s; CPU s by process: {kinds}; '
        f'peak RSS {sm["peak_rss_mb"]:,.0f} MB')
  hot = run.sampler.jvm_threads()
  if hot:
    print('JVM threads by CPU s (sampled every 3 s): ' + ', '.join(
        f'{name} ({kind[4:]}) {cpu:.1f}' for kind, name, cpu in hot))


def boundary_table(runner: str, runs: dict[str, Run], plain_us: float) -> None:
  print(f'\n#### {runner}: one boundary at a time (CPU-µs per record while records flow)')
  print('| variant | records | wall s | records/s (wall) | records/s (first to last record) '
        '| Python µs/rec | JVM µs/rec | all µs/rec (window) | all µs/rec (whole run) | peak RSS MB |')
  print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  sums = {}
  for variant, run in runs.items():
    sm = sums[variant] = summarize(run)
    print(f'| {variant} | {sm["records"]:,} | {sm["wall_s"]:.1f} | {sm["rate_wall"]:,.0f} | '
          f'{sm["rate_window"]:,.0f} | {sm["us_python"]:.0f} | {sm["us_jvm"]:.0f} | '
          f'{sm["us_window"]:.0f} | {sm["us_total"]:.0f} | {sm["peak_rss_mb"]:,.0f} |')
  steps = [('read_only_kv', 'read_only', 'KafkaRecord Row with metadata decoded in Python (vs KV bytes)'),
           ('read_only', 'no_writes', 'the Python stages + JSON inside the runner'),
           ('no_writes', 'full', 'the three WriteToKafka (data plane to Java, producer)'),
           ('full_no_context', 'full', 'weather and catalog (side inputs on the DirectRunner)')]
  rows = [(a, b, what) for a, b, what in steps if a in sums and b in sums]
  if rows:
    print('| boundary added | Python µs/rec | JVM µs/rec | all µs/rec (window) | all µs/rec (whole run) |')
    print('| --- | --- | --- | --- | --- |')
    for a, b, what in rows:
      x, y = sums[a], sums[b]
      print(f'| {what} ({a} → {b}) | {y["us_python"] - x["us_python"]:+.0f} | '
            f'{y["us_jvm"] - x["us_jvm"]:+.0f} | {y["us_window"] - x["us_window"]:+.0f} | '
            f'{y["us_total"] - x["us_total"]:+.0f} |')
  print(f'(the same stages as plain calls: {plain_us:.0f} CPU-µs per record)')


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--events', type=int, default=20_000, help='demo events to publish')
  parser.add_argument('--runners', default='direct,flink_local',
                      help=f'comma list of {", ".join(RUNNERS)}; NAME@LABEL runs NAME again '
                      'with the --extra flags given for NAME@LABEL')
  parser.add_argument('--variants', default=','.join(VARIANTS),
                      help=f'comma list of {", ".join(VARIANTS)}, full_no_context')
  parser.add_argument('--variants-for', action='append', default=[], metavar='RUNNER=V1,V2',
                      help='the variants of one runner (default: --variants), repeatable')
  parser.add_argument('--extra', action='append', default=[], metavar='RUNNER:FLAG',
                      help='an extra pipeline flag for one runner, e.g. '
                      'flink_local@p1:--parallelism=1 (repeatable)')
  parser.add_argument('--timeout', type=float, default=900, help='seconds per run at most')
  parser.add_argument('--json', default=None, help='also write every summary to this file')
  args = parser.parse_args(argv)
  h.kafka_or_fail()
  from pipeline.context_files import write_context_files
  from pipeline.runners import plan_run
  tmp = tempfile.mkdtemp(prefix='bench-profile-')
  topics = h.make_topics(tmp)
  results = {}
  try:
    print(f'load average {" ".join(f"{x:.1f}" for x in os.getloadavg())}; publishing {args.events} '
          'demo events ...', flush=True)
    h.publish_demo(topics, seed=5, events=args.events, malformed_share=0.02)
    weather, catalog, _, _ = write_context_files(
        h.BOOTSTRAP, tmp, topics.topic('context.weather'), topics.topic('context.products'))
    context = [f'--weather_snapshot={weather}', f'--product_catalog={catalog}']
    common = ['--no_embed', *key_args(tmp)]

    from pipeline.config_from_options import build_graph_config
    from benchmarks.plain_chain import PlainStages, run_plain
    plan, options = plan_run([*topics.pipeline_args('unused'), *common, *context])
    graph_config = build_graph_config(options, plan)
    raws, consumer_s, consumer_cpu = read_raw_records(topics, graph_config.source_by_topic)
    stages = PlainStages(graph_config.process)
    n, n_out, plain_s, plain_cpu = run_plain(stages, raws)
    plain_us = 1e6 * plain_cpu / n
    print(f'plain kafka-python consumer: {len(raws):,} records in {consumer_s:.2f} s = '
          f'{len(raws) / consumer_s:,.0f} records/s, {1e6 * consumer_cpu / len(raws):.0f} CPU-µs per record')
    print(f'stages + JSON as plain calls: {n:,} records → {n_out:,} outputs in {plain_s:.2f} s = '
          f'{n / plain_s:,.0f} records/s, {plain_us:.0f} CPU-µs per record')
    results['plain'] = {'consumer_s': consumer_s, 'consumer_cpu_s': consumer_cpu, 'records': n,
                        'outputs': n_out, 'stages_s': plain_s, 'stages_cpu_s': plain_cpu}
    out_topics = [topics.topic(x) for x in ('out.social.posts', 'out.market.orders', 'dlq.pipeline')]
    variants_for = dict(item.split('=', 1) for item in args.variants_for)
    extra = {}
    for item in args.extra:
      runner, _, flag = item.partition(':')
      extra.setdefault(runner, []).append(flag)

    for runner in args.runners.split(','):
      runs = {}
      for variant in variants_for.get(runner, args.variants).split(','):
        if variant == 'read_only_kv' and runner.startswith('direct'):
          continue   # the bounded runners read with librdkafka in Python, not KafkaIO
        hook_variant, context_args = variant, context
        if variant == 'full_no_context':
          hook_variant, context_args = 'full', []
        group = f'bench-{uuid.uuid4().hex[:6]}'
        pipeline_args = [*runner_args(runner), *topics.pipeline_args(group), *common,
                         *context_args, *extra.get(runner, [])]
        label = f'{runner} / {variant}'
        run = run_pipeline(runner, hook_variant, label, pipeline_args, len(raws), out_topics,
                           n_out, args.timeout, tmp)
        runs[variant] = run
        print_run(run)
        results[label] = summarize(run)
      boundary_table(runner, runs, plain_us)
  finally:
    h.delete_topics(topics)
  print(f'\nload average at the end {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump(results, f, indent=2, default=str)
  return 0


if __name__ == '__main__':
  sys.exit(main())
