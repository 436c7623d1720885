"""monitoring/prometheus.yml: scrapes the stack's ports, and renames Flink's Beam counters by the
same table (pipeline/metrics_push.RULES) that names the DirectRunner's pushed metrics."""
import os
import re

import yaml

from pipeline import metrics_push
from tests.unit.test_flink_compose import _stack_default

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _config():
  with open(os.path.join(REPO, 'monitoring', 'prometheus.yml'), encoding='utf-8') as f:
    return yaml.safe_load(f)


def _job(name):
  return next(j for j in _config()['scrape_configs'] if j['job_name'] == name)


def _targets(name):
  return {t for c in _job(name).get('static_configs', ()) for t in c['targets']}


def test_targets_are_the_stack_ports():
  assert _targets('flink') == {f'127.0.0.1:{_stack_default("flink.sh", "FLINK_JM_METRICS_PORT")}',
                               f'127.0.0.1:{_stack_default("flink.sh", "FLINK_TM_METRICS_PORT")}'}
  assert _targets('pushgateway') == {f'127.0.0.1:{_stack_default("pushgateway.sh", "PUSHGATEWAY_PORT")}'}
  assert _job('pushgateway')['honor_labels'] is True
  assert _targets('kafka') == {f'127.0.0.1:{_stack_default("kafka_exporter.sh", "KAFKA_EXPORTER_PORT")}'}
  assert _targets('kafka-broker') == {f'127.0.0.1:{_stack_default("kafka.sh", "KAFKA_JMX_METRICS_PORT")}'}
  assert _targets('node') == {f'127.0.0.1:{_stack_default("node_exporter.sh", "NODE_EXPORTER_PORT")}'}
  assert _targets('prometheus') == {f'127.0.0.1:{_stack_default("prometheus.sh", "PROMETHEUS_PORT")}'}


def test_flink_relabelling_is_generated_from_the_naming_table():
  assert _job('flink')['metric_relabel_configs'] == metrics_push.relabel_configs(), (
      'monitoring/prometheus.yml is out of date: paste `python -m pipeline.metrics_push --relabel-config`')


def _relabel(name: str, configs) -> tuple[str, dict] | None:
  """Prometheus' metric relabelling (replace, drop, labeldrop) applied to one series name."""
  labels = {'__name__': name, 'job_id': 'abc', 'operator_name': 'Stage'}
  for c in configs:
    action = c.get('action', 'replace')
    if action == 'labeldrop':
      labels = {k: v for k, v in labels.items() if not re.fullmatch(c['regex'], k)}
      continue
    value = ';'.join(labels.get(l, '') for l in c['source_labels'])
    match = re.fullmatch(c['regex'], value)
    if action == 'drop':
      if match:
        return None
      continue
    if match:
      labels[c['target_label']] = re.sub(r'\$\{(\d)\}', lambda m: match.group(int(m.group(1))),
                                         c['replacement'])
  name = labels.pop('__name__')
  labels.pop('operator_name')
  return name, labels


BEAM_NAMES = [
    'num_records_read', 'num_records_read_tiktok', 'num_posts_out_facebook', 'num_orders_out_daraz',
    'num_dead_letters_out_validate', 'num_dead_letters_by_source_shopify', 'num_invalid_json',
    'num_written_by_source_snowflake_tiktok', 'num_written_weaviate_socialpost',
    'num_snowflake_rows_written', 'num_weaviate_objects_failed', 'num_snowflake_retries',
    'num_weaviate_batches', 'num_snowflake_flushed_full', 'num_unexpected_weaviate',
    'e2e_latency_seconds_bucket_le_0_005', 'e2e_latency_seconds_bucket_le_10',
    'e2e_latency_seconds_bucket_le_inf', 'e2e_latency_seconds_count', 'e2e_latency_seconds_sum_ms',
    'num_weather_stale', 'num_valid', 'run_inference_num_inferences',
    'snowflake_batch_latency_ms',   # a distribution: Flink exports it as 0, so it is dropped
]


def test_flink_names_become_the_pushed_names():
  configs = metrics_push.relabel_configs()
  for beam_name in BEAM_NAMES:
    flink_name = metrics_push.FLINK_OPERATOR_PREFIX + metrics_push.PREFIX + beam_name
    assert _relabel(flink_name, configs) == metrics_push.prometheus_name(beam_name), beam_name


def test_no_flink_id_label_survives():
  name, labels = _relabel(metrics_push.FLINK_OPERATOR_PREFIX + 'millionx_num_records_read_tiktok',
                          metrics_push.relabel_configs())
  assert name == 'millionx_records_read_total'
  assert labels == {'source': 'tiktok'}
