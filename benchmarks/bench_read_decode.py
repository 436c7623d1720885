"""What the cross-language Kafka read costs Python per record: decoding what Java sends.

    python -m benchmarks.bench_read_decode [--records 20000] [--rounds 5]

Expands Beam's ReadFromKafka with and without metadata against the project's expansion service
(a JVM: run under the heavy lock), takes the coder of each output exactly as the expansion
service declared it (with metadata: a Row of topic, partition, offset, timestamp, key, value,
headers, ...; without: KV<bytes, bytes>), encodes real demo records with it and times, side by
side in one process:

  with_metadata: decode the Row                        (what every record costs today)
  with_metadata: decode + ToRawRecord                  (the graph's first Python step)
  without metadata: decode the KV                      (the floor, but no topic/partition/offset)

No pipeline runs: this isolates the Python side of the boundary; bench_profile's read_only /
read_only_kv variants measure the whole boundary, Java's encoding and the data plane included.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from tests.integration import pipeline_helpers as h


def _expanded_coder(with_metadata: bool, expansion_jar: str):
  import apache_beam as beam
  from apache_beam.io.kafka import ReadFromKafka
  from apache_beam.transforms.external import JavaJarExpansionService
  p = beam.Pipeline()
  pcoll = p | ReadFromKafka(
      consumer_config={'bootstrap.servers': h.BOOTSTRAP, 'group.id': 'bench-decode'},
      topics=['bench-decode-unused'], with_metadata=with_metadata, max_num_records=1,
      expansion_service=JavaJarExpansionService(expansion_jar))
  return beam.coders.registry.get_coder(pcoll.element_type), pcoll.element_type


def _time(fn, rounds: int) -> float:
  best = []
  for _ in range(rounds):
    cpu = time.process_time()
    fn()
    best.append(time.process_time() - cpu)
  return min(best), statistics.median(best)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--records', type=int, default=20_000, help='demo records to encode')
  parser.add_argument('--rounds', type=int, default=5, help='rounds; best and median printed')
  args = parser.parse_args(argv)
  from connectors.kafka import _to_raw_record  # pylint: disable=protected-access
  from pipeline.options import DEFAULT_EXPANSION_JAR
  from agents import demo

  row_coder, row_type = _expanded_coder(True, DEFAULT_EXPANSION_JAR)
  kv_coder, _ = _expanded_coder(False, DEFAULT_EXPANSION_JAR)
  print(f'with metadata: {row_coder} fields {getattr(row_type, "_fields", None) or row_type}')
  print(f'without metadata: {kv_coder}')
  fields = row_type._fields  # pylint: disable=protected-access
  header_type = None
  for name, hint in getattr(row_type, '__annotations__', {}).items():
    if name == 'headers':
      header_type = getattr(hint, '__args__', [None])[0]
      header_type = getattr(header_type, '__args__', [header_type])[0] if header_type else None
  data = demo.generate(seed=5, events=args.records, malformed_share=0.02)
  rows, kvs = [], []
  sources = {}
  for i, e in enumerate(data.events):
    headers = [header_type(key=k, value=v) for k, v in e.headers] if header_type else []
    values = {'topic': e.topic, 'partition': i % 3, 'offset': i, 'timestamp': 1_764_000_000_000 + i,
              'key': e.key, 'value': e.value, 'headers': headers, 'timestampTypeId': 0,
              'timestampTypeName': 'CreateTime'}
    rows.append(row_type(**{f: values.get(f) for f in fields}))
    kvs.append((e.key or b'', e.value))
    sources[e.topic] = dict(e.headers).get('source', b'unknown').decode()
  row_impl, kv_impl = row_coder.get_impl(), kv_coder.get_impl()
  row_bytes = [row_impl.encode_nested(r) for r in rows]
  kv_bytes = [kv_impl.encode_nested(kv) for kv in kvs]
  n = len(rows)
  print(f'{n:,} records; encoded size per record: Row {sum(map(len, row_bytes)) / n:,.0f} B, '
        f'KV {sum(map(len, kv_bytes)) / n:,.0f} B')

  def decode_rows():
    for b in row_bytes:
      row_impl.decode_nested(b)

  def decode_rows_to_raw():
    for b in row_bytes:
      _to_raw_record(row_impl.decode_nested(b), sources)

  def decode_kvs():
    for b in kv_bytes:
      kv_impl.decode_nested(b)

  print('| Python side of the read | CPU-µs per record (best) | median | ratio to KV decode |')
  print('| --- | --- | --- | --- |')
  kv_best, kv_median = _time(decode_kvs, args.rounds)
  for label, fn in (('KV<bytes, bytes> decode (no metadata)', decode_kvs),
                    ('KafkaRecord Row decode (with metadata)', decode_rows),
                    ('Row decode + ToRawRecord (the graph today)', decode_rows_to_raw)):
    best, median = (kv_best, kv_median) if fn is decode_kvs else _time(fn, args.rounds)
    print(f'| {label} | {1e6 * best / n:.1f} | {1e6 * median / n:.1f} | {best / kv_best:.1f} |')
  print(f'load average {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
