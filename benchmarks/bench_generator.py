"""Benchmark: demo events generated, and published into the local Kafka broker, per second.

One run measures side by side, on the same events: generation alone (one process, with the
JSON encoder in use and with the stdlib one), publishing alone through each client and process
count (kafka-python as the agents, librdkafka as the demo's default), and generate-then-publish
as `python -m agents.demo` does it. Configurations are interleaved and repeated, because the
machine is shared: compare the ratios within a run. CPU µs per record counts the publishing
process, its librdkafka threads and its forked workers. Publishing goes to temporary
`bench.<random>.` topics with the project's layout, deleted at the end, through
agents.demo.publish (acks=all, idempotent producer, linger + batching + compression).

    .local/venv/bin/python benchmarks/bench_generator.py --events 40000 --repeat 3
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import resource
import statistics
import sys
import time
import uuid
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402  pylint: disable=wrong-import-position

from agents import demo  # noqa: E402  pylint: disable=wrong-import-position
from agents.topics import load_topics  # noqa: E402  pylint: disable=wrong-import-position
from connectors.kafka_publisher import PublisherConfig, best_compression  # noqa: E402  pylint: disable=wrong-import-position


def _cpu_s() -> float:
  """CPU seconds of this process (all threads) and of its reaped children."""
  own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
      resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@dataclasses.dataclass
class Measure:
  label: str
  run: Callable[[], int]            # returns the number of records it handled
  rates: list[float] = dataclasses.field(default_factory=list)
  cpu_us: list[float] = dataclasses.field(default_factory=list)

  def once(self) -> None:
    cpu, started = _cpu_s(), time.perf_counter()
    n = self.run()
    took, cpu = time.perf_counter() - started, _cpu_s() - cpu
    self.rates.append(n / took)
    self.cpu_us.append(cpu / n * 1e6)


def _generate_with(encoder, args, topics) -> int:
  return len(demo.generate(args.seed, args.events, 0.05, topics=topics, encode=encoder).events)


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--bootstrap-servers', help='default: the topics file\'s')
  parser.add_argument('--events', type=int, default=40_000, help='source events (default 40000)')
  parser.add_argument('--seed', type=int, default=1, help='generator seed (1)')
  parser.add_argument('--repeat', type=int, default=3, help='rounds over all configurations (3)')
  parser.add_argument('--clients', nargs='+', default=['kafka-python', 'librdkafka'],
                      choices=sorted(demo.CLIENTS), help='publishing clients to measure (both)')
  parser.add_argument('--workers', type=int, nargs='+', default=[1, 2],
                      help='publisher process counts to measure (default: 1 2)')
  parser.add_argument('--compression', default='auto',
                      help='codec: auto (= %s), zstd, lz4, gzip, none' % best_compression())
  parser.add_argument('--linger-ms', type=int, default=demo.BULK_LINGER_MS,
                      help=f'producer linger (default {demo.BULK_LINGER_MS}, as agents.demo)')
  parser.add_argument('--batch-kb', type=int, default=demo.BULK_BATCH_BYTES // 1024,
                      help=f'producer batch size in KiB (default {demo.BULK_BATCH_BYTES // 1024})')
  parser.add_argument('--partitions', type=int, default=3, help='partitions per bench topic (3)')
  args = parser.parse_args()

  topics = load_topics().with_prefix(f'bench.{uuid.uuid4().hex[:8]}.')
  servers = args.bootstrap_servers or topics.bootstrap_servers
  config = dataclasses.replace(
      PublisherConfig(bootstrap_servers=servers, client_id='millionx-bench'),
      compression=args.compression, linger_ms=args.linger_ms, batch_size=args.batch_kb * 1024)
  data = demo.generate(args.seed, args.events, 0.05, topics=topics)
  n = len(data.events)
  total_bytes = sum(len(e.value) + len(e.key) for e in data.events)
  fast_json = demo.fast_json is not demo.stdlib_json

  def publish(client: str, workers: int) -> Callable[[], int]:
    return lambda: sum(demo.publish(data.events, servers, config=config, workers=workers,
                                    client=client).values())

  def end_to_end() -> int:
    fresh = demo.generate(args.seed, args.events, 0.05, topics=topics)
    return sum(demo.publish(fresh.events, servers, config=config).values())

  generation = Measure('generation alone, 1 process' + (' (orjson)' if fast_json else ''),
                       lambda: len(demo.generate(args.seed, args.events, 0.05,
                                                 topics=topics).events))
  measures = [generation]
  if fast_json:
    measures.append(Measure('generation alone, 1 process (stdlib json)', lambda: _generate_with(
        demo.stdlib_json, args, topics)))
  publishers = [Measure(f'publish alone, {c}, {w} process{"es" if w > 1 else ""}', publish(c, w))
                for c in args.clients for w in args.workers]
  measures += publishers
  measures.append(Measure(f'generate + publish ({demo.DEFAULT_CLIENT}, 1 process, as agents.demo)',
                          end_to_end))

  load_before = os.getloadavg()
  admin = KafkaAdminClient(bootstrap_servers=servers)
  admin.create_topics([NewTopic(t, args.partitions, 1) for t in topics.all_topics()])
  try:
    publish(args.clients[0], 1)()   # warm-up: topic metadata, broker caches
    for _ in range(args.repeat):
      for m in measures:
        m.once()
  finally:
    admin.delete_topics(topics.all_topics())
    admin.close()
  load_after = os.getloadavg()

  codec = best_compression() if args.compression == 'auto' else args.compression
  print(f'cpus: {os.cpu_count()}  load average before: {" ".join(f"{x:.2f}" for x in load_before)}'
        f'  after: {" ".join(f"{x:.2f}" for x in load_after)}')
  print(f'{n:,} records ({total_bytes / n / 1000:.2f} KB mean value+key), {args.partitions} '
        f'partitions, acks=all, idempotent, {codec}, linger {args.linger_ms} ms, '
        f'batch {args.batch_kb} KiB; {args.repeat} rounds')
  gen_median = statistics.median(generation.rates)
  base = next((m for m in publishers if m.label.endswith('kafka-python, 1 process')), None)
  print(f'{"measure":<62} {"best/s":>8} {"median/s":>9} {"CPU µs/rec":>10} {"÷ gen":>6} '
        f'{"÷ kafka-python 1":>16}')
  for m in measures:
    median = statistics.median(m.rates)
    vs_base = f'{median / statistics.median(base.rates):.2f}' if base and m in publishers else ''
    print(f'{m.label:<62} {max(m.rates):>8,.0f} {median:>9,.0f} '
          f'{statistics.median(m.cpu_us):>10.0f} {median / gen_median:>6.2f} {vs_base:>16}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
