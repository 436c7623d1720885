"""Benchmark: demo events generated and published per second into the local Kafka broker.

Generation and publishing are timed apart (the target, 20,000 events/s, is about publishing).
Publishing goes to temporary `bench.<random>.` topics with the project's layout, deleted at the
end, through the same path the demo uses (agents.demo.publish: acks=all, idempotent producer,
linger + batching + compression), once per configuration given.

    .local/venv/bin/python benchmarks/bench_generator.py --events 40000 --workers 1 2
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402  pylint: disable=wrong-import-position

from agents import demo  # noqa: E402  pylint: disable=wrong-import-position
from agents.topics import load_topics  # noqa: E402  pylint: disable=wrong-import-position
from connectors.kafka_publisher import PublisherConfig, best_compression  # noqa: E402  pylint: disable=wrong-import-position


def main() -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--bootstrap-servers', help='default: the topics file\'s')
  parser.add_argument('--events', type=int, default=40_000, help='source events (default 40000)')
  parser.add_argument('--seed', type=int, default=1, help='generator seed (1)')
  parser.add_argument('--workers', type=int, nargs='+', default=[1, 2],
                      help='publisher process counts to measure (default: 1 2)')
  parser.add_argument('--compression', nargs='+', default=['auto'],
                      help='codecs to measure: auto (= %s), zstd, gzip, none' % best_compression())
  parser.add_argument('--linger-ms', type=int, default=demo.BULK_LINGER_MS,
                      help=f'producer linger (default {demo.BULK_LINGER_MS}, as agents.demo)')
  parser.add_argument('--batch-kb', type=int, default=demo.BULK_BATCH_BYTES // 1024,
                      help=f'producer batch size in KiB (default {demo.BULK_BATCH_BYTES // 1024})')
  parser.add_argument('--partitions', type=int, default=3, help='partitions per bench topic (3)')
  args = parser.parse_args()

  topics = load_topics().with_prefix(f'bench.{uuid.uuid4().hex[:8]}.')
  servers = args.bootstrap_servers or topics.bootstrap_servers

  started = time.perf_counter()
  data = demo.generate(args.seed, args.events, 0.05, topics=topics)
  gen_s = time.perf_counter() - started
  total_bytes = sum(len(e.value) + len(e.key) for e in data.events)
  n = len(data.events)
  print(f'cpus: {os.cpu_count()}  load average: {" ".join(f"{x:.2f}" for x in os.getloadavg())}')
  print(f'generated {n} records ({total_bytes / n:,.0f} B mean value+key) in {gen_s:.2f}s: '
        f'{n / gen_s:,.0f} records/s (one process)')

  admin = KafkaAdminClient(bootstrap_servers=servers)
  admin.create_topics([NewTopic(t, args.partitions, 1) for t in topics.all_topics()])
  try:
    print(f'{"codec":<6} {"workers":>7} {"records/s":>10} {"MB/s":>7} {"seconds":>8}  acked')
    for codec in args.compression:
      for workers in args.workers:
        config = dataclasses.replace(
            PublisherConfig(bootstrap_servers=servers, client_id='millionx-bench'),
            compression=codec, linger_ms=args.linger_ms, batch_size=args.batch_kb * 1024)
        started = time.perf_counter()
        counts = demo.publish(data.events, servers, config=config, workers=workers)
        took = time.perf_counter() - started
        acked = sum(counts.values())
        label = best_compression() if codec == 'auto' else codec
        print(f'{label:<6} {workers:>7} {acked / took:>10,.0f} {total_bytes / took / 1e6:>7.1f} '
              f'{took:>8.2f}  {acked}/{n}')
  finally:
    admin.delete_topics(topics.all_topics())
    admin.close()
  return 0


if __name__ == '__main__':
  sys.exit(main())
