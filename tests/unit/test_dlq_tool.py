"""The DLQ tool (python -m pipeline.dlq): --key after the command too, and the agents' ingest
dead letters (another format) listed or named as such, never `error: 'failed_at'`."""
import contextlib
import datetime
import io
import json

from connectors.kafka_publisher import DeadLetterCodec
from connectors.secrets import SecretRef
from pipeline import dlq as dlq_tool
from tests.unit import fakes
from transforms.dead_letter import DeadLetterFactory, dead_letter_to_json

KEY_ARG = f'env:{fakes.DLQ_KEY_ENV}#test-dlq-1'
NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)


def _pipeline_file(tmp_path):
  factory = DeadLetterFactory(fakes.dead_letter_config())
  raw = fakes.raw_record('shopify', b'{"email": "x@example.com"}', 11)
  dead = factory.from_raw('validate', raw, ValueError('broken'))
  path = tmp_path / 'dlq.jsonl'
  path.write_bytes(dead_letter_to_json(dead) + b'\n')
  return str(path), dead, raw


def _ingest_file(tmp_path, key_ref=None):
  letter = DeadLetterCodec(key_ref).encode(
      source='daraz', intended_topic='raw.daraz.orders', key='order-7',
      reason='payload is not JSON', error_class='ValidationError',
      payload=b'{"buyer": "x@example.com"', now=NOW)
  path = tmp_path / 'ingest.jsonl'
  path.write_bytes(letter + b'\n')
  return str(path)


def _main(argv):
  out, err = io.StringIO(), io.StringIO()
  with contextlib.redirect_stderr(err):
    rc = dlq_tool.main(argv, out=out)
  return rc, out.getvalue(), err.getvalue()


def test_key_after_the_command(tmp_path):
  path, dead, raw = _pipeline_file(tmp_path)
  rc, out, _ = _main(['--file', path, 'show', dead.dead_letter_id, '--key', KEY_ARG])
  assert rc == 0 and json.loads(out)['message']['value'] == raw.value.decode()
  rc, out, _ = _main(['--file', path, 'replay', '--dry-run', dead.dead_letter_id, '--key', KEY_ARG])
  assert rc == 0 and 'would publish to raw.shopify.orders' in out


def test_key_before_the_command_still_works(tmp_path):
  path, dead, _ = _pipeline_file(tmp_path)
  assert _main(['--file', path, '--key', KEY_ARG, 'show', dead.dead_letter_id])[0] == 0


def test_ingest_dead_letters_are_listed(tmp_path):
  rc, out, err = _main(['--file', _ingest_file(tmp_path), 'list'])
  assert rc == 0 and not err
  assert 'ingest' in out and 'daraz -> raw.daraz.orders' in out and 'payload is not JSON' in out
  assert 'x@example.com' not in out and 'order-7' not in out
  assert _main(['--file', _ingest_file(tmp_path), 'list', '--stage', 'validate'])[1] == ''


def test_show_decrypts_an_ingest_dead_letter_named_by_where_it_is(tmp_path):
  path = _ingest_file(tmp_path, SecretRef.parse(f'env:{fakes.DLQ_KEY_ENV}'))
  rc, out, _ = _main(['--file', path, 'list'])
  where = out.split()[0]
  assert rc == 0 and where == f'{path}:1' and 'encrypted' in out
  rc, out, _ = _main(['--file', path, 'show', where, '--key', KEY_ARG])
  shown = json.loads(out)
  assert rc == 0 and shown['payload'] == '{"buyer": "x@example.com"'
  assert shown['reason'] == 'payload is not JSON' and 'payload_fernet' not in shown
  rc, _, err = _main(['--file', path, 'show', where])
  assert rc == 2 and 'needs --key' in err


def test_replay_of_ingest_dead_letters_says_what_they_are(tmp_path):
  rc, _, err = _main(['--file', _ingest_file(tmp_path), '--key', KEY_ARG, 'replay', '--dry-run',
                      'some-id'])
  assert rc == 2
  assert 'is an agent ingest dead letter (dlq.ingest)' in err and '--dlq-key-ref' in err
  assert '--topic dlq.ingest list' in err and 'failed_at' not in err


def test_what_is_no_dead_letter_is_named_not_a_key_error(tmp_path):
  path = tmp_path / 'other.jsonl'
  path.write_bytes(b'{"stage": "validate"}\n')
  rc, _, err = _main(['--file', str(path), 'list'])
  assert rc == 2 and f'{path}:1 is not a dead letter' in err
