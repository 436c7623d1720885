"""Side by side in one run: N demo events (no embeddings) through five ways of running the stages.

    python -m benchmarks.bench_kafka_pipeline --events 100000
        [--runners consumer,loop,direct,flink_local,flink_cluster] [--extra RUNNER:FLAG ...]

  consumer       a plain kafka-python consumer reading the raw topics once (the floor)
  loop           a plain consume → stages → produce loop with the graph's own stage functions
                 (benchmarks/plain_chain.py; the original design's Faust-style processor, the
                 peer a user would otherwise write), at least once: commit after produce
  direct         python -m pipeline on the DirectRunner (bounded: it ends when all is read)
  flink_local    python -m pipeline on Flink [local] (streaming: timed to its last output)
  flink_cluster  python -m pipeline submitted to the local Flink cluster (its TaskManager and
                 the worker pool do the work: their CPU and memory are counted too)

Each reads the same records with its own consumer group and writes into the same output topics.
Printed per row: records, seconds from process start (JVMs, expansion, job submission
included) to the last output, records/s, CPU-µs per record of every process involved (the
process tree; for the cluster also the TaskManager and worker pool trees), the Python and JVM
shares, peak RSS, output + DLQ messages, and the ratios to the plain loop (per wall second and per
CPU-second). Needs the local stack; run it under the heavy lock (it starts JVMs and Flink jobs).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

from benchmarks.bench_profile import (FLINK_CLUSTER, key_args, output_end_offsets, runner_args,
                                      stop_tree)
from benchmarks.proc_tree import TreeSampler, cluster_roots
from tests.integration import pipeline_helpers as h

RUNNERS = ('consumer', 'loop', 'direct', 'flink_local', 'flink_cluster')


def run_child(kind: str, pipeline_args: list[str], events: int) -> dict:
  """The consumer or the plain loop in a process of its own (so that its CPU and memory are
  its own, start-up included, like the pipeline rows): records, outputs, seconds from start."""
  started = time.perf_counter()
  proc = subprocess.Popen([sys.executable, '-m', 'benchmarks.bench_kafka_pipeline', '--child',
                           kind, '--events', str(events), '--', *pipeline_args], cwd=h.REPO,
                          stdout=subprocess.PIPE, text=True)
  sampler = TreeSampler(proc.pid, interval_s=0.5)
  sampler.start()
  out, _ = proc.communicate(timeout=1800)
  seconds = time.perf_counter() - started
  sampler.stop()
  line = next(x for x in out.splitlines() if x.startswith('RESULT '))
  result = json.loads(line[len('RESULT '):])
  result.update(seconds=seconds, cpu_s=sampler.total_cpu(), python_cpu_s=sampler.total_cpu(),
                jvm_cpu_s=0.0, peak_rss_mb=sampler.peak_rss_mb)
  return result


def count_raw_records(bootstrap: str, topic_names: list[str]) -> int:
  """Reads every message of the topics once with kafka-python, keeping nothing (the floor)."""
  from kafka import KafkaConsumer, TopicPartition
  consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                           fetch_max_bytes=52428800)
  try:
    parts = [TopicPartition(t, p) for t in topic_names
             for p in sorted(consumer.partitions_for_topic(t) or ())]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    end = consumer.end_offsets(parts)
    n, deadline = 0, time.monotonic() + 600
    while any(consumer.position(tp) < end[tp] for tp in parts) and time.monotonic() < deadline:
      for records in consumer.poll(timeout_ms=1000, max_records=10000).values():
        n += len(records)
    return n
  finally:
    consumer.close()


def child_main(kind: str, events: int, pipeline_args: list[str]) -> int:
  """--child consumer|loop: run one of the two plain rows and print RESULT {json}."""
  from benchmarks.plain_chain import PlainStages, plain_loop
  from pipeline.config_from_options import build_graph_config
  from pipeline.runners import plan_run
  plan, options = plan_run(pipeline_args)
  config = build_graph_config(options, plan)
  sources = config.source_by_topic
  if kind == 'consumer':
    result = {'records': count_raw_records(config.kafka.bootstrap_servers, sorted(sources)),
              'outputs': 0}
  else:
    stages = PlainStages(config.process)
    outs = {'posts': config.posts_topic, 'orders': config.orders_topic,
            'dead_letters': config.dlq_topic}
    r = plain_loop(stages, config.kafka.bootstrap_servers, sources, outs,
                   config.kafka.group_id, events)
    result = {'records': r['records'], 'outputs': r['outputs']}
  print('RESULT ' + json.dumps(result), flush=True)
  return 0


def run_pipeline(runner: str, args: list[str], out_topics: list[str], expected_out: int,
                 timeout_s: float) -> dict:
  """python -m pipeline ARGS, sampled; bounded runs end by themselves, streaming runs are
  stopped once the outputs reached `expected_out` new messages and timed to the last one."""
  env = dict(os.environ)
  env['PATH'] = os.path.dirname(sys.executable) + os.pathsep + env.get('PATH', '')
  log_path = os.path.join(h.REPO, '.local', 'logs', f'bench-pipeline-{uuid.uuid4().hex[:6]}.log')
  before = output_end_offsets(out_topics)
  cluster = runner.startswith('flink_cluster')
  with open(log_path, 'w', encoding='utf-8') as log:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, '-m', 'pipeline', *args], cwd=h.REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    samplers = [TreeSampler(proc.pid, also=tuple(cluster_roots()) if cluster else ())]
    for s in samplers:
      s.start()
    last_count, last_growth = before, started
    try:
      if runner.startswith('direct'):
        proc.wait(timeout_s)
        last_growth = time.perf_counter()
      else:
        while time.perf_counter() - started < timeout_s:
          count = output_end_offsets(out_topics)
          now = time.perf_counter()
          if count != last_count:
            last_count, last_growth = count, now
          if count - before >= expected_out and now - last_growth > 3:
            break
          if now - last_growth > 120:
            print(f'  {runner}: outputs stalled at {count - before} of {expected_out}')
            break
          if proc.poll() is not None and not cluster:
            print(f'  {runner}: the pipeline exited with {proc.returncode}')
            break
          time.sleep(1)
    finally:
      stop_tree(proc)
      if cluster:
        _cancel_cluster_jobs(args)
      for s in samplers:
        s.stop()
  cpu = {}
  for s in samplers:
    for kind, value in s.cpu_by_kind().items():
      cpu[kind] = cpu.get(kind, 0.0) + value
  return {'seconds': last_growth - started, 'outputs': output_end_offsets(out_topics) - before,
          'cpu_s': sum(cpu.values()),
          'python_cpu_s': sum(v for k, v in cpu.items() if k.startswith('python')),
          'jvm_cpu_s': sum(v for k, v in cpu.items() if k.startswith('jvm')),
          'peak_rss_mb': sum(s.peak_rss_mb for s in samplers), 'log': log_path,
          'returncode': proc.returncode}


def _cancel_cluster_jobs(args: list[str]) -> None:
  from pipeline.flink_jobs import cancel_job, list_jobs
  name = next(a.split('=', 1)[1] for a in args if a.startswith('--job_name='))
  for job in list_jobs(FLINK_CLUSTER):
    if job.get('name') == name and job.get('state') in ('RUNNING', 'CREATED', 'INITIALIZING'):
      cancel_job(FLINK_CLUSTER, job['jid'])


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--events', type=int, default=100_000, help='demo events to publish')
  parser.add_argument('--runners', default=','.join(RUNNERS),
                      help=f'comma list of {", ".join(RUNNERS)} (NAME@LABEL: again, with the '
                      '--extra flags of NAME@LABEL)')
  parser.add_argument('--extra', action='append', default=[], metavar='RUNNER:FLAG',
                      help='an extra pipeline flag for one runner, e.g. flink_local:--parallelism=1')
  parser.add_argument('--context', action='store_true',
                      help='also enrich with weather and catalog snapshots (default: none)')
  parser.add_argument('--timeout', type=float, default=1800, help='seconds per runner at most')
  parser.add_argument('--child', choices=('consumer', 'loop'), default=None,
                      help='internal: run one plain row in this process (pipeline flags after --)')
  parser.add_argument('pipeline_args', nargs='*', help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  if args.child:
    return child_main(args.child, args.events, args.pipeline_args)
  h.kafka_or_fail()
  from pipeline.context_files import write_context_files
  tmp = tempfile.mkdtemp(prefix='bench-kafka-')
  topics = h.make_topics(tmp)
  extra = {}
  for item in args.extra:
    runner, _, flag = item.partition(':')
    extra.setdefault(runner, []).append(flag)
  rows = []
  try:
    print(f'load average {" ".join(f"{x:.1f}" for x in os.getloadavg())}; publishing '
          f'{args.events:,} demo events ...', flush=True)
    h.publish_demo(topics, seed=5, events=args.events, malformed_share=0.02)
    common = ['--no_embed', *key_args(tmp)]
    if args.context:
      weather, catalog, _, _ = write_context_files(
          h.BOOTSTRAP, tmp, topics.topic('context.weather'), topics.topic('context.products'))
      common += [f'--weather_snapshot={weather}', f'--product_catalog={catalog}']
    out_topics = [topics.topic(n) for n in ('out.social.posts', 'out.market.orders', 'dlq.pipeline')]
    expected_out = None
    for runner in args.runners.split(','):
      load = os.getloadavg()[0]
      name = runner.split('@', 1)[0]
      if name in ('consumer', 'loop'):
        result = run_child(name, [*topics.pipeline_args(f'{name}-{uuid.uuid4().hex[:6]}'), *common],
                           args.events)
        if name == 'loop':
          expected_out = result['outputs']
      elif name in ('direct', 'flink_local', 'flink_cluster'):
        pipeline_args = [*runner_args(name), *topics.pipeline_args(f'bench-{uuid.uuid4().hex[:6]}'),
                         *common, *extra.get(runner, [])]
        if name == 'flink_cluster':
          pipeline_args += ['--detached', f'--job_name=bench-{uuid.uuid4().hex[:6]}']
        result = run_pipeline(name, pipeline_args, out_topics,
                              expected_out or int(args.events * 1.3), args.timeout)
        result['records'] = args.events
        if expected_out is None and name == 'direct':
          expected_out = result['outputs']
      else:
        raise SystemExit(f'unknown runner {runner!r}; one of {RUNNERS}')
      result['load'] = (load, os.getloadavg()[0])
      rows.append((runner, result))
      n = max(1, result['records'])
      print(f'{runner}: {result["records"]:,} records in {result["seconds"]:.1f} s = '
            f'{n / result["seconds"]:,.0f} records/s, {1e6 * result["cpu_s"] / n:.0f} CPU-µs per '
            f'record, peak RSS {result["peak_rss_mb"]:,.0f} MB, {result.get("outputs", 0):,} '
            f'output + DLQ messages{"  log " + result["log"] if "log" in result else ""}', flush=True)
  finally:
    h.delete_topics(topics)
  loop = dict(rows).get('loop')
  print('\n| run | records | seconds (from process start) | records/s | CPU-µs per record (all '
        'processes) | of which Python / JVM | peak RSS MB | output + DLQ messages | records/s '
        'vs loop | records per CPU-s vs loop | load average |')
  print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for runner, r in rows:
    n = max(1, r['records'])
    rate, per_cpu = n / r['seconds'], n / max(1e-9, r['cpu_s'])
    vs = (f'{rate / (loop["records"] / loop["seconds"]):.2f} | '
          f'{per_cpu / (loop["records"] / loop["cpu_s"]):.2f}') if loop else '— | —'
    print(f'| {runner} | {r["records"]:,} | {r["seconds"]:.1f} | {rate:,.0f} | '
          f'{1e6 * r["cpu_s"] / n:.0f} | {1e6 * r["python_cpu_s"] / n:.0f} / '
          f'{1e6 * r["jvm_cpu_s"] / n:.0f} | {r["peak_rss_mb"]:,.0f} | {r.get("outputs", 0):,} | '
          f'{vs} | {r["load"][0]:.1f} → {r["load"][1]:.1f} |')
  return 0


if __name__ == '__main__':
  sys.exit(main())
