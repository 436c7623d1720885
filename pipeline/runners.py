"""Runner defaults: what `python -m pipeline` adds to the user's flags for each runner.

The plan (which runner, bounded or streaming, embedded or cluster Flink) is derived from the
options once; `runner_defaults` then adds only what the user did not give. Flink's defaults
(measured with benchmarks/bench_profile.py, see BENCHMARKS.md):

* parallelism: the cluster's free task slots (the local stack's one TaskManager: all its
  slots), or for `[local]` the machine's cores, which is what Flink's own local environment
  uses. Each slot gets its own Python process: `--sdk_worker_parallelism` (Beam's default, 1,
  has all slots of a TaskManager share one Python worker, one GIL), processes from the worker
  pool on the cluster and `use_loopback_process_worker` on `[local]` (LOOPBACK would start
  them as threads of this process).
* checkpoints every 10 s: offsets are committed when a checkpoint completes, so the interval
  bounds how much a restart re-reads.
* SDK harness logs at WARN (`--default_sdk_harness_log_level`): the Kafka transforms' embedded
  Java harness shares the Flink JVM's root logger, and at INFO Flink's start-up logging can fill
  the harness's log queue and block every task thread (`BeamFnLoggingClient.publish`).
"""
from __future__ import annotations

import difflib
import json
import logging
import os
import re
import time
import urllib.request
from typing import Callable, Optional, Sequence

from apache_beam.options.pipeline_options import (DebugOptions, FlinkRunnerOptions,
                                                  PipelineOptions, StandardOptions,
                                                  _BeamArgumentParser)

from apache_beam.runners.runner import PipelineRunner

from pipeline import options as opts
from pipeline.flink_jobs import flink_rest_url

_LOG = logging.getLogger('pipeline')

# One flag per --add-opens: Beam passes each --job_server_jvm_properties value to the job server
# as a single JVM argument, so a space-joined list would open nothing (and Flink's Kryo
# serializer needs these packages open on Java 17).
FLINK_JAVA17_OPENS = tuple(
    f'--add-opens=java.base/{pkg}=ALL-UNNAMED'
    for pkg in ('java.lang', 'java.nio', 'java.util', 'java.lang.reflect', 'java.io', 'java.net',
                'java.util.concurrent', 'sun.nio.ch', 'java.text', 'java.time'))
FLINK_CHECKPOINT_INTERVAL_MS = 10_000
WORKER_POOL_ADDRESS = 'localhost:50000'
SDK_HARNESS_LOG_LEVEL = 'WARN'   # a name both SDKs know (Java's WARN, Python's alias of WARNING)
# Beam's LOOPBACK environment starts each Python SDK worker as a thread of this process unless
# this experiment asks for a process per worker.
LOOPBACK_PROCESS_WORKER = 'use_loopback_process_worker'
# Options of the Flink job server (Beam 2.62 Java: FlinkPipelineOptions and the portable options
# only Java declares). Beam's portable runner learns them from the job server when it submits,
# so no Python parser knows them; they are listed so that a mistyped flag is still refused
# before a run instead of being dropped.
FLINK_JOB_SERVER_FLAGS = frozenset('--' + name for name in (
    'allow_non_restored_state', 'attached_mode', 'auto_balance_write_files_sharding_enabled',
    'auto_watermark_interval', 'checkpoint_timeout_millis', 'checkpointing_interval',
    'checkpointing_mode', 'disable_metrics', 'enable_stable_input_drain',
    'execution_mode_for_batch', 'execution_retry_delay', 'externalized_checkpoints_enabled',
    'fail_on_checkpointing_errors', 'faster_copy', 'finish_bundle_before_checkpointing',
    'flink_conf_dir', 'force_unaligned_checkpoint_enabled', 'job_check_interval_in_secs',
    'latency_tracking_interval', 'max_bundle_size', 'max_bundle_time_mills',
    'min_pause_between_checkpoints', 'num_concurrent_checkpoints', 'number_of_execution_retries',
    'object_reuse', 'operator_chaining', 're_iterable_group_by_key_result',
    'report_checkpoint_duration', 'retain_externalized_checkpoints_on_cancellation',
    'savepoint_path', 'shutdown_sources_after_idle_ms', 'state_backend', 'state_backend_factory',
    'state_backend_storage_path', 'unaligned_checkpoint_enabled', 'use_data_stream_for_batch',
    'enable_heap_dumps', 'environment_cache_millis', 'environment_expiration_millis',
    'load_balance_bundles', 'output_executable_path'))
# What an unknown argument may show of itself: a name spelled like a flag (lower case, at most
# 40 characters). Anything else (a value, or a key pasted where a flag was meant: base64 has
# capitals, a hex key is 64 digits) is counted, never printed.
_PRINTABLE_FLAG = re.compile(r'-{1,2}[a-z][a-z0-9_-]{0,39}')


class UsageError(ValueError):
  """Flags no parser knows, or a value a flag cannot take: `python -m pipeline` exits 2."""


class _Parser(_BeamArgumentParser):
  """Raises UsageError instead of printing usage and exiting, without the offending value.
  Beam's parser class, because Beam's options add ValueProvider arguments through it."""
  def error(self, message):
    # "argument --max_records: invalid int value: 'x'": the value may be a secret.
    message = re.sub(r"(invalid [\w ]*?(?:value|choice)): '.*?'( \(|$)", r'\1 (not shown)\2',
                     message)
    raise UsageError(message)


def _beam_and_pipeline_views() -> list[type]:
  """Every PipelineOptions subclass Beam has loaded (subclasses of subclasses too, which Beam's
  own get_all_options misses), and ours that `python -m pipeline` reads (not e.g. SearchOptions,
  whose flags would be ignored here)."""
  found, todo = {}, list(PipelineOptions.__subclasses__())
  while todo:
    cls = todo.pop(0)
    todo += cls.__subclasses__()
    if cls.__module__.startswith('apache_beam.'):
      found.setdefault(f'{cls.__module__}.{cls.__qualname__}', cls)
  for cls in opts.PIPELINE_OPTIONS:
    found.setdefault(f'{cls.__module__}.{cls.__qualname__}', cls)
  return list(found.values())


def check_flags(argv: Sequence[str]) -> None:
  """Raises UsageError naming every argument no options class takes (with the closest known
  flag), so that `--no-embed` or `--max_record=5` stop the run instead of being dropped; the
  Flink job server's own flags pass with --runner=FlinkRunner only."""
  parser = _Parser(allow_abbrev=False, add_help=False)
  for cls in _beam_and_pipeline_views():
    cls._add_argparse_args(parser)  # pylint: disable=protected-access
  known, unknown = parser.parse_known_args(list(argv))
  flink = (known.runner or '').lower().startswith('flink')
  names = sorted({o for action in parser._actions for o in action.option_strings}  # pylint: disable=protected-access
                 | FLINK_JOB_SERVER_FLAGS)
  if flink:
    job_server = _Parser(allow_abbrev=False, add_help=False)
    for flag in FLINK_JOB_SERVER_FLAGS:
      job_server.add_argument(flag, nargs='?')
    _, unknown = job_server.parse_known_args(unknown)
  problems, hidden = [], 0
  for arg in unknown:
    name = arg.split('=', 1)[0]
    if not arg.startswith('-') or not _PRINTABLE_FLAG.fullmatch(name):
      hidden += 1
    elif name in FLINK_JOB_SERVER_FLAGS:
      problems.append(f'{name} is a Flink job server flag: only with --runner=FlinkRunner')
    else:
      guess = '--' + name.lstrip('-').replace('-', '_')
      close = [guess] if guess in names else difflib.get_close_matches(guess, names, n=1)
      problems.append(f'unknown flag {name}' + (f' (did you mean {close[0]}?)' if close else ''))
  if hidden:
    problems.append(f'{hidden} argument(s) that belong to no flag (not shown: one may be a secret)')
  if problems:
    raise UsageError('; '.join(problems) + '. See `python -m pipeline --help`.')


class Plan:
  """What a run needs, derived from the options before any graph is built."""
  def __init__(self, options: PipelineOptions, argv: Sequence[str]):
    self.options = options
    self.argv = list(argv)
    self.runner = (options.view_as(StandardOptions).runner or 'DirectRunner')
    flink = self.runner.lower().startswith('flink')
    self.is_flink = flink
    master = options.view_as(FlinkRunnerOptions).flink_master if flink else None
    self.flink_master = master or '[auto]'
    self.flink_local = flink and self.flink_master in ('[local]', '[auto]')
    self.is_prism = self.runner.lower().startswith('prism')
    self.bounded = not flink


def cluster_free_slots(master: str, timeout_s: float = 5.0) -> Optional[int]:
  """Free task slots of a Flink cluster (REST /overview), None when it does not answer."""
  try:
    with urllib.request.urlopen(f'{flink_rest_url(master)}/overview', timeout=timeout_s) as resp:
      return int(json.load(resp).get('slots-available', 0))
  except (OSError, ValueError):
    return None


def default_parallelism(plan: Plan, free_slots: Callable[[str], Optional[int]] = cluster_free_slots
                        ) -> int:
  """The Flink parallelism used when --parallelism is not given (see the module docstring)."""
  if plan.flink_local:
    return max(1, os.cpu_count() or 1)
  slots = free_slots(plan.flink_master)
  if not slots:
    # Not answering (preflight says so next) or full: one slot, the smallest job that can run.
    return 1
  return slots


def _given_flags(argv: Sequence[str]) -> set[str]:
  # Flag names the user gave (a substring test would take --max_parallelism for --parallelism).
  return {arg.split('=', 1)[0] for arg in argv if arg.startswith('--')}


def runner_defaults(plan: Plan, free_slots: Callable[[str], Optional[int]] = cluster_free_slots
                    ) -> list[str]:
  """Runner settings the local stack needs, added unless the user gave them."""
  given = _given_flags(plan.argv)
  extra = []

  def default(flag, value):
    if f'--{flag}' not in given:
      extra.append(f'--{flag}={value}')

  if plan.is_flink:
    default('flink_job_server_jar', opts.DEFAULT_FLINK_JOB_SERVER_JAR)
    default('flink_version', opts.FLINK_VERSION)
    if not given & {'--job_server_jvm_properties', '--job_server_jvm_property'}:
      extra += [f'--job_server_jvm_properties={prop}' for prop in FLINK_JAVA17_OPENS]
    default('checkpointing_interval', FLINK_CHECKPOINT_INTERVAL_MS)
    default('default_sdk_harness_log_level', SDK_HARNESS_LOG_LEVEL)
    parallelism = None
    if '--parallelism' not in given:
      parallelism = default_parallelism(plan, free_slots)
      extra.append(f'--parallelism={parallelism}')
    else:
      parallelism = plan.options.view_as(FlinkRunnerOptions).parallelism
    if (parallelism or 1) > 1:
      default('sdk_worker_parallelism', parallelism)
    if '--streaming' not in given:
      extra.append('--streaming')
    if plan.flink_local:
      default('environment_type', 'LOOPBACK')
      experiments = plan.options.view_as(DebugOptions).experiments or []
      if ('--environment_type' not in given and (parallelism or 1) > 1
          and LOOPBACK_PROCESS_WORKER not in experiments):
        extra.append(f'--experiments={LOOPBACK_PROCESS_WORKER}')
    else:
      default('environment_type', 'EXTERNAL')
      default('environment_config', WORKER_POOL_ADDRESS)
      if plan.options.view_as(opts.RunOptions).detached and '--attached_mode' not in given:
        # The job server declares attachedMode (default true) as a boolean; Beam's portable
        # runner turns such an option into a bare flag that sets it to false.
        extra.append('--attached_mode')
    default('job_name', f'millionx-sensory-{int(time.time())}')
  elif plan.is_prism:
    # Beam's Python SDK would download prism from GitHub; the stack builds it locally.
    default('prism_location', opts.DEFAULT_PRISM_BINARY)
  else:
    if (plan.options.view_as(StandardOptions).runner or 'DirectRunner').lower() == 'directrunner':
      extra.append(f'--runner={IN_PROCESS_RUNNER}')   # see InProcessDirectRunner
    # One worker: the Python stages hold the GIL, so worker threads add no throughput.
    # --direct_num_workers=2 --direct_running_mode=multi_threading is safe
    # (tests/integration/test_direct_workers.py holds it).
    default('direct_num_workers', 1)
  return extra


class InProcessDirectRunner(PipelineRunner):
  """`--runner=DirectRunner` as it ran this graph while it held cross-language writes: Beam's
  FnApiRunner in this process, set up as the DirectRunner sets it up.

  Beam 2.73's DirectRunner first tries Prism for a graph without cross-language transforms,
  which the bounded graph is since it writes with librdkafka (with `--no_embed`; embeddings'
  exception handling keeps it off Prism): without `--prism_location` it downloads the binary
  from GitHub (here it fails on DNS and falls back), and it keeps that job server for the whole
  process, so a later `--runner=PrismRunner` run in the same process failed on the download.
  """

  def run_pipeline(self, pipeline, options):
    # pylint: disable=import-outside-toplevel
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle
    # As SwitchingDirectRunner does: the workers get the pipeline options.
    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    runner = fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))
    return runner.run_pipeline(pipeline, options)


IN_PROCESS_RUNNER = f'{__name__}.{InProcessDirectRunner.__qualname__}'


def plan_run(argv: Sequence[str],
             free_slots: Callable[[str], Optional[int]] = cluster_free_slots
             ) -> tuple[Plan, PipelineOptions]:
  """The plan and the options with the runner defaults added (the user's flags win); raises
  UsageError for a flag nothing takes."""
  argv = list(argv)
  check_flags(argv)
  plan = Plan(PipelineOptions(argv), argv)
  extra = runner_defaults(plan, free_slots)
  options = PipelineOptions(argv + extra)
  if plan.is_flink:
    _LOG.info('Flink %s: parallelism %s', plan.flink_master,
              options.view_as(FlinkRunnerOptions).parallelism)
  if plan.flink_local and LOOPBACK_PROCESS_WORKER in (options.view_as(DebugOptions).experiments or []):
    _python_on_path()
  return Plan(options, argv), options


def _python_on_path() -> None:
  """Beam starts each loopback process worker as `python -c ...` from PATH: put this
  interpreter's directory first, so the workers run in the same virtual environment."""
  import sys  # pylint: disable=import-outside-toplevel
  bindir = os.path.dirname(sys.executable)
  path = os.environ.get('PATH', '')
  if not path.split(os.pathsep)[0] == bindir:
    os.environ['PATH'] = bindir + os.pathsep + path
