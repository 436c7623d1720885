"""End to end through the real local Kafka: Beam ReadFromKafka → transforms → WriteToKafka.

DirectRunner and PrismRunner (bounded), Flink [local] (streaming, stopped once the outputs have
arrived) and a job submitted to the local Flink session cluster. Every published message must end in an output
topic or the DLQ; a restart with the same consumer group neither re-reads nor skips.
"""
from __future__ import annotations

import uuid

import pytest

from pipeline.__main__ import run
from pipeline.context_files import write_context_files
from pipeline.flink_jobs import cancel_job, list_jobs
from tests.integration import pipeline_helpers as h

# Test-only keys: 32 bytes as hex, as run_local.sh makes them.
SECRET_ENV = {'MILLIONX_DLQ_KEY': '7c1d2a3b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9',
              'MILLIONX_PSEUDONYM_KEY': 'e0d1c2b3a4958677685a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912'}
COMMON = ['--no_embed', '--dlq_key_ref=env:MILLIONX_DLQ_KEY',
          '--pseudonym_key_ref=env:MILLIONX_PSEUDONYM_KEY']


@pytest.fixture()
def topics(tmp_path, monkeypatch):
  h.kafka_or_fail()
  for k, v in SECRET_ENV.items():
    monkeypatch.setenv(k, v)
  t = h.make_topics(tmp_path)
  yield t
  h.delete_topics(t)


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
