"""`python -m pipeline --help`: every flag's default where it has one (a secret flag's is a
reference, never a value), the Beam runner flags the project sets, and what a plain run needs."""
import argparse
import io

from pipeline import __main__ as pipeline_main


def _help() -> str:
  out = io.StringIO()
  pipeline_main.print_help(out)
  return out.getvalue()


def _flat(text: str) -> str:
  # argparse wraps at spaces and hyphens: compare without any whitespace.
  return ''.join(text.split())


def test_the_defaults_are_shown():
  text = _flat(_help().split('\nKafka:', 1)[1])   # the flags' help, not the usage line
  for flag, default in (('--dlq_key_ref', 'env:MILLIONX_DLQ_KEY'),
                        ('--pseudonym_key_ref', 'env:MILLIONX_PSEUDONYM_KEY'),
                        ('--max_records', '1000000'), ('--max_read_seconds', '10'),
                        ('--consumer_group', 'millionx-pipeline'),
                        ('--embed_max_batch_size', '64'), ('--snowflake_batch_size', '500'),
                        ('--weaviate_batch_size', '200'), ('--sink_flush_seconds', '2.0'),
                        ('--sink_window_seconds', '60.0'), ('--progress_interval', '5.0')):
    section = text.split(_flat(f'{flag} {flag[2:].upper()}'), 1)[1].split('--', 1)[0]
    assert f'(default:{default})' in section, flag


def test_every_flag_with_a_default_shows_it():
  text = _flat(_help())
  for action in pipeline_main.help_parser()._actions:  # pylint: disable=protected-access
    if (action.default is None or isinstance(action.default, bool)
        or action.default == argparse.SUPPRESS or 'default' in action.help.lower()):
      continue   # nothing to show, or the help says it in words
    assert _flat(str(action.default)) in text, action.option_strings


def test_no_secret_value_is_shown(monkeypatch):
  monkeypatch.setenv('MILLIONX_DLQ_KEY', 'ab' * 32)
  monkeypatch.setenv('MILLIONX_PSEUDONYM_KEY', 'cd' * 32)
  text = _flat(_help())
  assert 'ab' * 32 not in text and 'cd' * 32 not in text


def test_the_runner_flags_the_project_sets_are_listed():
  group = _help().split('Beam runner flags used here:', 1)[1]
  for flag in ('--sdk_worker_parallelism', '--direct_num_workers', '--direct_running_mode',
               '--streaming', '--experiments', '--environment_config', '--max_bundle_size',
               '--parallelism', '--checkpointing_interval', '--default_sdk_harness_log_level'):
    assert f'\n  {flag} ' in group or f'\n  {flag}\n' in group, flag


def test_refresh_help_says_side_input_and_flink():
  text = ' '.join(_help().split())
  for flag in ('--weather_refresh_seconds', '--catalog_refresh_seconds'):
    section = text.split(f'{flag} {flag[2:].upper()} ', 1)[1][:400]
    assert 'side input' in section and 'Flink' in section and 'DoFn' in section, flag


def test_a_plain_run_needs_the_two_keys():
  text = ' '.join(_help().split())
  assert 'MILLIONX_DLQ_KEY' in text.split('options:', 1)[0]
  assert 'MILLIONX_PSEUDONYM_KEY' in text.split('options:', 1)[0]
  assert './run_local.sh' in text
