"""Option checks of `python -m pipeline` (pipeline/options.py validate()): a bad value is one
line of `error: invalid options`, exit 2, before anything runs, never a traceback from deep in
the graph's construction."""
import contextlib
import io

import pytest

from pipeline import __main__ as pipeline_main
from pipeline.runners import UsageError


def _errors(*flags) -> list[str]:
  """The error lines of a run with these flags (no embedding, so no model export is checked)."""
  with pytest.raises(UsageError) as e:
    pipeline_main.run(['--no_embed', *flags])
  head, *lines = str(e.value).splitlines()
  assert head == 'invalid options:'
  return [line.strip() for line in lines]


def test_an_unknown_source_is_named_with_the_known_ones():
  assert _errors('--sources=tiktok,twitter') == [
      "--sources: unknown source(s) 'twitter'; known: daraz,facebook,shopify,tiktok"]


def test_a_blank_source_is_refused():
  assert _errors('--sources=tiktok,')[0].startswith("--sources: unknown source(s) ''")


@pytest.mark.parametrize('flag', ['weather_refresh_seconds', 'catalog_refresh_seconds',
                                  'weather_max_age_seconds'])
@pytest.mark.parametrize('value', ['0', '-5'])
def test_refresh_and_age_must_be_positive(flag, value):
  assert _errors(f'--{flag}={value}') == [f'--{flag} must be positive']


def test_a_blank_pseudonym_key_id_is_refused():
  assert _errors('--pseudonym_key_id=  ') == [
      "--pseudonym_key_id must not be blank (omit it for the key's fingerprint)"]


@pytest.mark.parametrize('runner', [[], ['--runner=PrismRunner'],
                                    ['--runner=FlinkRunner', '--flink_master=[local]'],
                                    ['--runner=FlinkRunner']])
def test_detached_needs_a_flink_cluster(runner):
  [error] = _errors(*runner, '--detached')
  assert error.startswith('--detached needs --runner=FlinkRunner and a cluster --flink_master')


def test_negative_progress_interval_is_refused():
  assert _errors('--progress_interval=-1') == [
      '--progress_interval must be >= 0 (0: no progress lines)']


def test_main_prints_the_errors_and_exits_2():
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    assert pipeline_main.main(['--no_embed', '--weather_max_age_seconds=0',
                               '--progress_interval=-1']) == 2
  assert err.getvalue().splitlines() == [
      'error: invalid options:', '  --weather_max_age_seconds must be positive',
      '  --progress_interval must be >= 0 (0: no progress lines)']
