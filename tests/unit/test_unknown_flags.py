"""Mistyped flags stop `python -m pipeline` (exit 2, naming the flag and the close match) instead
of being dropped by Beam's PipelineOptions; every flag the project itself passes still goes
through, and no value (it may be a key pasted in the wrong place) is printed."""
import contextlib
import io
import os
import re

import pytest

from pipeline import __main__ as pipeline_main
from pipeline import runners

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SECRET = 'c2VjcmV0LWtleS12YWx1ZS10aGF0LW11c3Qtbm90LWxlYWs'


def _no_cluster(master):
  raise AssertionError(f'asked the cluster {master} for its slots')


def _refused(argv) -> str:
  with pytest.raises(runners.UsageError) as e:
    runners.plan_run(argv, _no_cluster)
  return str(e.value)


def test_a_hyphenated_flag_is_refused_with_the_right_spelling():
  message = _refused(['--no-embed'])
  assert 'unknown flag --no-embed' in message and 'did you mean --no_embed?' in message


def test_a_misspelled_flag_is_refused_not_left_at_its_default():
  message = _refused(['--max_record=5'])
  assert 'unknown flag --max_record ' in message and 'did you mean --max_records?' in message


def test_main_exits_2_with_a_one_line_error():
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    assert pipeline_main.main(['--max_record=5', '--no-embed']) == 2
  lines = err.getvalue().strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith('error: ')
  assert '--max_record' in lines[0] and '--no-embed' in lines[0]


@pytest.mark.parametrize('argv', [
    ['--dlq_kye_ref', SECRET],            # a value after an unknown flag
    [f'--dlq_kye_ref={SECRET}'],          # the value of an unknown flag
    [SECRET],                             # a key where a flag was meant
    [f'--{SECRET}'],                      # a key that looks like a flag
    [f'--max_records={SECRET}'],          # a value a known flag cannot take
    [f'--start_offset={SECRET}'],         # a value outside a known flag's choices
])
def test_no_value_is_echoed(argv):
  assert SECRET not in _refused(argv)


def test_the_flink_job_servers_flags_are_for_flink_only():
  flags = ['--checkpointing_interval=5000', '--attached_mode', '--max_bundle_size', '100']
  runners.check_flags(['--runner=FlinkRunner', *flags])
  message = _refused(['--checkpointing_interval=5000'])
  assert '--checkpointing_interval is a Flink job server flag: only with --runner=FlinkRunner' in message


def test_flags_of_other_commands_are_not_taken():
  # SearchOptions belongs to `python -m pipeline.search`: here it would be ignored.
  assert 'unknown flag --hybrid' in _refused(['--hybrid'])


# Single-word flags the project passes to `python -m pipeline` (the scan below takes every
# `--word_word` flag; single words are mostly other commands' flags: --events, --topic, --key).
SINGLE_WORD_PIPELINE_FLAGS = ('--runner', '--embed', '--snowflake', '--weaviate', '--detached',
                              '--parallelism', '--experiments', '--streaming')
# The flags the brief of this check names, with the forms the runners take.
RUNNER_FLAGS = ['--flink_master=[local]', '--job_server_jvm_properties=-Xmx1g',
                '--job_server_jvm_property=-Xmx1g', '--environment_type=LOOPBACK',
                '--environment_config=localhost:50000', '--sdk_worker_parallelism=2',
                '--direct_num_workers=2', '--direct_running_mode=multi_threading',
                '--experiments=use_loopback_process_worker', '--streaming', '--parallelism=2',
                '--checkpointing_interval=10000', '--default_sdk_harness_log_level=WARN',
                '--prism_location=/opt/prism', '--attached_mode', '--max_bundle_size=1000',
                '--job_name=x', '--flink_version=1.19', '--max_parallelism=8']


def _flags_the_project_passes() -> set[str]:
  files = ['run_local.sh', 'tests/unit/test_runner_args.py']
  for folder in ('benchmarks', 'tests/integration'):
    files += [os.path.join(folder, f) for f in os.listdir(os.path.join(REPO, folder))
              if f.endswith('.py')]
  found = set()
  for name in files:
    with open(os.path.join(REPO, name), encoding='utf-8') as f:
      found |= set(re.findall(r'(?<![\w-])--[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b', f.read()))
  return found


def test_every_flag_the_project_passes_is_taken():
  flags = _flags_the_project_passes()
  assert {'--consumer_group', '--max_records', '--weather_snapshot', '--direct_num_workers',
          '--sink_flush_seconds', '--default_sdk_harness_log_level'} <= flags   # the scan works
  for flag in sorted(flags | set(SINGLE_WORD_PIPELINE_FLAGS)):
    # Given without a value: a flag that needs one is refused for that, never as unknown.
    try:
      runners.check_flags(['--runner=FlinkRunner', flag])
    except runners.UsageError as e:
      assert 'expected one argument' in str(e), flag
  runners.check_flags(RUNNER_FLAGS + ['--runner=FlinkRunner'])


@pytest.mark.parametrize('argv', [
    [], ['--runner=PrismRunner'], ['--runner=FlinkRunner', '--flink_master=[local]'],
    ['--runner=FlinkRunner', '--flink_master=localhost:8081', '--detached']])
def test_the_runner_defaults_pass_the_check(argv):
  plan, _ = runners.plan_run(argv, lambda master: 2)
  runners.check_flags(argv + runners.runner_defaults(plan, lambda master: 2))
