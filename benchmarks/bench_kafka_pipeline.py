"""Benchmark: N demo events through Kafka → the graph (no embeddings) → output/DLQ topics.

Prints records/s and peak memory for the DirectRunner (bounded read) and Flink [local]
(streaming, timed until every output has arrived), and the ratio to a plain kafka-python
consumer reading the same raw topics in the same run. Needs the local stack (./run_local.sh start).

    python -m benchmarks.bench_kafka_pipeline --events 100000 [--runners direct,flink]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from kafka import KafkaConsumer, TopicPartition

from tests.integration import pipeline_helpers as h

# Benchmark-only keys: 32 bytes as hex, as the pipeline requires (connectors/secrets.py).
SECRETS = {'dlq': ''.join(f'{i:02x}' for i in range(140, 172)), 'pseudonym': ''.join(f'{i:02x}' for i in range(101, 133))}


def common_args(tmp: str) -> list[str]:
  """--no_embed and the two keys, as file references: worker-pool workers (Flink parallelism
  above 1) do not inherit this process's environment."""
  refs = []
  for name, value in SECRETS.items():
    path = os.path.join(tmp, f'{name}.key')
    with open(path, 'w', encoding='utf-8') as f:
      f.write(value)
    os.chmod(path, 0o600)
    refs.append(f'--{name}_key_ref=file:{path}')
  return ['--no_embed', *refs]


def _tree_rss_mb(root_pid: int) -> float:
  """Resident memory of a process and all its descendants (Python, Java workers), in MB."""
  children = {}
  for pid in os.listdir('/proc'):
    if not pid.isdigit():
      continue
    try:
      with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
        ppid = int(f.read().rsplit(')', 1)[1].split()[1])
      children.setdefault(ppid, []).append(int(pid))
    except (OSError, ValueError, IndexError):
      continue
  total, stack = 0, [root_pid]
  while stack:
    pid = stack.pop()
    try:
      with open(f'/proc/{pid}/status', encoding='utf-8') as f:
        for line in f:
          if line.startswith('VmRSS:'):
            total += int(line.split()[1])
    except OSError:
      pass
    stack.extend(children.get(pid, ()))
  return total / 1024


class PeakMemory(threading.Thread):
  def __init__(self, pid):
    super().__init__(daemon=True)
    self.pid, self.peak, self._done = pid, 0.0, threading.Event()

  def run(self):
    while not self._done.is_set():
      self.peak = max(self.peak, _tree_rss_mb(self.pid))
      time.sleep(0.5)

  def stop(self):
    self._done.set()
    self.join()
    return self.peak


def plain_consumer(topics: list[str], expected: int) -> float:
  """Seconds for kafka-python to read every message of the raw topics once."""
  consumer = KafkaConsumer(bootstrap_servers=h.BOOTSTRAP, enable_auto_commit=False,
                           consumer_timeout_ms=10000, fetch_max_bytes=52428800)
  parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t)]
  consumer.assign(parts)
  consumer.seek_to_beginning(*parts)
  started, n = time.perf_counter(), 0
  while n < expected:
    batch = consumer.poll(timeout_ms=1000, max_records=10000)
    if not batch and time.perf_counter() - started > 120:
      break
    for records in batch.values():
      n += len(records)
  seconds = time.perf_counter() - started
  consumer.close()
  return seconds


def output_count(topics) -> int:
  consumer = KafkaConsumer(bootstrap_servers=h.BOOTSTRAP)
  names = [topics.topic('out.social.posts'), topics.topic('out.market.orders'),
           topics.topic('dlq.pipeline')]
  parts = [TopicPartition(t, p) for t in names for p in consumer.partitions_for_topic(t) or ()]
  total = sum(consumer.end_offsets(parts).values())
  consumer.close()
  return total


def run_pipeline(args: list[str], topics, expected_outputs: int, timeout_s: float, streaming: bool):
  env = dict(os.environ)
  log_path = os.path.join(h.REPO, '.local', 'logs', f'bench-pipeline-{uuid.uuid4().hex[:6]}.log')
  log = open(log_path, 'w', encoding='utf-8')
  print(f'  pipeline log: {log_path}', flush=True)
  proc = subprocess.Popen([sys.executable, '-m', 'pipeline', *args], cwd=h.REPO, env=env,
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
  mem = PeakMemory(proc.pid)
  mem.start()
  started = time.perf_counter()
  try:
    if streaming:
      # Done when the outputs have reached the expected count and stopped growing for 30 s;
      # the time is that of the last growth.
      last_count, last_growth = -1, started
      while time.perf_counter() - started < timeout_s:
        count = output_count(topics)
        now = time.perf_counter()
        if count != last_count:
          last_count, last_growth = count, now
        elif count >= expected_outputs and now - last_growth > 30:
          break
        time.sleep(2)
      seconds = last_growth - started
    else:
      proc.wait(timeout_s)
      seconds = time.perf_counter() - started
  finally:
    h.stop_pipeline(proc)
  return seconds, mem.stop(), output_count(topics)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--events', type=int, default=100_000, help='demo events to publish')
  parser.add_argument('--runners', default='direct,flink', help='comma list of direct, flink')
  parser.add_argument('--direct-workers', type=int, default=12,
                      help='DirectRunner worker threads (default 12: the read splits wait out '
                      '--max_read_seconds side by side)')
  parser.add_argument('--max-read-seconds', type=int, default=15,
                      help='DirectRunner --max_read_seconds (default 15)')
  parser.add_argument('--flink-parallelism', type=int, default=1,
                      help='Flink [local] parallelism (default 1); above 1 the Python workers come '
                      'from the stack\'s worker pool, one process per slot')
  parser.add_argument('--timeout', type=float, default=1800, help='seconds per runner at most')
  args = parser.parse_args(argv)
  h.kafka_or_fail()
  tmp = tempfile.mkdtemp(prefix='bench-kafka-')
  topics = h.make_topics(tmp)
  try:
    print(f'publishing {args.events} demo events ...', flush=True)
    t0 = time.perf_counter()
    h.publish_demo(topics, seed=5, events=args.events, malformed_share=0.02)
    print(f'  published in {time.perf_counter() - t0:.1f}s', flush=True)
    raw_topics = [topics.topic(n) for n in ('raw.tiktok.videos', 'raw.facebook.posts',
                                            'raw.shopify.orders', 'raw.daraz.orders')]
    plain_s = plain_consumer(raw_topics, args.events)
    plain_rate = args.events / plain_s
    print(f'plain kafka-python consumer: {args.events} records in {plain_s:.1f}s = {plain_rate:,.0f} records/s')
    rows = []
    expected_outputs = None
    for runner in args.runners.split(','):
      group = f'bench-{uuid.uuid4().hex[:6]}'
      processed = args.events
      if runner == 'direct':
        summary_path = os.path.join(tmp, 'direct-summary.json')
        workers = [f'--direct_num_workers={args.direct_workers}']
        if args.direct_workers > 1:
          workers.append('--direct_running_mode=multi_threading')
        pipeline_args = [*topics.pipeline_args(group), *common_args(tmp), f'--max_records={args.events}',
                         f'--max_read_seconds={args.max_read_seconds}', *workers,
                         f'--summary_json={summary_path}']
        seconds, peak, outputs = run_pipeline(pipeline_args, topics, 0, args.timeout, streaming=False)
        expected_outputs = outputs
        with open(summary_path, encoding='utf-8') as f:
          read = json.load(f)['read']
        processed = read
        if read != args.events:
          print(f'  note: the bounded read took {read} of {args.events} records (Beam divides '
                'them evenly over its splits; a split holding more stops at its share, the rest '
                'stays in Kafka for the next run)')
      elif runner == 'flink':
        # Outputs already in the topics from the direct run count too.
        before = output_count(topics)
        # At least what the DirectRunner produced (it may have read a little less than all).
        want = before + (expected_outputs or args.events)
        pipeline_args = ['--runner=FlinkRunner', '--flink_master=[local]', *topics.pipeline_args(group),
                         *common_args(tmp)]
        if args.flink_parallelism > 1:
          # One Python SDK worker process per slot, from the stack's worker pool (LOOPBACK
          # would run every slot's Python in this one process, under one GIL).
          pipeline_args += [f'--parallelism={args.flink_parallelism}', '--environment_type=EXTERNAL',
                            '--environment_config=localhost:50000']
        seconds, peak, outputs = run_pipeline(pipeline_args, topics, want, args.timeout, streaming=True)
        outputs -= before
      else:
        raise SystemExit(f'unknown runner {runner}')
      rate = processed / seconds
      rows.append((runner, seconds, rate, peak, outputs))
      print(f'{runner:>7}: {processed} records in {seconds:.1f}s (incl. startup) = {rate:,.0f} records/s, '
            f'peak RSS {peak:,.0f} MB, {outputs} output+DLQ messages, '
            f'{rate / plain_rate:.3f} x plain consumer', flush=True)
  finally:
    h.delete_topics(topics)
  return 0


if __name__ == '__main__':
  sys.exit(main())
