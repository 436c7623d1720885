"""Beam's metrics as Prometheus series: one naming table for both runners.

Beam counters carry their dimension in the name (`num_records_read_tiktok`); Prometheus wants it
as a label (`millionx_records_read_total{source="tiktok"}`). `RULES` is the one table:

  - on the DirectRunner (and Prism) the run's final counters are pushed when it ends
    (`--pushgateway=HOST:PORT`, `push_run_metrics`) under these names;
  - on Flink, the Prometheus reporter exports each counter as
    `flink_taskmanager_job_task_operator_millionx_<counter>`, and monitoring/prometheus.yml renames
    it at scrape time with `metric_relabel_configs` generated from the same table
    (`python -m pipeline.metrics_push --relabel-config`; a unit test keeps the file in step).

Latency histograms are Beam counters too (`transforms.metrics.LatencyHistogram`: one counter per
bucket), because Beam's Flink runner hands distributions and string sets to Flink as values its
Prometheus reporter cannot export (see README, Monitoring). Distributions are pushed from the
DirectRunner as `_count`/`_sum`/`_min`/`_max` gauges.

Label values come from a closed set (sources, stages, sinks, targets, validation reasons) or are
dropped: no record content ever becomes a label.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import re
import sys
from typing import Iterable, Optional

_LOG = logging.getLogger('pipeline.metrics_push')

PREFIX = 'millionx_'
FLINK_OPERATOR_PREFIX = 'flink_taskmanager_job_task_operator_'
PUSH_JOB = 'millionx-pipeline'
_SINKS = '(snowflake|weaviate)'
# Flink ids and attempt numbers: new values for every job, task and attempt (unbounded).
FLINK_DROPPED_LABELS = 'job_id|task_id|task_attempt_id|task_attempt_num|tm_id|operator_id'


@dataclasses.dataclass(frozen=True)
class Rule:
  """A Beam counter name (regex, fully anchored) → a Prometheus name and labels (${1}, ${2} ...:
  the braces matter to Prometheus, which would read `$1_seconds` as a group named `1_seconds`)."""
  pattern: str
  name: str
  labels: tuple[tuple[str, str], ...] = ()

  def apply(self, beam_name: str) -> Optional[tuple[str, dict[str, str]]]:
    match = re.fullmatch(self.pattern, beam_name)
    if match is None:
      return None
    expand = lambda s: re.sub(r'\$\{(\d)\}', lambda m: match.group(int(m.group(1))), s)  # noqa: E731
    return expand(self.name), {k: expand(v) for k, v in self.labels}


# First match wins: specific names before general ones.
RULES: tuple[Rule, ...] = (
    Rule(r'num_records_read_(.+)', 'millionx_records_read_total', (('source', '${1}'),)),
    Rule(r'num_posts_out_(.+)', 'millionx_records_out_total', (('output', 'posts'), ('source', '${1}'))),
    Rule(r'num_orders_out_(.+)', 'millionx_records_out_total', (('output', 'orders'), ('source', '${1}'))),
    Rule(r'num_dead_letters_out_(.+)', 'millionx_dead_letters_total', (('stage', '${1}'),)),
    Rule(r'num_dead_letters_by_source_(.+)', 'millionx_dead_letters_by_source_total', (('source', '${1}'),)),
    Rule(r'num_invalid_(.+)', 'millionx_invalid_records_total', (('reason', '${1}'),)),
    Rule(rf'num_written_by_source_{_SINKS}_(.+)', 'millionx_sink_written_by_source_total',
         (('sink', '${1}'), ('source', '${2}'))),
    Rule(rf'num_written_{_SINKS}_(.+)', 'millionx_sink_written_total', (('sink', '${1}'), ('target', '${2}'))),
    Rule(rf'num_{_SINKS}_(?:rows|objects)_(written|failed|unmappable)', 'millionx_sink_records_total',
         (('sink', '${1}'), ('outcome', '${2}'))),
    Rule(rf'num_{_SINKS}_retries', 'millionx_sink_retries_total', (('sink', '${1}'),)),
    Rule(rf'num_{_SINKS}_batches', 'millionx_sink_batches_total', (('sink', '${1}'),)),
    Rule(rf'num_{_SINKS}_flushed_(.+)', 'millionx_sink_flushes_total', (('sink', '${1}'), ('reason', '${2}'))),
    Rule(rf'num_unexpected_{_SINKS}', 'millionx_sink_unexpected_errors_total', (('sink', '${1}'),)),
    # LatencyHistogram's counters (bounds in seconds, '_' for the decimal point).
    Rule(r'(.+)_seconds_bucket_le_inf', 'millionx_${1}_seconds_bucket', (('le', '+Inf'),)),
    Rule(r'(.+)_seconds_bucket_le_(\d+)_(\d+)', 'millionx_${1}_seconds_bucket', (('le', '${2}.${3}'),)),
    Rule(r'(.+)_seconds_bucket_le_(\d+)', 'millionx_${1}_seconds_bucket', (('le', '${2}'),)),
    Rule(r'(.+)_seconds_count', 'millionx_${1}_seconds_count'),
    Rule(r'(.+)_seconds_sum_ms', 'millionx_${1}_seconds_sum_milliseconds_total'),
    Rule(r'run_inference_(num_inferences|num_failed_inferences|failed_batches_counter)',
         'millionx_run_inference_${1}_total'),
    Rule(r'num_(.+)', 'millionx_${1}_total'),
)
# The totals over a dimension are dropped: Prometheus sums the labelled series itself.
TOTALS = frozenset({'num_records_read', 'num_posts_out', 'num_orders_out', 'num_dead_letters_out',
                    'num_dead_letters_by_source', 'num_invalid'})


def prometheus_name(beam_name: str) -> Optional[tuple[str, dict[str, str]]]:
  """(name, labels) of one Beam counter of our namespace, or None if it is not exported."""
  if beam_name in TOTALS:
    return None
  for rule in RULES:
    mapped = rule.apply(beam_name)
    if mapped is not None:
      return mapped
  return None


def relabel_configs() -> list[dict]:
  """metric_relabel_configs for Flink's reporter: RULES applied to the exported names."""
  configs = [{'source_labels': ['__name__'], 'regex': f'{FLINK_OPERATOR_PREFIX}{PREFIX}({"|".join(sorted(TOTALS))})',
              'action': 'drop'}]
  for rule in RULES:
    # Each rule's regex sees the name as Flink exports it; after its rename, no later rule can
    # match it again (the renamed series no longer starts with the operator prefix).
    regex = f'{FLINK_OPERATOR_PREFIX}{PREFIX}{rule.pattern}'
    for label, value in rule.labels:
      configs.append({'source_labels': ['__name__'], 'regex': regex, 'target_label': label,
                      'replacement': value})
    configs.append({'source_labels': ['__name__'], 'regex': regex, 'target_label': '__name__',
                    'replacement': rule.name})
  # Whatever is left under our namespace is a distribution or gauge that Flink's reporter
  # exports as a constant 0 (see README): drop it rather than show a wrong figure.
  configs.append({'source_labels': ['__name__'], 'regex': f'{FLINK_OPERATOR_PREFIX}{PREFIX}.+',
                  'action': 'drop'})
  configs.append({'regex': FLINK_DROPPED_LABELS, 'action': 'labeldrop'})
  return configs


@dataclasses.dataclass
class Sample:
  name: str
  labels: dict[str, str]
  value: float
  kind: str      # the family's type: counter | gauge | histogram | summary
  family: str    # the family's name (a histogram's or summary's name without _bucket/_count/_sum)
  help: str


# Beam distributions are named with their unit; Prometheus wants base units in the name.
_DISTRIBUTION_UNITS = (('_micro_secs', '_seconds', 1e-6), ('_milli_secs', '_seconds', 1e-3),
                       ('_ms', '_seconds', 1e-3))


def _distribution_samples(beam_name: str, dist) -> list[Sample]:
  """A Beam distribution → a summary without quantiles (_count, _sum) and _min/_max gauges,
  in base units (…_latency_ms → …_latency_seconds)."""
  base, scale = PREFIX + re.sub(r'[^a-zA-Z0-9_]', '_', beam_name), 1.0
  for suffix, unit, factor in _DISTRIBUTION_UNITS:
    if base.endswith(suffix):
      base, scale = base[:-len(suffix)] + unit, factor
      break
  doc = f'Beam distribution {beam_name} of the run (count, sum, min, max).'
  out = []
  if getattr(dist, 'count', None) is not None:
    out.append(Sample(f'{base}_count', {}, float(dist.count), 'summary', base, doc))
  if getattr(dist, 'sum', None) is not None:
    out.append(Sample(f'{base}_sum', {}, float(dist.sum) * scale, 'summary', base, doc))
  for stat in ('min', 'max'):
    value = getattr(dist, stat, None)
    if value is not None:
      out.append(Sample(f'{base}_{stat}', {}, float(value) * scale, 'gauge', f'{base}_{stat}',
                        f'Beam distribution {beam_name} of the run: its {stat}.'))
  return out


def run_samples(counters: dict[str, int], distributions: dict[str, object],
                seconds: float, backlog: Optional[int]) -> list[Sample]:
  """The samples one bounded run pushes: counters by RULES (LatencyHistogram's as histograms),
  distributions as summaries, the run's duration and backlog."""
  samples: dict[tuple, Sample] = {}
  for beam_name, value in sorted(counters.items()):
    mapped = prometheus_name(beam_name)
    if mapped is None:
      continue
    name, labels = mapped
    key = (name, tuple(sorted(labels.items())))
    if key in samples:          # two Beam names for one series: add them
      samples[key].value += value
      continue
    histogram = re.fullmatch(r'(.+_seconds)_(bucket|count)', name)
    family = histogram.group(1) if histogram else name
    kind = 'histogram' if histogram else 'counter'
    doc = (f'The Beam counter {beam_name} at the end of the run.' if not labels else
           f'Beam counters like {beam_name} (one per {", ".join(sorted(labels))}) at the end of the run.')
    samples[key] = Sample(name, labels, float(value), kind, family, doc)
    sum_ms = re.fullmatch(r'(.+)_seconds_sum_ms', beam_name)
    if sum_ms:                  # the histogram's _sum, in seconds
      base = f'{PREFIX}{sum_ms.group(1)}_seconds'
      samples[(base + '_sum', ())] = Sample(base + '_sum', {}, value / 1000.0, 'histogram', base,
                                            f'Beam counters {sum_ms.group(1)}_seconds_* at the end of the run.')
  for beam_name, dist in sorted(distributions.items()):
    for sample in _distribution_samples(beam_name, dist):
      samples[(sample.name, ())] = sample
  samples[('millionx_run_duration_seconds', ())] = Sample(
      'millionx_run_duration_seconds', {}, float(seconds), 'gauge', 'millionx_run_duration_seconds',
      'Wall time of the bounded run.')
  if backlog is not None:
    samples[('millionx_run_backlog_records', ())] = Sample(
        'millionx_run_backlog_records', {}, float(backlog), 'gauge', 'millionx_run_backlog_records',
        'Records waiting in the raw topics when the run started.')
  # One HELP per family: a histogram's bucket/count/sum share their family's.
  helps = {}
  for sample in samples.values():
    sample.help = helps.setdefault(sample.family, sample.help)
  return list(samples.values())


def exposition(samples: Iterable[Sample]) -> str:
  """The text exposition format of `samples`: one HELP and TYPE per family."""
  def esc(v: str) -> str:
    return v.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')

  by_family: dict[str, list[Sample]] = {}
  for s in samples:
    by_family.setdefault(s.family, []).append(s)
  lines = []
  for family, members in sorted(by_family.items()):
    lines.append(f'# HELP {family} ' + members[0].help.replace('\\', '\\\\').replace('\n', ' '))
    lines.append(f'# TYPE {family} {members[0].kind}')
    for s in sorted(members, key=lambda s: (s.name, sorted(s.labels.items()))):
      labels = ','.join(f'{k}="{esc(v)}"' for k, v in sorted(s.labels.items()))
      lines.append(f'{s.name}{{{labels}}} {s.value!r}')
  return '\n'.join(lines) + '\n'


def query_metrics(result) -> tuple[dict[str, int], dict[str, object]]:
  """(counters, distributions) of our namespaces from a PipelineResult, summed over steps."""
  from apache_beam.metrics.metric import MetricsFilter
  results = result.metrics().query(MetricsFilter())
  counters: dict[str, int] = {}
  distributions: dict[str, object] = {}
  for c in results['counters']:
    if c.key.metric.namespace.startswith('millionx'):
      name = c.key.metric.name if c.key.metric.namespace == 'millionx' else (
          f'{c.key.metric.namespace[len(PREFIX):]}_{c.key.metric.name}')
      counters[name] = counters.get(name, 0) + int(c.committed or c.attempted or 0)
  for d in results['distributions']:
    if d.key.metric.namespace.startswith('millionx'):
      value = d.committed or d.attempted
      name = d.key.metric.name if d.key.metric.namespace == 'millionx' else (
          f'{d.key.metric.namespace[len(PREFIX):]}_{d.key.metric.name}')
      if value is not None and name not in distributions:
        distributions[name] = value
  return counters, distributions


def push_run_metrics(gateway: str, result, runner: str, seconds: float,
                     backlog: Optional[int], timeout_s: float = 5.0) -> bool:
  """Pushes a finished run's metrics (PUT: replaces the previous run's). False when the
  Pushgateway does not answer: a run never fails for its monitoring."""
  import urllib.error
  import urllib.request
  counters, distributions = query_metrics(result)
  body = exposition(run_samples(counters, distributions, seconds, backlog)).encode('utf-8')
  url = f'http://{gateway}/metrics/job/{PUSH_JOB}/runner/{runner}'
  request = urllib.request.Request(url, data=body, method='PUT',
                                   headers={'Content-Type': 'text/plain; version=0.0.4'})
  try:
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
      response.read()
  except (urllib.error.URLError, OSError) as e:
    _LOG.warning('could not push the run metrics to the Pushgateway at %s (%s); '
                 'start it with `stack/stack.sh start pushgateway`', gateway, e)
    return False
  _LOG.info('run metrics pushed to the Pushgateway at %s (job=%s, runner=%s)', gateway, PUSH_JOB, runner)
  return True


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m pipeline.metrics_push', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--relabel-config', action='store_true',
                      help="Print the Flink scrape job's metric_relabel_configs (YAML) for monitoring/prometheus.yml.")
  args = parser.parse_args(argv)
  if args.relabel_config:
    import yaml
    yaml.safe_dump({'metric_relabel_configs': relabel_configs()}, sys.stdout, sort_keys=False, width=200)
    return 0
  parser.print_help()
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
