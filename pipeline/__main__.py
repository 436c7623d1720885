"""python -m pipeline: run the one graph on the DirectRunner, Flink [local] or a Flink cluster.

  DirectRunner (default)           a bounded read of what is in the raw topics, then a summary
  --runner=PrismRunner             the same bounded run on Beam's Prism runner (local binary)
  --runner=FlinkRunner --flink_master=[local]
                                   streaming on an embedded Flink mini-cluster (Ctrl-C stops it)
  --runner=FlinkRunner --flink_master=localhost:8081 [--detached]
                                   streaming job submitted to the Flink session cluster; with
                                   --detached the Flink job id is printed and the command returns

`--help` lists every flag. Secrets are passed as references (env:NAME / file:PATH) only.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import (GoogleCloudOptions, PipelineOptions,
                                                  PrismRunnerOptions)

from pipeline import options as opts
from pipeline import console, metrics_push, preflight, progress
from pipeline.graph import GraphConfig, SensoryPipeline
from pipeline.runners import FLINK_CHECKPOINT_INTERVAL_MS, WORKER_POOL_ADDRESS, Plan, plan_run
from pipeline.sinks import sinks_from_options
from pipeline.summary import RunSummary, summarize_metrics
from pipeline.topics import dlq_max_message_bytes, load_topics

_LOG = logging.getLogger('pipeline')


def build_graph_config(options: PipelineOptions, plan: Plan):
  from connectors.kafka import JAVA_ENV_EMBEDDED, JAVA_ENV_LOOPBACK, KafkaIOConfig
  from transforms.config import (DeadLetterConfig, EmbedConfig, EnrichConfig, PrivacyConfig,
                                 ProcessConfig, ValidationConfig)
  k = options.view_as(opts.KafkaOptions)
  out = options.view_as(opts.OutputOptions)
  t = options.view_as(opts.TransformOptions)
  topics = load_topics(k.topics_config)
  sources = [s.strip() for s in k.sources.split(',')] if k.sources else None
  kafka = KafkaIOConfig(
      bootstrap_servers=k.bootstrap_servers or topics.bootstrap_servers,
      group_id=k.consumer_group,
      expansion_jar=k.flink_kafka_expansion_jar if plan.is_flink else k.kafka_expansion_jar,
      java_env=JAVA_ENV_EMBEDDED if plan.is_flink else JAVA_ENV_LOOPBACK,
      legacy_payload=plan.is_flink,
      auto_offset_reset=k.start_offset,
      max_request_bytes=dlq_max_message_bytes(topics, out.dlq_topic))
  dead_letter = DeadLetterConfig(key_ref=t.dlq_key_ref,
                                 max_message_bytes=kafka.max_request_bytes)
  process = ProcessConfig(
      validation=ValidationConfig(dead_letter),
      privacy=PrivacyConfig(hmac_key_ref=t.pseudonym_key_ref, dead_letter=dead_letter,
                            hmac_key_id=t.pseudonym_key_id),
      enrich=EnrichConfig(dead_letter, weather_max_age_s=t.weather_max_age_seconds,
                          missing_weather=t.missing_weather, missing_product=t.missing_product,
                          weather_snapshot=t.weather_snapshot,
                          openweather_key_ref=t.openweather_key_ref,
                          product_catalog=t.product_catalog,
                          weather_refresh_s=None if plan.bounded else t.weather_refresh_seconds,
                          catalog_refresh_s=None if plan.bounded else t.catalog_refresh_seconds,
                          # Beam 2.62's portable Flink runner cannot checkpoint side inputs.
                          context_refresh='in_process' if plan.is_flink else 'side_input'),
      # A batch-duration bound needs processing-time timers, which the DirectRunner's portable
      # runner lacks (it would fall back to a runner that refuses cross-language transforms).
      embed=EmbedConfig(dead_letter, max_batch_size=t.embed_max_batch_size,
                        max_batch_duration_secs=None if plan.bounded else 1.0,
                        **opts.embed_settings(t))
      if t.embed else None)
  return GraphConfig(
      kafka=kafka,
      source_by_topic=topics.raw_source_by_topic(sources),
      process=process,
      posts_topic=out.posts_topic,
      orders_topic=out.orders_topic,
      dlq_topic=out.dlq_topic,
      max_records=k.max_records if plan.bounded else None,
      max_read_seconds=k.max_read_seconds if plan.bounded else None)


def _bound_to_backlog(graph_config: GraphConfig) -> tuple[GraphConfig, int]:
  """Plans the bounded read: the exact offsets [start, stop) of every raw partition.

  Start: the group's committed offset (or --start_offset where it has none); stop: the
  partition's end offset now, the whole backlog capped at --max_records. The graph reads exactly
  these ranges (connectors.kafka.ReadKafkaRanges: no split shares, no waiting, nothing left
  behind), and `_commit_read` commits the stops only after the run succeeded. Returns the
  config with the ranges (and max_records = the records planned) and the backlog.
  """
  kafka = graph_config.kafka
  topics = sorted(graph_config.source_by_topic)
  ranges = preflight.read_plan(kafka.bootstrap_servers, kafka.group_id, topics,
                               kafka.auto_offset_reset)
  backlog = sum(r.size for r in ranges)
  if graph_config.max_records is not None and graph_config.max_records < backlog:
    ranges = preflight.read_plan(kafka.bootstrap_servers, kafka.group_id, topics,
                                 kafka.auto_offset_reset, graph_config.max_records)
  planned = sum(r.size for r in ranges)
  _LOG.info('group %s: %d records waiting in %d raw partitions; reading %d',
            kafka.group_id, backlog, len(ranges), planned)
  return dataclasses.replace(graph_config, kafka=dataclasses.replace(kafka, read_ranges=tuple(ranges)),
                             max_records=planned), backlog


def _commit_read(graph_config: GraphConfig) -> None:
  """After a successful bounded run (every output flushed): the group moves to the stops."""
  from connectors.kafka_client import commit_ranges  # pylint: disable=import-outside-toplevel
  kafka = graph_config.kafka
  commit_ranges(kafka.bootstrap_servers, kafka.group_id, kafka.read_ranges)
  _LOG.info('group %s: committed the read offsets of %d raw partitions',
            kafka.group_id, len(kafka.read_ranges))


def run(argv: Optional[Sequence[str]] = None, model_handler=None) -> Optional[RunSummary]:
  argv = list(sys.argv[1:] if argv is None else argv)
  plan, options = plan_run(argv)
  errors = []
  for view in (opts.KafkaOptions, opts.TransformOptions, opts.SinkOptions):
    errors += view.validate(options.view_as(view), None) or []
  if errors:
    raise SystemExit('Invalid options:\n  ' + '\n  '.join(errors))
  graph_config = build_graph_config(options, plan)
  run_opts = options.view_as(opts.RunOptions)
  if not run_opts.skip_preflight:
    preflight.check(graph_config, plan.is_flink, plan.flink_local, plan.flink_master)
    if plan.is_prism:
      preflight.check_prism(options.view_as(PrismRunnerOptions).prism_location)
  backlog = None
  if plan.bounded:
    graph_config, backlog = _bound_to_backlog(graph_config)
    if backlog == 0:
      print(f'Nothing to read: the raw topics hold no records after the committed offsets of '
            f'group {graph_config.kafka.group_id!r}.')
      return RunSummary({}, 0.0, 0)
  sinks = sinks_from_options(options, graph_config.process.validation.dead_letter)

  started = time.monotonic()
  if plan.is_flink and not plan.flink_local and run_opts.detached:
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | 'SensoryPipeline' >> SensoryPipeline(graph_config, model_handler, sinks)
    pipeline.run()
    job_id = preflight.find_flink_job(plan.flink_master, options.view_as(GoogleCloudOptions).job_name)
    print(f'Submitted to Flink at {plan.flink_master}: job id {job_id}')
    print(f'Cancel with: python -m pipeline.flink_jobs cancel {job_id} --flink_master {plan.flink_master}')
    return None

  # `with` matters: it gives the Kafka expansion service its loopback Java worker. Leaving the
  # block means the run succeeded: every bundle finished, so the Kafka writers and the sinks have
  # flushed (finish_bundle). Only then are the read offsets committed; a run that raised commits
  # nothing, and the next one reads the same records again (the sinks are idempotent).
  with _progress(plan, options, graph_config), beam.Pipeline(options=options) as pipeline:
    _ = pipeline | 'SensoryPipeline' >> SensoryPipeline(graph_config, model_handler, sinks)
  if plan.bounded:
    _commit_read(graph_config)
  result = pipeline.result if hasattr(pipeline, 'result') else None
  summary = (summarize_metrics(result, time.monotonic() - started, backlog)
             if result is not None else None)
  if result is not None and plan.bounded and run_opts.pushgateway:
    metrics_push.push_run_metrics(run_opts.pushgateway, result, 'prism' if plan.is_prism else 'direct',
                                  time.monotonic() - started, backlog)
  if summary is not None:
    print(summary.render())
    if run_opts.summary_json:
      with open(run_opts.summary_json, 'w', encoding='utf-8') as f:
        json.dump(summary.as_dict(), f, indent=2, sort_keys=True)
  return summary


def _progress(plan, options, graph_config):
  """Progress lines while the run works (pipeline/progress.py): in-process runs count CountRead
  here; an attached Flink cluster job is read from the TaskManager's Prometheus reporter."""
  interval = options.view_as(opts.RunOptions).progress_interval
  to_read = graph_config.max_records if plan.bounded else None
  if plan.is_flink and not plan.flink_local:
    from pipeline.flink_jobs import list_jobs
    job_name = options.view_as(GoogleCloudOptions).job_name
    return progress.reporter_for_run(
        interval, to_read, [progress.LOCAL_TASKMANAGER_REPORTER],
        lambda: next((j['jid'] for j in list_jobs(plan.flink_master) if j.get('name') == job_name), None))
  return progress.reporter_for_run(interval, to_read)


def print_help(out=sys.stdout) -> None:
  """Our flags, then the Beam runner flags this project uses; `--help_beam` shows all of Beam's."""
  parser = argparse.ArgumentParser(
      prog='python -m pipeline', description=__doc__,
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog='Beam has many more options (`python -m pipeline --help_beam`).')
  for view in (opts.KafkaOptions, opts.OutputOptions, opts.TransformOptions, opts.SinkOptions,
               opts.RunOptions):
    view._add_argparse_args(parser)  # pylint: disable=protected-access
  beam_group = parser.add_argument_group('Beam runner flags used here')
  for flag, text in (
      ('--runner', 'DirectRunner (default), FlinkRunner or PrismRunner.'),
      ('--flink_master', '[local] for an embedded mini-cluster, HOST:8081 for the session cluster.'),
      ('--prism_location', f'PrismRunner binary (default {opts.DEFAULT_PRISM_BINARY}, built by '
       '`stack/stack.sh setup prism`).'),
      ('--flink_job_server_jar', f'Default: {opts.DEFAULT_FLINK_JOB_SERVER_JAR} (stack/stack.sh setup).'),
      ('--parallelism', 'Flink parallelism (default: the cluster\'s free task slots; for [local] '
       'the machine\'s cores, each slot\'s Python in its own process).'),
      ('--checkpointing_interval', f'Flink checkpoint interval in ms (default {FLINK_CHECKPOINT_INTERVAL_MS}); '
       'Kafka offsets are committed when a checkpoint completes.'),
      ('--environment_type', 'Python workers: LOOPBACK for [local], EXTERNAL (worker pool on '
       f'{WORKER_POOL_ADDRESS}) for the cluster.'),
      ('--job_name', 'Flink job name (default millionx-sensory-<time>).')):
    beam_group.add_argument(flag, help=text)
  parser.print_help(out)


def main(argv: Optional[Sequence[str]] = None) -> int:
  logging.basicConfig(level=logging.WARNING, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  logging.getLogger('pipeline').setLevel(logging.INFO)
  console.install()
  argv = list(sys.argv[1:] if argv is None else argv)
  if '-h' in argv or '--help' in argv:
    print_help()
    return 0
  if '--help_beam' in argv:
    PipelineOptions(['--help']).get_all_options()  # argparse prints Beam's full help and exits
    return 0
  try:
    run(argv)
  except preflight.PreflightError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print('stopped', file=sys.stderr)
    return 130
  return 0


if __name__ == '__main__':
  sys.exit(main())
