"""A secret passed where its reference belongs is never printed back.

Flags named `*_ref` take `env:NAME` or `file:PATH`; someone pastes the key, password or token
itself there sooner or later. Every way the project reports a bad reference (SecretError, the
pipeline's invalid options, the agents' and the DLQ tool's argparse errors, the sink configs)
must say what is wrong without the text it was given."""
import contextlib
import io

import pytest

from connectors.secrets import SecretError, SecretRef
from pipeline import __main__ as pipeline_main
from pipeline import dlq as dlq_tool
from pipeline.runners import UsageError

HEX_KEY = '9f' * 8 + '0123456789abcdef' * 3        # 64 hex digits, what run_local.sh makes
PASSWORD = 'hunter2'
API_KEY = 'sk-live-4f9a8b7c6d5e4f3a2b1c'
SHOPIFY_TOKEN = 'shpat_0123456789abcdef0123456789abcdef'
VALUES = [HEX_KEY, PASSWORD, API_KEY, SHOPIFY_TOKEN,
          f'env:{HEX_KEY}',        # a key behind a scheme is still not a variable name
          'env:', 'file:', 'vault:' + PASSWORD]


def _assert_absent(value: str, text: str) -> None:
  """The secret part of `value` (after a scheme, if it has one) is not in `text`."""
  scheme, sep, rest = value.partition(':')
  secret = rest if sep else value
  if secret:
    assert secret not in text, text


@pytest.mark.parametrize('value', VALUES)
def test_secret_error_names_the_forms_not_the_value(value):
  with pytest.raises(SecretError) as e:
    SecretRef.parse(value)
  _assert_absent(value, str(e.value))
  assert 'env:NAME or file:PATH' in str(e.value)
  assert f'{len(value)} characters' in str(e.value)


def test_env_names_are_variable_names():
  assert str(SecretRef.parse('env:MILLIONX_DLQ_KEY')) == 'env:MILLIONX_DLQ_KEY'
  assert str(SecretRef.parse('file:/run/secrets/dlq key')) == 'file:/run/secrets/dlq key'


def _invalid_options(*flags) -> str:
  with pytest.raises(UsageError) as e:
    pipeline_main.run(['--no_embed', *flags])
  return str(e.value)


@pytest.mark.parametrize('flag', ['dlq_key_ref', 'pseudonym_key_ref', 'openweather_key_ref'])
def test_pipeline_key_flags_do_not_echo_a_key(flag):
  text = _invalid_options(f'--{flag}={HEX_KEY}')
  assert f'--{flag}: not a secret reference' in text
  _assert_absent(HEX_KEY, text)


@pytest.mark.parametrize('flags, value', [
    (['--snowflake', f'--snowflake_password_ref={PASSWORD}'], PASSWORD),
    (['--snowflake', f'--snowflake_private_key_ref={API_KEY}'], API_KEY),
    (['--snowflake', '--snowflake_password_ref=env:P',
      f'--snowflake_private_key_passphrase_ref={PASSWORD}'], PASSWORD),
    ([f'--weaviate_api_key_ref={API_KEY}'], API_KEY),
])
def test_sink_secret_flags_are_checked_in_validate(flags, value):
  """They passed validate() and raised from SnowflakeConfig/WeaviateConfig with the value in the
  traceback; now they are one line of the invalid options, without it."""
  text = _invalid_options(*flags)
  assert 'not a secret reference' in text
  _assert_absent(value, text)


def test_agent_token_flag_does_not_echo_the_token(capsys):
  from agents import cli, shopify
  with pytest.raises(SystemExit):
    cli.main('shopify', 'test', shopify.add_arguments, shopify.build,
             ['--shop-url', 'https://x.myshopify.com', '--access-token', SHOPIFY_TOKEN])
  out, err = capsys.readouterr()
  assert 'not a secret reference' in err
  _assert_absent(SHOPIFY_TOKEN, out + err)


def test_dlq_tool_key_does_not_echo_the_key(tmp_path):
  empty = tmp_path / 'dlq.jsonl'
  empty.write_text('')
  err = io.StringIO()
  with contextlib.redirect_stderr(err):
    assert dlq_tool.main(['--file', str(empty), '--key', HEX_KEY, 'show', 'x']) == 2
  assert 'not a secret reference' in err.getvalue()
  _assert_absent(HEX_KEY, err.getvalue())


@pytest.mark.parametrize('module, flags', [
    ('shopify', ['access-token']), ('catalog', ['access-token']), ('facebook', ['access-token']),
    ('daraz', ['app-secret', 'access-token', 'refresh-token']), ('tiktok', ['client-secret']),
    ('openweather', ['api-key'])])
def test_agent_secret_flags_are_named_ref_and_keep_their_old_names(module, flags):
  """`--access-token` took a reference but read like a value; `--access-token-ref` is its name
  now (README's runbook says `--*-ref`), and the old spelling still parses the same."""
  import importlib
  from agents import cli
  agent = importlib.import_module(f'agents.{module}')
  parser = cli.common_parser(module, 'test')
  agent.add_arguments(parser)
  required = {'shopify': ['--shop-url', 'https://x.myshopify.com'],
              'catalog': ['--shop-url', 'https://x.myshopify.com'], 'facebook': ['--page-id', '1'],
              'daraz': ['--app-key', '1'], 'tiktok': ['--client-key', 'k']}.get(module, [])
  for flag in flags + ['dlq-key']:
    dest = flag.replace('-', '_') + '_ref'
    new = parser.parse_args(required + [f'--{flag}-ref', 'env:NEW_NAME'])
    old = parser.parse_args(required + [f'--{flag}', 'file:/old/path'])
    assert str(getattr(new, dest)) == 'env:NEW_NAME' and str(getattr(old, dest)) == 'file:/old/path'
  assert all(f'--{flag}-ref' in parser.format_help() for flag in flags)
