"""python -m pipeline: run the one graph on the DirectRunner, Flink [local] or a Flink cluster.

  DirectRunner (default)           a bounded read of what is in the raw topics, then a summary
  --runner=PrismRunner             the same bounded run on Beam's Prism runner (local binary)
  --runner=FlinkRunner --flink_master=[local]
                                   streaming on an embedded Flink mini-cluster (Ctrl-C stops it)
  --runner=FlinkRunner --flink_master=localhost:8081 [--detached]
                                   streaming job submitted to the Flink session cluster; with
                                   --detached the Flink job id is printed and the command returns

`--help` lists every flag. Secrets are passed as references (env:NAME / file:PATH) only. The
defaults, --dlq_key_ref=env:MILLIONX_DLQ_KEY and --pseudonym_key_ref=env:MILLIONX_PSEUDONYM_KEY,
need both variables set (keys of 32 random bytes, hex or base64); `./run_local.sh` (no command)
sets up the local stack and runs it with the stack's keys (.local/secrets/) instead.
"""
from __future__ import annotations

import argparse
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
from pipeline.bounded_read import bound_to_backlog, commit_read
from pipeline.config_from_options import build_graph_config
from pipeline.graph import SensoryPipeline
from pipeline.runners import (FLINK_CHECKPOINT_INTERVAL_MS, LOOPBACK_PROCESS_WORKER,
                              SDK_HARNESS_LOG_LEVEL, WORKER_POOL_ADDRESS, UsageError, plan_run)
from pipeline.sinks import sinks_from_options
from pipeline.summary import RunSummary, summarize_metrics


def run(argv: Optional[Sequence[str]] = None, model_handler=None) -> Optional[RunSummary]:
  argv = list(sys.argv[1:] if argv is None else argv)
  plan, options = plan_run(argv)
  errors = []
  for view in (opts.KafkaOptions, opts.TransformOptions, opts.SinkOptions, opts.RunOptions):
    errors += view.validate(options.view_as(view), None) or []
  if errors:
    raise UsageError('invalid options:\n  ' + '\n  '.join(errors))
  graph_config = build_graph_config(options, plan)
  run_opts = options.view_as(opts.RunOptions)
  if not run_opts.skip_preflight:
    preflight.check(graph_config, plan.is_flink, plan.flink_local, plan.flink_master)
    if plan.is_prism:
      preflight.check_prism(options.view_as(PrismRunnerOptions).prism_location)
  backlog = None
  if plan.bounded:
    graph_config, backlog = bound_to_backlog(graph_config)
    if backlog == 0:
      print(f'Nothing to read: the raw topics hold no records after the committed offsets of '
            f'group {graph_config.kafka.group_id!r}.')
      return RunSummary({}, 0.0, 0)
  sinks = sinks_from_options(options, graph_config.process.dead_letter)

  started = time.monotonic()
  if plan.is_flink and not plan.flink_local and run_opts.detached:
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | 'SensoryPipeline' >> SensoryPipeline(graph_config, model_handler, sinks)
    pipeline.run()
    job_id = preflight.find_flink_job(plan.flink_master, options.view_as(GoogleCloudOptions).job_name)
    print(f'Submitted to Flink at {plan.flink_master}: job id {job_id}')
    print(f'Cancel with: python -m pipeline.flink_jobs cancel {job_id} --flink_master {plan.flink_master}')
    return None

  # Leaving the `with` block means the run succeeded and every bundle finished (outputs
  # flushed): only then are the read offsets committed (pipeline/bounded_read.py).
  with _progress(plan, options, graph_config), beam.Pipeline(options=options) as pipeline:
    _ = pipeline | 'SensoryPipeline' >> SensoryPipeline(graph_config, model_handler, sinks)
  if plan.bounded:
    commit_read(graph_config)
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


class _HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
  """The description as written, and each flag's default where it has one its help does not
  already give. A secret flag's default is a reference (env:NAME), never a value: a default
  that is not a reference is not shown."""
  def _get_help_string(self, action):
    text = action.help or ''
    default = action.default
    if (default is None or isinstance(default, bool) or default == argparse.SUPPRESS
        or '%(default)' in text or 'default' in text.lower()):
      return text
    if action.dest.endswith('_ref') and not str(default).startswith(('env:', 'file:')):
      return text
    return text + ' (default: %(default)s)'


def help_parser() -> argparse.ArgumentParser:
  """Our flags, then the Beam runner flags this project uses; `--help_beam` shows all of Beam's."""
  parser = argparse.ArgumentParser(
      prog='python -m pipeline', description=__doc__, formatter_class=_HelpFormatter,
      epilog='Beam has many more options (`python -m pipeline --help_beam`).')
  for view in opts.PIPELINE_OPTIONS:
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
      ('--job_name', 'Flink job name (default millionx-sensory-<time>).'),
      ('--default_sdk_harness_log_level', f'Flink: log level of the SDK harnesses (default '
       f'{SDK_HARNESS_LOG_LEVEL}: at INFO, Flink\'s start-up logging can block the embedded Java '
       'harness).'),
      ('--sdk_worker_parallelism', 'Flink: Python worker processes per TaskManager (default: '
       'the parallelism, one per slot; Beam\'s 1 would give all slots one GIL).'),
      ('--environment_config', f'With EXTERNAL: the worker pool\'s address (default {WORKER_POOL_ADDRESS}).'),
      ('--experiments', f'Beam experiments, repeatable (Flink [local] adds {LOOPBACK_PROCESS_WORKER}: '
       'a process per worker, not a thread).'),
      ('--max_bundle_size', 'Flink: elements per bundle at most (the job server\'s default, 1000).'),
      ('--direct_num_workers', 'DirectRunner: worker count (default 1: the stages hold the GIL).'),
      ('--direct_running_mode', 'DirectRunner: in_memory (default), multi_threading or '
       'multi_processing.')):
    beam_group.add_argument(flag, help=text)
  beam_group.add_argument('--streaming', action='store_true',
                          help='Streaming mode (added for Flink runs; the bounded runners need none).')
  return parser


def print_help(out=sys.stdout) -> None:
  help_parser().print_help(out)


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
  except UsageError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except preflight.PreflightError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print('stopped', file=sys.stderr)
    return 130
  return 0


if __name__ == '__main__':
  sys.exit(main())
