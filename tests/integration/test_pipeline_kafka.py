"""End to end through the real local Kafka: read → transforms → WriteToKafka (and the sinks).

DirectRunner and PrismRunner (bounded: the exact planned offset ranges, committed after the run),
Flink [local] (streaming, stopped once the outputs have arrived) and a job submitted to the local
Flink session cluster. Every published message must end in an output topic or the DLQ; a restart
with the same consumer group neither re-reads nor skips; a failed run commits nothing.
"""
from __future__ import annotations

import io
import itertools
import time
import uuid

import pytest

from pipeline.__main__ import run
from pipeline.context_files import write_context_files
from pipeline.flink_jobs import cancel_job, list_jobs
from tests.integration import pipeline_helpers as h
from tests.integration import sink_helpers

# Test-only keys: 32 bytes as hex, as run_local.sh makes them.
SECRET_ENV = {'MILLIONX_DLQ_KEY': '7c1d2a3b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9',
              'MILLIONX_PSEUDONYM_KEY': 'e0d1c2b3a4958677685a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912'}
COMMON = ['--no_embed', '--dlq_key_ref=env:MILLIONX_DLQ_KEY',
          '--pseudonym_key_ref=env:MILLIONX_PSEUDONYM_KEY']


@pytest.fixture()
def topics(tmp_path, monkeypatch):
  yield from h.keyed_topics(tmp_path, monkeypatch, SECRET_ENV)


def _direct(topics, group, extra=()):
  return run([*topics.pipeline_args(group), *COMMON, '--max_read_seconds=30', *extra])


def test_direct_runner_accounts_for_every_record_and_resumes(topics):
  group = f'g-{uuid.uuid4().hex[:6]}'
  first = h.publish_demo(topics, seed=11, events=120, malformed_share=0.1)
  expected_first = h.raw_coordinates(topics)
  assert len(expected_first) == 120

  summary = _direct(topics, group)

  assert summary.backlog == 120   # the default --max_records is capped at the group's backlog
  assert summary.read == 120
  assert summary.reconciled, summary.render()
  outputs = h.read_outputs(topics)
  h.assert_all_accounted(expected_first, outputs, malformed_count=len(first.malformed))

  # Restart with the same group after more data arrived: exactly the new messages are read.
  second = h.publish_demo(topics, seed=12, events=60, malformed_share=0.1)
  expected_all = h.raw_coordinates(topics)
  expected_new = expected_all - expected_first
  assert len(expected_new) == 60

  summary2 = _direct(topics, group)

  assert summary2.read == 60, 'a restart re-read or skipped records'
  outputs2 = h.read_outputs(topics)
  h.assert_all_accounted(expected_all, outputs2,
                         malformed_count=len(first.malformed) + len(second.malformed))
  # Nothing read twice: each raw message produced its outputs once.
  coords = [(d['topic'], d['partition'], d['offset']) for d in outputs2.dead_letters]
  assert len(coords) == len(set(coords))

  # Nothing new: the run stops before building a graph.
  summary3 = _direct(topics, group)
  assert (summary3.backlog, summary3.read) == (0, 0)


def test_prism_runner_accounts_for_every_record_and_resumes(topics):
  group = f'g-{uuid.uuid4().hex[:6]}'
  prism = ['--runner=PrismRunner', '--max_read_seconds=30']
  first = h.publish_demo(topics, seed=14, events=80, malformed_share=0.1)
  expected_first = h.raw_coordinates(topics)

  summary = run([*topics.pipeline_args(group), *COMMON, *prism])

  assert (summary.backlog, summary.read) == (80, 80)
  assert summary.reconciled, summary.render()
  h.assert_all_accounted(expected_first, h.read_outputs(topics),
                         malformed_count=len(first.malformed))

  second = h.publish_demo(topics, seed=15, events=30, malformed_share=0.1)
  summary2 = run([*topics.pipeline_args(group), *COMMON, *prism])

  assert (summary2.backlog, summary2.read) == (30, 30), 'a restart re-read or skipped records'
  outputs = h.read_outputs(topics)
  h.assert_all_accounted(h.raw_coordinates(topics), outputs,
                         malformed_count=len(first.malformed) + len(second.malformed))
  coords = [(d['topic'], d['partition'], d['offset']) for d in outputs.dead_letters]
  assert len(coords) == len(set(coords))


def test_dead_letters_do_not_carry_payload_in_clear(topics):
  data = h.publish_demo(topics, seed=13, events=40, malformed_share=0.25)
  _direct(topics, f'g-{uuid.uuid4().hex[:6]}')
  dlq = h.read_all([topics.topic('dlq.pipeline')])
  assert len(dlq) == len(data.malformed)
  planted = [p.value for p in data.pii if len(p.value) >= 6]
  for record in dlq:
    text = record.value.decode('utf-8', errors='replace')
    assert not [v for v in planted if v in text]


def test_a_failed_run_commits_nothing_and_the_rerun_writes_every_record_once_to_the_sinks(
    topics, monkeypatch):
  """A run that fails after the read (injected in the posts' JSON step, after some records may
  have reached the sinks) leaves the group where it was; the rerun reads everything again and
  Snowflake and Weaviate hold every event exactly once."""
  import pipeline.graph as graph  # pylint: disable=import-outside-toplevel
  group = f'g-{uuid.uuid4().hex[:6]}'
  h.publish_demo(topics, seed=16, events=150, malformed_share=0.1)
  expected = h.raw_coordinates(topics)
  with sink_helpers.snowflake_schema() as snow, sink_helpers.weaviate_collections() as weav:
    sinks = h.sink_args(snow, weav)
    real, calls = graph._normalized_to_kv, itertools.count()

    def fails_on_the_40th_post(record):
      if next(calls) == 40:
        raise RuntimeError('injected failure after the read')
      return real(record)
    monkeypatch.setattr(graph, '_normalized_to_kv', fails_on_the_40th_post)
    with pytest.raises(Exception, match='injected failure'):
      _direct(topics, group, sinks)
    assert h.committed_backlog(topics, group) == len(expected), 'a failed run committed offsets'

    monkeypatch.setattr(graph, '_normalized_to_kv', real)
    summary = _direct(topics, group, sinks)
    assert (summary.backlog, summary.read) == (len(expected), len(expected))
    assert summary.reconciled, summary.render()
    assert h.committed_backlog(topics, group) == 0
    result = h.delivery(topics, expected, snow, weav)
    assert result.ok() and result.events > 100, result


def test_direct_runner_with_embeddings_writes_vectors_to_weaviate(topics):
  """The default run (embeddings on, the default backend): every record accounted for, every
  post and order in both sinks once, and every Weaviate object carries a finite 384-d vector
  named by the backend that made it; the same text gets the same vector."""
  import math  # pylint: disable=import-outside-toplevel
  from connectors.weaviate import VECTOR_NAME, open_client  # pylint: disable=import-outside-toplevel
  group = f'g-{uuid.uuid4().hex[:6]}'
  data = h.publish_demo(topics, seed=21, events=40, malformed_share=0.1)
  expected = h.raw_coordinates(topics)
  keys = ['--dlq_key_ref=env:MILLIONX_DLQ_KEY', '--pseudonym_key_ref=env:MILLIONX_PSEUDONYM_KEY']
  with sink_helpers.snowflake_schema() as snow, sink_helpers.weaviate_collections() as weav:
    summary = run([*topics.pipeline_args(group), *keys, '--max_read_seconds=30',
                   *h.sink_args(snow, weav)])
    assert summary.reconciled, summary.render()
    assert summary.get('num_embeddings_computed') + summary.get('num_embedding_cache_hits') > 0
    h.assert_all_accounted(expected, h.read_outputs(topics), malformed_count=len(data.malformed))
    result = h.delivery(topics, expected, snow, weav)
    assert result.ok() and result.events > 30, result
    by_text: dict = {}
    with open_client(weav) as client:
      for name in (weav.posts_collection, weav.orders_collection):
        for obj in client.collections.get(name).iterator(include_vector=True):
          vector = obj.vector[VECTOR_NAME]
          assert len(vector) == 384 and all(map(math.isfinite, vector)), obj.uuid
          assert abs(math.sqrt(sum(v * v for v in vector)) - 1.0) < 1e-3   # normalized
          assert obj.properties['embedding_model'].startswith('all-MiniLM-L6-v2')
          if obj.properties.get('text'):
            by_text.setdefault(obj.properties['text'], []).append(vector)
    assert by_text, 'no Weaviate object with a text was checked'
    # The same text, the same direction (int8 results vary a little with their sub-batch).
    for vectors in (v for v in by_text.values() if len(v) > 1):
      assert all(sum(a * b for a, b in zip(vectors[0], v)) > 0.99 for v in vectors[1:])


@pytest.mark.slow
def test_a_backlog_over_10000_is_read_completely_in_one_run_without_waiting(topics):
  """Beam's bounded read gave 2 splits of 6,000 to 12,000 records in 3 partitions: one split
  stopped at its share, leaving records behind, the other polled for --max_read_seconds. The
  planned ranges read every record and stop at the last one."""
  group = f'g-{uuid.uuid4().hex[:6]}'
  h.publish_demo(topics, seed=17, events=12_000, malformed_share=0.02)
  expected = h.raw_coordinates(topics)
  assert len(expected) == 12_000
  started = time.monotonic()
  summary = run([*topics.pipeline_args(group), *COMMON, '--max_read_seconds=300'])
  took = time.monotonic() - started
  assert (summary.backlog, summary.read) == (12_000, 12_000)
  assert summary.reconciled, summary.render()
  assert h.committed_backlog(topics, group) == 0
  assert took < 150, f'{took:.0f}s: the read waited (--max_read_seconds=300)'
  print(f'12,000-record backlog: {summary.read} read in {took:.1f}s')


def test_dead_letters_of_any_size_reach_the_dlq_and_replay_from_the_source(topics, tmp_path):
  """A failing 900 KB payload's dead letter (~1.2 MB) fits the DLQ topic (3 MiB, one fact in
  topics.yaml) instead of stopping the run; a 2.5 MB payload, over the validation limit, becomes
  a reference that `python -m pipeline.dlq replay` resolves by re-reading the source topic."""
  from kafka.admin import ConfigResource, ConfigResourceType  # pylint: disable=import-outside-toplevel
  from kafka import KafkaAdminClient  # pylint: disable=import-outside-toplevel
  from connectors.kafka_publisher import KafkaPublisher, PublisherConfig  # pylint: disable=import-outside-toplevel
  from pipeline import dlq  # pylint: disable=import-outside-toplevel
  raw_topic = topics.topic('raw.shopify.orders')
  admin = KafkaAdminClient(bootstrap_servers=h.BOOTSTRAP)
  try:   # a source topic that takes large messages (the raw topics keep Kafka's ~1 MiB)
    admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, raw_topic,
                                        configs={'max.message.bytes': str(4 * 1024 * 1024)})])
  finally:
    admin.close()
  broken = b'{"id": 1, "note": "' + b'x' * 900_000            # not JSON: a validate dead letter
  huge = b'{"id": 2, "note": "' + b'y' * 2_500_000 + b'"}'     # over the validation limit
  with KafkaPublisher(PublisherConfig(bootstrap_servers=h.BOOTSTRAP)) as publisher:
    publisher.publish_many([(raw_topic, b'k1', broken, [('source', b'shopify')]),
                            (raw_topic, b'k2', huge, [('source', b'shopify')])])
  summary = _direct(topics, f'g-{uuid.uuid4().hex[:6]}')
  assert (summary.read, summary.get('num_dead_letters_out')) == (2, 2), summary.render()
  letters = {d.payload_format: d for d in dlq.read_topic(h.BOOTSTRAP, topics.topic('dlq.pipeline'))}
  assert set(letters) == {'kafka-message', 'kafka-reference'}
  key = ['--key', 'env:MILLIONX_DLQ_KEY']
  out = io.StringIO()
  assert dlq.main(['--bootstrap-servers', h.BOOTSTRAP, '--topic', topics.topic('dlq.pipeline'),
                   *key, 'replay', letters['kafka-reference'].dead_letter_id,
                   letters['kafka-message'].dead_letter_id], out=out) == 0, out.getvalue()
  replayed = [m for m in h.read_all([raw_topic]) if dict(m.headers).get('replayed_from')]
  assert sorted(m.value for m in replayed) == sorted([broken, huge])


@pytest.mark.slow
def test_flink_local_streaming(topics, tmp_path):
  data = h.publish_demo(topics, seed=21, events=60, malformed_share=0.1)
  expected = h.raw_coordinates(topics)
  # Weather and catalog from snapshots of the context topics, refreshed every 20 s (on Flink by
  # the enrich DoFn itself: see transforms/enrich.py).
  weather, catalog, _, _ = write_context_files(
      h.BOOTSTRAP, str(tmp_path), topics.topic('context.weather'), topics.topic('context.products'))
  group = f'g-{uuid.uuid4().hex[:6]}'
  proc = h.start_pipeline([
      '--runner=FlinkRunner', '--flink_master=[local]', *topics.pipeline_args(group), *COMMON,
      f'--weather_snapshot={weather}', f'--product_catalog={catalog}',
      '--weather_refresh_seconds=20', '--catalog_refresh_seconds=20'])
  try:
    outputs = h.wait_for_outputs(topics, expected, timeout_s=420, proc=proc)
    # Checkpoints complete (every 10 s), and with them the Kafka offsets are committed: a
    # restarted job would resume after what this one processed.
    uncommitted = h.wait_for_committed_backlog(topics, group, timeout_s=90)
  finally:
    h.stop_pipeline(proc)
  h.assert_all_accounted(expected, outputs, malformed_count=len(data.malformed))
  assert uncommitted == 0, f'{uncommitted} records read but never committed: no checkpoint completed'
  enriched = [r for r in outputs.posts + outputs.orders if r.get('weather')]
  assert enriched, 'no record got weather from the in-process snapshots'



FLINK = 'localhost:8081'


@pytest.mark.slow
def test_flink_cluster_job_submission(topics, tmp_path):
  try:
    list_jobs(FLINK)
  except OSError as e:
    raise AssertionError('Flink REST is not answering on 8081: `./run_local.sh start`') from e
  data = h.publish_demo(topics, seed=31, events=60, malformed_share=0.1)
  expected = h.raw_coordinates(topics)
  job_name = f'millionx-test-{uuid.uuid4().hex[:6]}'
  # The cluster's Python workers run in the worker pool, which does not share this test's
  # environment: pass the keys as files (same machine), the way a cluster would mount them.
  refs = []
  for name, value in (('dlq', SECRET_ENV['MILLIONX_DLQ_KEY']),
                      ('pseudonym', SECRET_ENV['MILLIONX_PSEUDONYM_KEY'])):
    key_file = tmp_path / f'{name}.key'
    key_file.write_text(value)
    refs.append(f'--{name}_key_ref=file:{key_file}')
  proc = h.start_pipeline([
      '--runner=FlinkRunner', '--flink_master=localhost:8081', '--detached',
      f'--job_name={job_name}', *topics.pipeline_args(f'g-{uuid.uuid4().hex[:6]}'), '--no_embed',
      *refs])
  job_id = None
  try:
    assert proc.wait(300) == 0, 'submission failed (see .local/logs/test-pipeline-*.log)'
    jobs = {j['name']: j for j in list_jobs(FLINK)}
    assert job_name in jobs
    job_id = jobs[job_name]['jid']
    assert jobs[job_name]['state'] in ('RUNNING', 'CREATED', 'INITIALIZING')
    outputs = h.wait_for_outputs(topics, expected, timeout_s=420)
  finally:
    if job_id:
      cancel_job(FLINK, job_id)
    h.stop_pipeline(proc)
  h.assert_all_accounted(expected, outputs, malformed_count=len(data.malformed))
