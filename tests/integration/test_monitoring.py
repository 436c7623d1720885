"""Monitoring against live data: a real pipeline on the Flink cluster (Prometheus reporter on), a
bounded DirectRunner run that pushes its metrics, a source agent serving /metrics, and the stack's
Prometheus scraping them all. Every panel query of both dashboards must parse and return series,
and every alert expression must parse, evaluate, and find series for every metric it reads.

Also checks, on the TaskManager's own /metrics, what Beam's Flink runner does to a distribution:
it is exported as the constant 0 (see README, Monitoring), which is why latencies are
LatencyHistograms.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.parse
import urllib.request
import uuid

import pytest
import yaml
from cryptography.fernet import Fernet

from agents import metrics as agent_metrics
from agents.openweather import OpenWeatherAgent
from agents.runner import KafkaSink, run_once
from agents.topics import load_topics as load_agent_topics
from connectors.http import HttpConfig, RetryPolicy
from connectors.kafka_publisher import DeadLetterCodec, KafkaPublisher, PublisherConfig
from connectors.openweather import OpenWeatherClient, OpenWeatherConfig
from connectors.secrets import SecretRef
from pipeline.__main__ import run
from pipeline.context_files import write_context_files
from pipeline import progress
from pipeline.flink_jobs import cancel_job, list_jobs
from tests.fakes_http import FakeApi, FakeSleep, Reply, fixture
from tests.integration import pipeline_helpers as h
from tests.integration import sink_helpers as sinks

PROMETHEUS = 'http://127.0.0.1:9090'
TASKMANAGER_METRICS = 'http://127.0.0.1:9250/metrics'
FLINK = 'localhost:8081'
DASHBOARDS = os.path.join(h.REPO, 'monitoring', 'dashboards')
ALERTS = os.path.join(h.REPO, 'monitoring', 'alerts.yml')
SECRET_ENV = {'MILLIONX_DLQ_KEY': '7c1d2a3b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9',
              'MILLIONX_PSEUDONYM_KEY': 'e0d1c2b3a4958677685a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912'}

# Series that exist only once something happens that this run does not make happen; each says why.
# A name listed here is still checked to parse and evaluate.
NOT_IN_THIS_RUN = {
    'millionx_embedding_batch_latency_seconds_bucket': 'the run is --no_embed (embedding a few hundred '
                                                       'records on the 2-core cluster takes minutes)',
    'millionx_embedding_latency_seconds_bucket': 'the run is --no_embed',
    'millionx_embeddings_computed_total': 'the run is --no_embed',
    'millionx_embedding_cache_hits_total': 'the run is --no_embed',
    'millionx_empty_text_total': 'the run is --no_embed',
}


def _api(path: str, **params):
  url = f'{PROMETHEUS}/api/v1/{path}?{urllib.parse.urlencode(params)}'
  with urllib.request.urlopen(url, timeout=30) as response:
    body = json.load(response)
  assert body['status'] == 'success', body
  return body['data']


def _selectors(node) -> list[str]:
  """Metric names of every vector selector in a parsed PromQL tree (/api/v1/parse_query)."""
  if isinstance(node, dict):
    if node.get('type') in ('vectorSelector', 'matrixSelector'):
      return [node['name']] if node.get('name') else [
          m['value'] for m in node.get('matchers', ()) if m['name'] == '__name__']
    return [n for v in node.values() for n in _selectors(v)]
  if isinstance(node, list):
    return [n for v in node for n in _selectors(v)]
  return []


def _queries():
  panels = []
  for name in sorted(os.listdir(DASHBOARDS)):
    with open(os.path.join(DASHBOARDS, name), encoding='utf-8') as f:
      board = json.load(f)
    panels += [(f'{board["title"]} / {p["title"]} / {t["refId"]}', t['expr'])
               for p in board['panels'] for t in p['targets']]
  with open(ALERTS, encoding='utf-8') as f:
    alerts = [(r['alert'], r['expr']) for g in yaml.safe_load(f)['groups'] for r in g['rules']]
  return panels, alerts


def _stack(*services):
  done = subprocess.run([os.path.join(h.REPO, 'stack', 'stack.sh'), 'start', *services],
                        capture_output=True, text=True, timeout=600)
  assert done.returncode == 0, done.stderr[-2000:]


def _scraped(query: str, timeout_s: float) -> bool:
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    if _api('query', query=query)['result']:
      return True
    time.sleep(5)
  return False


@pytest.fixture()
def topics(tmp_path, monkeypatch):
  yield from h.keyed_topics(tmp_path, monkeypatch, SECRET_ENV)


def _weather_agent(topics, monkeypatch):
  """One pass of the OpenWeather agent against a local replay (a 429, a malformed answer), into the test's
  topics, with its /metrics served and announced to Prometheus; returns the open server."""
  monkeypatch.setenv('T_OWM_KEY', 'k')
  monkeypatch.setenv('T_DLQ_FERNET', Fernet.generate_key().decode())
  server = agent_metrics.MetricsServer('openweather', 0)
  dhaka = fixture('openweather_current_dhaka.json')
  agent_topics = load_agent_topics().with_prefix(topics.prefix)
  with FakeApi() as api:
    calls = []

    def weather(req):   # one rate limit, one malformed answer (Sylhet: an ingest dead letter)
      calls.append(req)
      if len(calls) == 1:
        return Reply(429, {}, (('Retry-After', '1'),))
      return Reply(200, b'<html>502</html>') if req.query.get('lat') == '24.8949' else Reply(200, dhaka)
    api.route('GET', '/data/2.5/weather', weather)
    client = OpenWeatherClient(OpenWeatherConfig(SecretRef.parse('env:T_OWM_KEY'), base_url=api.url),
                               HttpConfig(api.url, retry=RetryPolicy(max_attempts=3, base_delay_s=0.01)),
                               sleep=FakeSleep())
    with KafkaPublisher(PublisherConfig(h.BOOTSTRAP, client_id='test-monitoring')) as publisher:
      sink = KafkaSink(publisher, agent_topics, DeadLetterCodec(SecretRef.parse('env:T_DLQ_FERNET')))
      with OpenWeatherAgent(client) as agent:
        run_once(agent, sink, None)
  return server


@pytest.mark.slow
def test_dashboards_and_alerts_read_live_series(topics, tmp_path, monkeypatch):
  _stack('kafka_exporter', 'pushgateway', 'node_exporter', 'prometheus')
  try:
    list_jobs(FLINK)
  except OSError as e:
    raise AssertionError('Flink REST is not answering on 8081: `./run_local.sh start`') from e
  agent_server = _weather_agent(topics, monkeypatch)
  job_id = None
  try:
    h.publish_demo(topics, seed=41, events=120, malformed_share=0.1)
    expected = h.raw_coordinates(topics)
    weather, catalog, _, _ = write_context_files(
        h.BOOTSTRAP, str(tmp_path), topics.topic('context.weather'), topics.topic('context.products'))
    password = tmp_path / 'snowflake.key'
    password.write_text('local')
    for k, v in SECRET_ENV.items():
      (tmp_path / f'{k}.key').write_text(v)
    # Both sinks, so that every sink panel (rows, objects, batch latency) has its series; the
    # password from a file, which the cluster's workers can read too (they lack this env).
    with sinks.snowflake_schema() as snowflake, sinks.weaviate_collections() as weaviate:
      sink_args = [arg for arg in h.sink_args(snowflake, weaviate)
                   if not arg.startswith('--snowflake_password_ref=')]
      sink_args.append(f'--snowflake_password_ref=file:{password}')
      context = [f'--weather_snapshot={weather}', f'--product_catalog={catalog}']
      keys = [f'--dlq_key_ref=file:{tmp_path / "MILLIONX_DLQ_KEY.key"}',
              f'--pseudonym_key_ref=file:{tmp_path / "MILLIONX_PSEUDONYM_KEY.key"}']
      # 1. A bounded DirectRunner run that pushes its final metrics.
      summary = run([*topics.pipeline_args(f'g-{uuid.uuid4().hex[:6]}'), '--no_embed', *keys,
                     *context, *sink_args, '--pushgateway=127.0.0.1:9091', '--progress_interval=2'])
      assert summary.read == len(expected)
      # 2. The same records, streaming on the Flink cluster with the reporter on.
      # Underscores: Flink's reporter writes label values with '_' for other characters.
      job_name = f'millionx_monitoring_{uuid.uuid4().hex[:6]}'
      proc = h.start_pipeline(['--runner=FlinkRunner', f'--flink_master={FLINK}', '--detached',
                               f'--job_name={job_name}', *topics.pipeline_args(f'g-{uuid.uuid4().hex[:6]}'),
                               '--no_embed', *keys, *context, *sink_args,
                               '--weather_refresh_seconds=20', '--catalog_refresh_seconds=20'])
      assert proc.wait(300) == 0, 'submission failed (see .local/logs/test-pipeline-*.log)'
      job_id = {j['name']: j['jid'] for j in list_jobs(FLINK)}[job_name]
      h.wait_for_outputs(topics, expected, timeout_s=420)
      # Progress for a cluster job comes from the job's own metrics (the TaskManager's reporter).
      reporters = [progress.LOCAL_TASKMANAGER_REPORTER]
      deadline = time.monotonic() + 60
      while progress.flink_records_read(reporters, job_id) != len(expected):
        assert time.monotonic() < deadline, progress.flink_records_read(reporters, job_id)
        time.sleep(5)
      # Prometheus scrapes every 10 s: wait until the job's counters and a checkpoint are in.
      assert _scraped(f'millionx_records_out_total{{runner="flink",job_name="{job_name}"}}', 90)
      assert _scraped(f'flink_jobmanager_job_numberOfCompletedCheckpoints{{job_name="{job_name}"}} > 0', 90)
      assert _scraped('millionx_agent_published_total{source="openweather"}', 60)
      assert _scraped('millionx_records_read_total{runner="direct"}', 30)
      time.sleep(25)    # two more scrapes, so that rates over 1m have their samples
      at = time.time()
      with urllib.request.urlopen(TASKMANAGER_METRICS, timeout=10) as response:
        raw = response.read().decode()
  finally:
    if job_id:
      cancel_job(FLINK, job_id)
    agent_server.close()

  # What the reporter does with a Beam distribution: the series is there, and reads 0.
  distribution = [line for line in raw.splitlines()
                  if line.startswith('flink_taskmanager_job_task_operator_millionx_snowflake_batch_latency_ms')]
  assert distribution, 'the sink distribution is not on the TaskManager at all'
  assert all(float(line.rsplit(' ', 1)[1]) == 0.0 for line in distribution), distribution

  panels, alerts = _queries()
  empty, missing = [], {}
  for title, expr in panels:
    tree = _api('parse_query', query=expr)
    result = _api('query', query=expr, time=at)['result']
    names = set(_selectors(tree))
    if not result and not names & set(NOT_IN_THIS_RUN):
      empty.append(f'{title}: {expr}')
  for name, expr in alerts:
    tree = _api('parse_query', query=expr)
    _api('query', query=expr, time=at)            # evaluates (it may or may not fire)
    for metric in set(_selectors(tree)) - set(NOT_IN_THIS_RUN):
      if not _api('query', query=f'count({{__name__="{metric}"}})', time=at)['result']:
        missing.setdefault(name, []).append(metric)
  assert not empty, 'panels without series:\n  ' + '\n  '.join(empty)
  assert not missing, f'alert expressions read metrics that have no series: {missing}'


@pytest.mark.slow
def test_console_shows_progress_and_none_of_the_known_noise(topics, tmp_path):
  """`python -m pipeline` on the DirectRunner as a user runs it: progress lines with the backlog,
  the rate and the time left, and no orphaned-channel block, no protobuf log dumps, no
  kafka-python coordinator retries, no yield-and-return warning."""
  h.publish_demo(topics, seed=43, events=1500, malformed_share=0.05)
  expected = len(h.raw_coordinates(topics))
  keys = []
  for k, v in SECRET_ENV.items():
    (tmp_path / f'{k}.key').write_text(v)
  keys = [f'--dlq_key_ref=file:{tmp_path / "MILLIONX_DLQ_KEY.key"}',
          f'--pseudonym_key_ref=file:{tmp_path / "MILLIONX_PSEUDONYM_KEY.key"}']
  done = subprocess.run(
      [h.PYTHON, '-m', 'pipeline', *topics.pipeline_args(f'g-{uuid.uuid4().hex[:6]}'), '--no_embed',
       *keys, '--progress_interval=0.5'],
      cwd=h.REPO, capture_output=True, text=True, timeout=600, env=dict(os.environ, HF_HUB_OFFLINE='1'))
  out = done.stdout + done.stderr
  assert done.returncode == 0, out[-3000:]
  lines = [l for l in out.splitlines() if 'progress: ' in l]
  assert any(f'of {expected:,} records' in l for l in lines), lines
  assert f'progress: {expected:,} of {expected:,} records (100.0%)' in out
  assert any('records/s' in l for l in lines), lines
  for noise in ('garbage collected', 'severity: ', 'timestamp {', 'NotCoordinatorError',
                'Using yield and return'):
    assert noise not in out, f'{noise!r} on the console:\n' + out[-3000:]
