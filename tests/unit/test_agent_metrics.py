"""The agents' Prometheus metrics: a real ApiClient's retries counted by class (429 waits with
their seconds), a pass's fetched/published/dead letters, the last success, and the /metrics
server announced to Prometheus (file_sd) while it runs."""
import datetime
import json
import os
import random
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from agents import metrics as agent_metrics
from agents.runner import Rejected, Sink, SourceAgent, run_once
from connectors.http import ApiClient, AuthExpired, HttpConfig, RetryPolicy
from schemas import sources
from tests.fakes_http import FakeApi, FakeSleep, Reply

UTC = datetime.timezone.utc


def value(name, **labels):
  got = agent_metrics.REGISTRY.get_sample_value(name, labels)
  return got or 0.0


def test_client_retries_are_counted_by_class_with_rate_limit_waits():
  agent_metrics.count_client_retries()
  before = (value('millionx_agent_http_errors_total', source='x-test', error_class='rate_limit'),
            value('millionx_agent_http_errors_total', source='x-test', error_class='retryable'),
            value('millionx_agent_rate_limit_waits_total', source='x-test'),
            value('millionx_agent_rate_limit_wait_seconds_total', source='x-test'))
  sleep = FakeSleep()

  class Client(ApiClient):
    source = 'x-test'

  with FakeApi() as api, Client(HttpConfig(api.url, retry=RetryPolicy(max_attempts=4, base_delay_s=0.01)),
                                sleep=sleep, rng=random.Random(1)) as c:
    api.route('GET', '/x', [Reply(429, {}, (('Retry-After', '7'),)), Reply(503), Reply(200, {'ok': 1})])
    assert c.request_json('GET', '/x') == {'ok': 1}
  after = (value('millionx_agent_http_errors_total', source='x-test', error_class='rate_limit'),
           value('millionx_agent_http_errors_total', source='x-test', error_class='retryable'),
           value('millionx_agent_rate_limit_waits_total', source='x-test'),
           value('millionx_agent_rate_limit_wait_seconds_total', source='x-test'))
  assert [a - b for a, b in zip(after, before)] == [1, 1, 1, 7.0]


def test_error_classes_are_a_closed_set():
  assert agent_metrics.error_class(AuthExpired('401')) == 'auth'
  assert agent_metrics.error_class(ValueError('x')) == 'other'
  assert set(agent_metrics.ERROR_CLASSES) >= {'rate_limit', 'auth', 'timeout', 'other'}


class _ListSink(Sink):
  def __init__(self):
    self.out, self.dead = [], []

  def emit(self, source, key, obj):
    self.out.append(key)

  def dead_letter(self, source, rejected):
    self.dead.append(rejected)

  def commit(self):
    pass


class _Agent(SourceAgent):
  source = 'metrics-test'
  windowed = False

  def __init__(self):
    super().__init__(client=None)

  def fetch(self, start, end):
    yield [('1', {'not': 'a shopify order'}), Rejected('2', b'{}', 'bad', 'ShapeError')]

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    pass


def test_a_pass_counts_fetched_dead_letters_and_last_success(monkeypatch):
  monkeypatch.setitem(sources.SOURCE_MODELS, 'metrics-test', sources.SOURCE_MODELS['shopify'])
  fetched = value('millionx_agent_fetched_total', source='metrics-test')
  dead = value('millionx_agent_dead_letters_total', source='metrics-test', error_class='ShapeError')
  now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
  sink = _ListSink()
  run_once(_Agent(), sink, None, clock=lambda: now)
  assert value('millionx_agent_fetched_total', source='metrics-test') - fetched == 2
  assert value('millionx_agent_dead_letters_total', source='metrics-test', error_class='ShapeError') - dead == 2
  assert value('millionx_agent_last_success_timestamp_seconds', source='metrics-test') > 0
  agent_metrics.pass_failed('metrics-test', AuthExpired('token expired'))
  assert value('millionx_agent_http_errors_total', source='metrics-test', error_class='auth') >= 1
  assert value('millionx_agent_runs_total', source='metrics-test', outcome='failed') >= 1


def test_server_serves_and_announces_itself_while_it_runs(tmp_path):
  with agent_metrics.MetricsServer('announce-test', 0, targets_dir=str(tmp_path)) as server:
    files = os.listdir(tmp_path)
    assert files == [f'agent-announce-test-{os.getpid()}.json']
    with open(tmp_path / files[0], encoding='utf-8') as f:
      assert json.load(f) == [{'targets': [f'127.0.0.1:{server.port}'], 'labels': {'source': 'announce-test'}}]
    agent_metrics.PUBLISHED.labels('announce-test').inc(3)
    with urllib.request.urlopen(f'http://127.0.0.1:{server.port}/metrics', timeout=5) as r:
      names = {s.name: s.value for f in text_string_to_metric_families(r.read().decode())
               for s in f.samples if s.labels.get('source') == 'announce-test'}
    assert names['millionx_agent_published_total'] == 3
  assert os.listdir(tmp_path) == []
