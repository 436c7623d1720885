"""`python -m pipeline`, with timing marks and probes: the child process of bench_profile.

    MILLIONX_PROFILE_MARKS=FILE [MILLIONX_PROFILE_VARIANT=full] \\
        python -m benchmarks.profile_hooks PIPELINE_ARGS...

Runs the real `pipeline.__main__.main` with a few functions wrapped (nothing in the project is
changed), writing one JSON line per mark to FILE: imports done, preflight and backlog check,
each JVM start (Beam's SubprocessServer until its gRPC port answers), each cross-language
expansion, graph construction, `Pipeline.run` and the end of the run. Probes, fused ParDos that
pass elements through, write one line per bundle (first and last element time, count, pid)
after the Kafka read and on the three outputs.

The variant removes one boundary at a time, so that the difference between two runs is what
that boundary costs:

  full              the graph as `python -m pipeline` builds it
  no_writes         the three WriteToKafka replaced by a discarding probe (JSON still built)
  read_only         no_writes, and ProcessRecords replaced by a discarding probe
  read_only_kv      read_only, reading KV<bytes, bytes> without metadata (no Row to decode;
                    topic/partition/offset are lost, so a real run cannot do this)
"""
from __future__ import annotations

import json
import os
import sys
import time

import apache_beam as beam

MARKS_ENV = 'MILLIONX_PROFILE_MARKS'
VARIANT_ENV = 'MILLIONX_PROFILE_VARIANT'
# POSTS,ORDERS: the Weaviate collections to write (python -m pipeline has no flag for them; the
# benchmarks must not write into the stack's shared collections).
WEAVIATE_COLLECTIONS_ENV = 'MILLIONX_PROFILE_WEAVIATE_COLLECTIONS'
VARIANTS = ('full', 'no_writes', 'read_only', 'read_only_kv')


def _write(path: str, record: dict) -> None:
  # One short line per write with O_APPEND: lines from several processes do not interleave.
  with open(path, 'a', encoding='utf-8') as f:
    f.write(json.dumps(record) + '\n')


def mark(name: str, **extra) -> None:
  path = os.environ.get(MARKS_ENV)
  if path:
    _write(path, {'mark': name, 't': time.time(), 'cpu': time.process_time(), 'pid': os.getpid(),
                  **extra})


class ProbeFn(beam.DoFn):
  """Passes (or drops) elements, writing per bundle: first/last element time and count."""

  def __init__(self, path: str, name: str, drop: bool = False):
    self._path = path
    self._name = name
    self._drop = drop
    self._first = self._last = None
    self._n = 0

  def start_bundle(self):
    self._first = self._last = None
    self._n = 0

  def process(self, element):
    now = time.time()
    if self._first is None:
      self._first = now
    self._last = now
    self._n += 1
    if not self._drop:
      yield element

  def finish_bundle(self):
    if self._n:
      _write(self._path, {'probe': self._name, 'first': self._first, 'last': self._last,
                          'n': self._n, 'pid': os.getpid(), 'end': time.time()})


class _DropAll(beam.DoFn):
  """Consumes a PCollection; its tagged outputs stay empty (stand-ins for removed stages)."""

  def __init__(self, path: str, name: str):
    self._probe = ProbeFn(path, name, drop=True)

  def start_bundle(self):
    self._probe.start_bundle()

  def process(self, element):
    yield from self._probe.process(element)

  def finish_bundle(self):
    self._probe.finish_bundle()


def _wrap(owner, name: str, before=None, after=None):
  """Replaces owner.name with a function that marks before/after the original."""
  original = getattr(owner, name)

  def wrapper(*args, **kwargs):
    if before:
      before(*args, **kwargs)
    started = time.time()
    try:
      return original(*args, **kwargs)
    finally:
      if after:
        after(started, *args, **kwargs)
  wrapper.__wrapped__ = original
  setattr(owner, name, wrapper)
  return original


def install(marks_path: str, variant: str) -> None:
  """Wraps the functions a run goes through (see the module docstring)."""
  if variant not in VARIANTS:
    raise SystemExit(f'unknown variant {variant!r}; one of {VARIANTS}')
  from apache_beam.transforms.external import ExternalTransform
  from apache_beam.utils.subprocess_server import SubprocessServer

  import connectors.kafka as kafka
  import pipeline.graph as graph
  import pipeline.preflight as preflight
  import transforms.process as process

  def timed(owner, name, label):
    if hasattr(owner, name):
      _wrap(owner, name, after=lambda started, *a, **k: mark(label, started=started))

  timed(preflight, 'check', 'preflight')
  timed(preflight, 'raw_backlog', 'backlog_check')

  def server_started(started, server, *unused):
    jar = next((os.path.basename(a) for a in server._cmd if a.endswith('.jar')), server._cmd[0])  # pylint: disable=protected-access
    mark('jvm_ready', started=started, what=jar)
  _wrap(SubprocessServer, 'start', after=server_started)

  def expanded(started, transform, *unused):
    mark('expansion', started=started, what=getattr(transform, '_urn', type(transform).__name__))
  _wrap(ExternalTransform, 'expand', after=expanded)

  original_graph = graph.SensoryPipeline.expand

  def sensory_expand(self, pbegin):
    mark('graph_begin')
    outputs = original_graph(self, pbegin)
    for label, pcoll in (('ProbePosts', outputs.posts), ('ProbeOrders', outputs.orders),
                         ('ProbeDeadLetters', outputs.dead_letters)):
      _ = pcoll | label >> beam.ParDo(ProbeFn(marks_path, 'out', drop=True))
    mark('graph_end')
    return outputs
  graph.SensoryPipeline.expand = sensory_expand

  original_read = kafka.ReadRawRecords.expand

  def read_expand(self, pbegin):
    return original_read(self, pbegin) | 'ProbeRead' >> beam.ParDo(ProbeFn(marks_path, 'read'))
  kafka.ReadRawRecords.expand = read_expand

  if variant in ('no_writes', 'read_only', 'read_only_kv'):
    def discard_writes(self, pcoll):
      return pcoll | 'DiscardWrite' >> beam.ParDo(ProbeFn(marks_path, 'write', drop=True))
    kafka.WriteKeyedBytesToKafka.expand = discard_writes

  if variant in ('read_only', 'read_only_kv'):
    def no_stages(self, raw_records):
      outputs = raw_records | 'DiscardStages' >> beam.ParDo(
          _DropAll(marks_path, 'stages')).with_outputs('posts', 'orders', 'dead', main='none')
      return process.ProcessResult(outputs.posts, outputs.orders, outputs.dead)
    process.ProcessRecords.expand = no_stages

  if variant == 'read_only_kv':
    _read_without_metadata(kafka)

  collections = os.environ.get(WEAVIATE_COLLECTIONS_ENV)
  if collections:
    _own_weaviate_collections(*collections.split(','))

  original_run = beam.Pipeline.run

  def run(self, *args, **kwargs):
    mark('run_begin')
    result = original_run(self, *args, **kwargs)
    mark('run_returned')
    return result
  beam.Pipeline.run = run

  original_exit = beam.Pipeline.__exit__

  def pipeline_exit(self, *args):
    try:
      return original_exit(self, *args)
    finally:
      mark('pipeline_done')
  beam.Pipeline.__exit__ = pipeline_exit


def _own_weaviate_collections(posts: str, orders: str) -> None:
  import dataclasses

  import pipeline.__main__ as pipeline_main
  import pipeline.sinks as sinks
  original = sinks.sinks_from_options

  def sinks_from_options(options, dead_letter):
    built = original(options, dead_letter)
    if built.weaviate is not None:
      built.weaviate = dataclasses.replace(built.weaviate, posts_collection=posts,
                                           orders_collection=orders)
    return built
  sinks.sinks_from_options = sinks_from_options
  pipeline_main.sinks_from_options = sinks_from_options


def _read_without_metadata(kafka) -> None:
  """KV<bytes, bytes> from Java instead of a KafkaRecord Row: what the Row costs to decode."""
  from apache_beam.io.kafka import ReadFromKafka

  from schemas.envelope import RawRecord

  def read_kv(consumer_config, topics, max_num_records, max_read_time, commit_offset_in_finalize,
              expansion_service):
    return ReadFromKafka(consumer_config=consumer_config, topics=topics, with_metadata=False,
                         max_num_records=max_num_records, max_read_time=max_read_time,
                         commit_offset_in_finalize=commit_offset_in_finalize,
                         timestamp_policy=ReadFromKafka.create_time_policy,
                         expansion_service=expansion_service)

  def read_expand(self, pbegin):
    if self._config.legacy_payload:  # pylint: disable=protected-access
      read = kafka._ReadFromKafkaLegacyPayload(  # pylint: disable=protected-access
          consumer_config=self._config.consumer_config(), topics=sorted(self._source_by_topic),
          max_num_records=self._max_num_records, max_read_time=self._max_read_seconds,
          commit_offset_in_finalize=True, expansion_service=self._expansion_service)
      read._urn = ReadFromKafka.URN_WITHOUT_METADATA  # pylint: disable=protected-access
    else:
      read = read_kv(self._config.consumer_config(), sorted(self._source_by_topic),
                     self._max_num_records, self._max_read_seconds, True, self._expansion_service)
    topic = sorted(self._source_by_topic)[0]
    source = self._source_by_topic[topic]
    return (pbegin
            | 'ReadFromKafka' >> read
            | 'ToRawRecord' >> beam.Map(
                lambda kv: RawRecord(source, topic, 0, 0, 0, kv[0], kv[1], ())))
  marks_path = os.environ[MARKS_ENV]

  def probed(self, pbegin):   # replaces the probed read that install() set up
    return read_expand(self, pbegin) | 'ProbeRead' >> beam.ParDo(ProbeFn(marks_path, 'read'))
  kafka.ReadRawRecords.expand = probed


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  marks_path = os.environ.get(MARKS_ENV)
  if not marks_path:
    raise SystemExit(f'set {MARKS_ENV}=FILE')
  mark('beam_imported')
  from pipeline import __main__ as pipeline_main  # the project's imports, Beam's included
  mark('imported')
  install(marks_path, os.environ.get(VARIANT_ENV, 'full'))
  try:
    return pipeline_main.main(argv)
  finally:
    mark('main_returned')


if __name__ == '__main__':
  sys.exit(main())
