"""End-to-end latency on Flink at a steady input rate: Kafka record → output topic, Snowflake row,
Weaviate object; p50/p95/p99.

    python -m benchmarks.bench_latency [--rates 500,2000] [--seconds 60] [--runner flink_local]
                                       [--snowflake] [--weaviate --embed]

Starts `python -m pipeline` on Flink (streaming, through benchmarks/profile_hooks.py so that
its Weaviate collections are the benchmark's own), lets it warm up on a few hundred records,
then for each rate publishes demo events at that steady rate (librdkafka, paced every 10 ms)
for --seconds and waits until every published record has reached an output or the DLQ. The
latency of a record is measured from its Kafka timestamp (CreateTime, set when it was produced)
to:

  output topic   the output message's own Kafka timestamp (set when Beam's producer sent it)
  Snowflake      LOADED_AT of its row (CURRENT_TIMESTAMP() of the MERGE that wrote it)
  Weaviate       the object's creationTimeUnix (only with --embed: objects need vectors)

Snowflake gets its own schema and Weaviate its own collections, dropped afterwards. Needs the
local stack; run it under the heavy lock (it starts Flink).
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

from benchmarks.bench_profile import key_args, runner_args, stop_tree
from tests.integration import pipeline_helpers as h


def _pct(values, q):
  values = sorted(values)
  return values[min(len(values) - 1, int(q * len(values)))] if values else float('nan')


class OutputWatcher(threading.Thread):
  """Reads the output topics and the DLQ from their current end: per source coordinate, the
  output's Kafka timestamp (ms) and when this process received it."""

  def __init__(self, topic_names):
    super().__init__(daemon=True)
    from kafka import KafkaConsumer, TopicPartition
    self._consumer = KafkaConsumer(bootstrap_servers=h.BOOTSTRAP, enable_auto_commit=False)
    parts = [TopicPartition(t, p) for t in topic_names
             for p in self._consumer.partitions_for_topic(t) or ()]
    self._consumer.assign(parts)
    self._consumer.seek_to_end(*parts)
    for tp in parts:
      self._consumer.position(tp)
    self.seen: dict[tuple, tuple[int, float]] = {}
    self._done = threading.Event()

  def run(self):
    import json
    while not self._done.is_set():
      for records in self._consumer.poll(timeout_ms=200).values():
        now = time.time()
        for r in records:
          try:
            row = json.loads(r.value)
          except ValueError:
            continue
          lineage = row.get('lineage')
          if lineage:   # a post or an order
            coord = (lineage['topic'], lineage['partition'], lineage['offset'])
          else:         # a dead letter
            coord = (row.get('topic'), row.get('partition'), row.get('offset'))
          if coord not in self.seen:
            self.seen[coord] = (r.timestamp, now)
    self._consumer.close()

  def stop(self):
    self._done.set()
    self.join()


def paced_publish(events, rate: float, seconds: float) -> dict[tuple, int]:
  """Publishes `rate` events a second for `seconds`; returns {(topic, partition, offset):
  Kafka timestamp ms} of every acknowledged event."""
  from confluent_kafka import Producer
  producer = Producer({'bootstrap.servers': h.BOOTSTRAP, 'acks': 'all', 'enable.idempotence': True,
                       'linger.ms': 5, 'compression.type': 'zstd',
                       'partitioner': 'murmur2_random'})
  acked: dict[tuple, int] = {}
  errors = []

  def delivered(err, msg):
    if err is not None:
      errors.append(err)
    else:
      acked[(msg.topic(), msg.partition(), msg.offset())] = msg.timestamp()[1]
  total = min(len(events), int(rate * seconds))
  started = time.perf_counter()
  sent = 0
  while sent < total:
    due = min(total, int(rate * (time.perf_counter() - started)) + 1)
    while sent < due:
      e = events[sent]
      producer.produce(e.topic, key=e.key, value=e.value, headers=list(e.headers),
                       on_delivery=delivered)
      sent += 1
    producer.poll(0)
    time.sleep(0.01)
  producer.flush(60)
  if errors:
    raise RuntimeError(f'{len(errors)} events not acknowledged, e.g. {errors[0]}')
  achieved = total / (time.perf_counter() - started)
  print(f'  published {total:,} events at {achieved:,.0f}/s (asked {rate:,.0f}/s)', flush=True)
  return acked


def snowflake_loaded(config, coords: set) -> dict[tuple, float]:
  from connectors.snowflake import connect
  from connectors.snowflake_tables import MARKET_ORDERS, SOCIAL_POSTS
  out = {}
  conn = connect(config)
  try:
    cursor = conn.cursor()
    for table in (SOCIAL_POSTS, MARKET_ORDERS):
      cursor.execute(f'SELECT KAFKA_TOPIC, KAFKA_PARTITION, KAFKA_OFFSET, MIN(LOADED_AT) '
                     f'FROM {config.qualified(table)} GROUP BY 1, 2, 3')
      for topic, partition, offset, loaded in cursor.fetchall():
        coord = (topic, int(partition), int(offset))
        if coord in coords:
          out[coord] = loaded.timestamp()
  finally:
    conn.close()
  return out


def weaviate_created(config, coords: set) -> dict[tuple, float]:
  from weaviate.classes.query import MetadataQuery

  from connectors.weaviate import open_client
  out = {}
  with open_client(config) as client:
    for name in (config.posts_collection, config.orders_collection):
      for obj in client.collections.get(name).iterator(
          return_metadata=MetadataQuery(creation_time=True),
          return_properties=['kafka_topic', 'kafka_partition', 'kafka_offset']):
        p = obj.properties
        coord = (p['kafka_topic'], int(p['kafka_partition']), int(p['kafka_offset']))
        if coord in coords:
          created = obj.metadata.creation_time
          out[coord] = min(out.get(coord, float('inf')), created.timestamp())
  return out


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--rates', default='500,2000', help='comma list of records/s')
  parser.add_argument('--seconds', type=float, default=60, help='seconds at each rate')
  parser.add_argument('--runner', default='flink_local', choices=('flink_local', 'flink_cluster'))
  parser.add_argument('--snowflake', action='store_true', help='also write to (local) Snowflake')
  parser.add_argument('--weaviate', action='store_true', help='also write to Weaviate (needs --embed)')
  parser.add_argument('--embed', action='store_true', help='compute embeddings (slow here)')
  parser.add_argument('--drain-timeout', type=float, default=180,
                      help='seconds to wait, after a rate, for the last records to come out')
  parser.add_argument('--extra', action='append', default=[], help='an extra pipeline flag')
  parser.add_argument('--warmup-timeout', type=float, default=240,
                      help='seconds to wait for the warm-up records before one restart')
  parser.add_argument('--dump', default=None, help='also write every latency to this JSON file')
  args = parser.parse_args(argv)
  if args.weaviate and not args.embed:
    parser.error('--weaviate needs --embed: objects are written only with their vectors')
  rates = [float(r) for r in args.rates.split(',')]
  h.kafka_or_fail()
  from agents import demo
  from agents.topics import load_topics as load_agent_topics
  from pipeline.context_files import write_context_files
  tmp = tempfile.mkdtemp(prefix='bench-latency-')
  topics = h.make_topics(tmp)
  sf_config = wv_config = None
  proc = log = None
  try:
    needed = 300 + int(sum(rates) * args.seconds * 1.05)
    data = demo.generate(seed=9, events=needed, malformed_share=0.02,
                         topics=load_agent_topics().with_prefix(topics.prefix))
    context = [e for e in data.events if dict(e.headers)['source'] in (b'openweather', b'catalog')]
    events = [e for e in data.events if dict(e.headers)['source'] not in (b'openweather', b'catalog')]
    demo.publish(context, h.BOOTSTRAP)
    weather, catalog, _, _ = write_context_files(
        h.BOOTSTRAP, tmp, topics.topic('context.weather'), topics.topic('context.products'))
    pipeline_args = [*runner_args(args.runner), *topics.pipeline_args(f'lat-{uuid.uuid4().hex[:6]}'),
                     *key_args(tmp), f'--weather_snapshot={weather}', f'--product_catalog={catalog}',
                     *([] if args.embed else ['--no_embed']), *args.extra]
    env = dict(os.environ, MILLIONX_PROFILE_MARKS=os.path.join(tmp, 'marks.jsonl'))
    if args.snowflake:
      from connectors.snowflake_migrate import local_config, migrate
      sf_config = local_config(schema=f'BENCH_{uuid.uuid4().hex[:8].upper()}')
      migrate(sf_config, log=lambda _: None)
      password = os.path.join(tmp, 'snowflake.key')
      with open(password, 'w', encoding='utf-8') as f:
        f.write(os.environ.get('MILLIONX_SNOWFLAKE_PASSWORD', 'local'))
      pipeline_args += ['--snowflake', '--snowflake_emulator', '--snowflake_host=127.0.0.1',
                        f'--snowflake_port={sf_config.port}', '--snowflake_protocol=http',
                        f'--snowflake_schema={sf_config.schema}',
                        f'--snowflake_password_ref=file:{password}']
    if args.weaviate:
      from tests.integration import sink_helpers
      wv_config = sink_helpers.weaviate_config()
      from connectors.weaviate import ensure_collections, open_client
      with open_client(wv_config) as client:
        ensure_collections(client, wv_config)
      env['MILLIONX_PROFILE_WEAVIATE_COLLECTIONS'] = (
          f'{wv_config.posts_collection},{wv_config.orders_collection}')
      pipeline_args += ['--weaviate', f'--weaviate_http_port={wv_config.http_port}',
                        f'--weaviate_grpc_port={wv_config.grpc_port}']
    log_path = os.path.join(h.REPO, '.local', 'logs', f'bench-latency-{uuid.uuid4().hex[:6]}.log')
    print(f'load average {" ".join(f"{x:.1f}" for x in os.getloadavg())}; pipeline log {log_path}',
          flush=True)
    out_names = [topics.topic(n) for n in ('out.social.posts', 'out.market.orders', 'dlq.pipeline')]
    log = open(log_path, 'w', encoding='utf-8')

    def start():
      return subprocess.Popen([sys.executable, '-m', 'benchmarks.profile_hooks', *pipeline_args],
                              cwd=h.REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    # Warm-up: 300 events published at once; the job is up when all of them came out. A job
    # with no output after --warmup-timeout is restarted once: Flink [local] has been seen to
    # hang at start (task threads blocked logging into the embedded Java harness's full log
    # queue, BeamFnLoggingClient); one restart is the workaround used here.
    watcher = OutputWatcher(out_names)
    watcher.start()
    proc = start()
    warm = paced_publish(events[:300], 10_000, 1)
    for attempt in (1, 2):
      deadline = time.monotonic() + args.warmup_timeout
      while not set(warm) <= set(watcher.seen) and time.monotonic() < deadline:
        if proc.poll() is not None:
          raise SystemExit(f'the pipeline exited with {proc.returncode}; see {log_path}')
        time.sleep(1)
      if watcher.seen or attempt == 2:
        break
      print(f'  no output after {args.warmup_timeout:.0f} s: restarting the pipeline', flush=True)
      stop_tree(proc)
      proc = start()
    watcher.stop()
    print(f'  warm-up: {len(set(warm) & set(watcher.seen))} of {len(warm)} out', flush=True)
    if not set(warm) & set(watcher.seen):
      raise SystemExit(f'the pipeline produced nothing; see {log_path}')
    offset = 300
    rows = []
    for rate in rates:
      n = int(rate * args.seconds)
      watcher = OutputWatcher(out_names)
      watcher.start()
      load_before = os.getloadavg()[0]
      acked = paced_publish(events[offset:offset + n], rate, args.seconds)
      offset += n
      coords = set(acked)
      deadline = time.monotonic() + args.drain_timeout
      while not coords <= set(watcher.seen) and time.monotonic() < deadline:
        time.sleep(1)
      time.sleep(5)   # the sinks' time-triggered flushes of the last partial batches
      watcher.stop()
      out = {c: (watcher.seen[c][0] - acked[c]) / 1000 for c in coords if c in watcher.seen}
      rows.append((rate, 'output topic (Kafka timestamp)', len(coords), out, acked))
      seen_at = {c: watcher.seen[c][1] - acked[c] / 1000 for c in coords if c in watcher.seen}
      rows.append((rate, 'output topic (received here)', len(coords), seen_at, acked))
      if sf_config is not None:
        loaded = snowflake_loaded(sf_config, coords)
        rows.append((rate, 'Snowflake row (LOADED_AT)', len(coords),
                     {c: t - acked[c] / 1000 for c, t in loaded.items()}, acked))
      if wv_config is not None:
        created = weaviate_created(wv_config, coords)
        rows.append((rate, 'Weaviate object (creationTimeUnix)', len(coords),
                     {c: t - acked[c] / 1000 for c, t in created.items()}, acked))
      print(f'  rate {rate:,.0f}/s done; load average {load_before:.1f} → {os.getloadavg()[0]:.1f}',
            flush=True)
    print('\n| rate (records/s) | to | records published | arrived | p50 s | p95 s | p99 s | max s '
          '| p50 by quarter of the publishing time |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for rate, what, published, lat, sent_at in rows:
      v = list(lat.values())
      # A latency that grows from quarter to quarter is a pipeline falling behind the rate; a
      # flat one is the pipeline's own delay.
      order = sorted(lat, key=lambda c: sent_at[c])
      quarters = [order[i * len(order) // 4:(i + 1) * len(order) // 4] for i in range(4)]
      trend = ' / '.join(f'{_pct([lat[c] for c in q], .5):.1f}' for q in quarters if q)
      print(f'| {rate:,.0f} | {what} | {published:,} | {len(v):,} | {_pct(v, .5):.2f} | '
            f'{_pct(v, .95):.2f} | {_pct(v, .99):.2f} | {max(v) if v else float("nan"):.2f} '
            f'| {trend} |')
    if args.dump:
      with open(args.dump, 'w', encoding='utf-8') as f:
        json.dump([{'rate': rate, 'to': what, 'latency_s': {':'.join(map(str, c)): x for c, x in lat.items()}}
                   for rate, what, _, lat, _ in rows], f)
    print(f'(Snowflake and Weaviate hold posts and orders only: dead letters have no row there)')
  finally:
    if proc is not None:
      stop_tree(proc)
    if log is not None:
      log.close()
    h.delete_topics(topics)
    if sf_config is not None:
      from connectors.snowflake import connect
      conn = connect(sf_config)
      try:
        conn.cursor().execute(f'DROP SCHEMA IF EXISTS {sf_config.database}.{sf_config.schema} CASCADE')
      finally:
        conn.close()
    if wv_config is not None:
      from connectors.weaviate import open_client
      with open_client(wv_config) as client:
        client.collections.delete([wv_config.posts_collection, wv_config.orders_collection])
  print(f'load average at the end {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
