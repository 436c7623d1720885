"""Metrics for Prometheus: the naming table, the bounded run's push, the project's Pushgateway,
the Kafka exporter's families, and LatencyHistogram's Beam counters."""
import threading
import urllib.request

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from prometheus_client.parser import text_string_to_metric_families

from monitoring import kafka_exporter, pushgateway
from pipeline import metrics_push
from transforms.metrics import LatencyHistogram


def test_counter_names_become_labelled_prometheus_series():
  assert metrics_push.prometheus_name('num_records_read_tiktok') == (
      'millionx_records_read_total', {'source': 'tiktok'})
  assert metrics_push.prometheus_name('num_dead_letters_out_privacy') == (
      'millionx_dead_letters_total', {'stage': 'privacy'})
  assert metrics_push.prometheus_name('num_snowflake_rows_failed') == (
      'millionx_sink_records_total', {'sink': 'snowflake', 'outcome': 'failed'})
  assert metrics_push.prometheus_name('num_weaviate_objects_written') == (
      'millionx_sink_records_total', {'sink': 'weaviate', 'outcome': 'written'})
  assert metrics_push.prometheus_name('e2e_latency_seconds_bucket_le_2_5') == (
      'millionx_e2e_latency_seconds_bucket', {'le': '2.5'})
  assert metrics_push.prometheus_name('num_records_read') is None   # a total over sources


class _Dist:
  def __init__(self, count, sum_, min_, max_):
    self.count, self.sum, self.min, self.max = count, sum_, min_, max_


def test_run_samples_exposition_parses_and_sums_duplicates():
  counters = {'num_records_read': 10, 'num_records_read_tiktok': 7, 'num_records_read_daraz': 3,
              'num_dead_letters_out_validate': 2, 'e2e_latency_seconds_bucket_le_1': 4,
              'e2e_latency_seconds_bucket_le_inf': 5, 'e2e_latency_seconds_count': 5}
  text = metrics_push.exposition(metrics_push.run_samples(
      counters, {'snowflake_batch_latency_ms': _Dist(3, 90, 10, 50)}, seconds=12.5, backlog=10))
  samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for f in text_string_to_metric_families(text) for s in f.samples}
  assert samples[('millionx_records_read_total', (('source', 'tiktok'),))] == 7
  assert samples[('millionx_records_read_total', (('source', 'daraz'),))] == 3
  assert samples[('millionx_dead_letters_total', (('stage', 'validate'),))] == 2
  assert samples[('millionx_e2e_latency_seconds_bucket', (('le', '+Inf'),))] == 5
  assert samples[('millionx_snowflake_batch_latency_seconds_max', ())] == 0.05   # base units
  assert samples[('millionx_snowflake_batch_latency_seconds_count', ())] == 3
  assert samples[('millionx_run_duration_seconds', ())] == 12.5
  assert samples[('millionx_run_backlog_records', ())] == 10
  assert not any(name == 'millionx_records_read' for name, _ in samples)


@pytest.fixture
def gateway():
  server = pushgateway.serve('127.0.0.1', 0)
  threading.Thread(target=server.serve_forever, daemon=True).start()
  yield f'127.0.0.1:{server.server_port}'
  server.shutdown()
  server.server_close()


def _scrape(gateway):
  with urllib.request.urlopen(f'http://{gateway}/metrics', timeout=5) as r:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(r.read().decode()) for s in f.samples}


def test_a_finished_run_is_pushed_and_replaces_the_previous_one(gateway):
  class Result:   # what push_run_metrics reads from a PipelineResult
    def __init__(self, counters):
      self._counters = counters

    def metrics(self):
      return self

    def query(self, _filter):
      from apache_beam.metrics.execution import MetricKey, MetricResult
      from apache_beam.metrics.metricbase import MetricName
      return {'counters': [MetricResult(MetricKey('Step', MetricName('millionx', n)), v, v)
                           for n, v in self._counters.items()], 'distributions': [], 'gauges': []}

  assert metrics_push.push_run_metrics(gateway, Result({'num_records_read_tiktok': 5}), 'direct', 1.0, 5)
  assert metrics_push.push_run_metrics(gateway, Result({'num_records_read_daraz': 2}), 'direct', 1.0, 2)
  got = _scrape(gateway)
  key = ('job', 'millionx-pipeline'), ('runner', 'direct')
  assert got[('millionx_records_read_total', (*key[:1], key[1], ('source', 'daraz')))] == 2
  assert not any(dict(labels).get('source') == 'tiktok' for _, labels in got)   # replaced (PUT)
  assert ('push_time_seconds', key) in got


def test_pushgateway_refuses_what_would_break_a_scrape(gateway):
  def put(path, body):
    req = urllib.request.Request(f'http://{gateway}{path}', data=body.encode(), method='PUT')
    try:
      with urllib.request.urlopen(req, timeout=5) as r:
        return r.status
    except urllib.error.HTTPError as e:
      return e.code
  assert put('/metrics/job/x', 'not metrics {{{') == 400
  assert put('/metrics/job/x', 'a{job="other"} 1\n') == 400       # contradicts the grouping key
  assert put('/metrics/nojob', 'a 1\n') == 400
  assert put('/metrics/job/x/k@base64/dmFsdWUvd2l0aC9zbGFzaA', 'a 1\n') == 200
  assert _scrape(gateway)[('a', (('job', 'x'), ('k', 'value/with/slash')))] == 1


def test_pushgateway_keeps_groups_across_restarts(tmp_path):
  store = pushgateway.Store(str(tmp_path / 'pg.json'), clock=lambda: 100.0)
  store.push((('job', 'j'),), 'm_total 3\n', replace_all=True)
  again = pushgateway.Store(str(tmp_path / 'pg.json'))
  assert 'm_total{job="j"} 3' in again.render()
  assert 'push_time_seconds{job="j"} 100.000' in again.render()


def test_kafka_exporter_families():
  reading = kafka_exporter.KafkaReading()
  reading.ok, reading.brokers = True, 1
  reading.partitions = {('raw.tiktok.videos', 0): {'leader': 1, 'replicas': 1, 'isr': 1, 'end': 50, 'start': 0},
                        ('raw.tiktok.videos', 1): {'leader': -1, 'replicas': 2, 'isr': 1, 'end': 10, 'start': 0}}
  reading.groups = {'g': {'members': 0, 'offsets': {('raw.tiktok.videos', 0): 40,
                                                    ('raw.tiktok.videos', 1): 10}}}
  values = {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in kafka_exporter.families(reading) for s in f.samples}
  tp0 = (('partition', '0'), ('topic', 'raw.tiktok.videos'))
  tp1 = (('partition', '1'), ('topic', 'raw.tiktok.videos'))
  assert values[('kafka_consumergroup_lag', (('consumergroup', 'g'), *tp0))] == 10
  assert values[('kafka_consumergroup_lag_sum', (('consumergroup', 'g'), ('topic', 'raw.tiktok.videos')))] == 10
  assert values[('kafka_topic_partition_under_replicated_partition', tp1)] == 1
  assert values[('kafka_topic_partition_offline', tp1)] == 1
  assert values[('kafka_topic_partition_offline', tp0)] == 0
  assert values[('kafka_exporter_scrape_success', ())] == 1


def test_kafka_exporter_reports_a_failed_reading_without_stale_figures():
  values = {s.name for f in kafka_exporter.families(kafka_exporter.KafkaReading()) for s in f.samples}
  assert values == {'kafka_exporter_scrape_success', 'kafka_exporter_scrape_duration_seconds',
                    'kafka_exporter_groups_skipped'}


class _Observe(beam.DoFn):
  def setup(self):
    self._histogram = LatencyHistogram('test_latency', bounds=(0.1, 1.0))

  def process(self, seconds):
    self._histogram.observe(seconds)
    yield seconds

  def finish_bundle(self):
    self._histogram.flush()


def test_latency_histogram_counts_cumulative_buckets():
  with TestPipeline() as p:
    _ = p | beam.Create([0.05, 0.1, 0.5, 3.0]) | beam.ParDo(_Observe())
  counters = {c.key.metric.name: c.committed
              for c in p.result.metrics().query(MetricsFilter().with_namespace('millionx'))['counters']}
  assert counters['test_latency_seconds_bucket_le_0_1'] == 2     # 0.05 and 0.1 (le: <=)
  assert counters['test_latency_seconds_bucket_le_1'] == 3
  assert counters['test_latency_seconds_bucket_le_inf'] == 4
  assert counters['test_latency_seconds_count'] == 4
  assert counters['test_latency_seconds_sum_ms'] == 3650
  assert metrics_push.prometheus_name('test_latency_seconds_bucket_le_0_1') == (
      'millionx_test_latency_seconds_bucket', {'le': '0.1'})


class _ObserveMany(_Observe):
  def process(self, seconds):
    self._histogram.observe(seconds, count=3)   # e.g. one model call's time shared by 3 texts
    yield seconds


def test_latency_histogram_counts_repeated_observations():
  with TestPipeline() as p:
    _ = p | beam.Create([0.05, 0.5]) | beam.ParDo(_ObserveMany())
  counters = {c.key.metric.name: c.committed
              for c in p.result.metrics().query(MetricsFilter().with_namespace('millionx'))['counters']}
  assert counters['test_latency_seconds_bucket_le_0_1'] == 3
  assert counters['test_latency_seconds_bucket_le_1'] == 6
  assert counters['test_latency_seconds_count'] == 6
  assert counters['test_latency_seconds_sum_ms'] == 1650


def test_latency_histogram_rejects_unsorted_bounds():
  with pytest.raises(ValueError):
    LatencyHistogram('x', bounds=(1.0, 0.5))


def test_what_the_pushgateway_serves_passes_promtool_check_metrics():
  """Prometheus refuses a whole scrape for one bad TYPE line (it did for 'unknown'): lint the
  Pushgateway's page for a pushed run with promtool (types, units, suffixes, help)."""
  import os
  import subprocess
  promtool = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                          '.local', 'bin', 'promtool')
  if not os.access(promtool, os.X_OK):
    pytest.fail(f'{promtool} is missing: build it with `stack/stack.sh setup prometheus`')
  counters = {'num_records_read_tiktok': 7, 'e2e_latency_seconds_bucket_le_1': 4,
              'e2e_latency_seconds_bucket_le_inf': 5, 'e2e_latency_seconds_count': 5,
              'e2e_latency_seconds_sum_ms': 1200, 'num_snowflake_rows_written': 3}
  store = pushgateway.Store()
  store.push((('job', 'millionx-pipeline'), ('runner', 'direct')), metrics_push.exposition(
      metrics_push.run_samples(counters, {'snowflake_batch_latency_ms': _Dist(3, 90, 10, 50)}, 1.5, 10)),
      replace_all=True)
  done = subprocess.run([promtool, 'check', 'metrics'], input=store.render(), capture_output=True,
                        text=True, timeout=60)
  assert done.returncode == 0, done.stdout + done.stderr


def test_embedding_batch_latency_is_a_histogram_flink_can_export():
  """The alert EmbeddingLatencyHigh reads millionx_embedding_batch_latency_seconds_bucket."""
  from tests.unit import fakes
  from tests.unit.test_embed import _FakeBackendHandler, _post  # the real handler, a fake network
  from transforms.embed import EmbedRecords
  handler = _FakeBackendHandler()
  p = TestPipeline()
  _ = p | beam.Create([_post(1, 'eid sale'), _post(2, 'saree')]) | EmbedRecords(
      handler.config, fakes.dead_letter_config(), model_handler=handler)
  result = p.run()
  result.wait_until_finish()
  counters = {c.key.metric.name: c.committed
              for c in result.metrics().query(MetricsFilter().with_namespace('millionx'))['counters']}
  assert counters['embedding_batch_latency_seconds_count'] >= 1
  assert counters['embedding_batch_latency_seconds_bucket_le_inf'] == counters['embedding_batch_latency_seconds_count']
  assert metrics_push.prometheus_name('embedding_batch_latency_seconds_bucket_le_0_1') == (
      'millionx_embedding_batch_latency_seconds_bucket', {'le': '0.1'})
