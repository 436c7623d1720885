"""Dead-letter encryption, error descriptions without PII, and the DLQ tool (list/show/replay)."""
import io
import json

import pytest
from pydantic import ValidationError

from schemas.sources import ShopifyOrder
from tests.unit import fakes
from transforms import dlq_tool
from transforms.dead_letter import (DeadLetterFactory, PayloadCipher, PayloadDecryptError,
                                    dead_letter_from_json, dead_letter_to_json, describe_error)
from transforms.privacy import STAGE as PRIVACY_STAGE


def test_cipher_round_trip_and_authentication():
  cipher = fakes.test_cipher()
  sealed = cipher.seal(b'secret payload', 'dl-1')
  assert b'secret' not in sealed
  assert cipher.open(sealed, 'dl-1') == b'secret payload'
  with pytest.raises(PayloadDecryptError):
    cipher.open(sealed, 'dl-2')                       # moved onto another dead letter
  with pytest.raises(PayloadDecryptError):
    cipher.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), 'dl-1')   # tampered
  with pytest.raises(PayloadDecryptError):
    PayloadCipher(b'another key').open(sealed, 'dl-1')


def test_key_id_defaults_to_a_fingerprint_without_the_key():
  cipher = PayloadCipher(b'k1')
  assert cipher.key_id.startswith('k') and 'k1' != cipher.key_id
  assert PayloadCipher(b'k1').key_id == cipher.key_id != PayloadCipher(b'k2').key_id


def test_pydantic_errors_are_described_by_path_without_input_values():
  with pytest.raises(ValidationError) as info:
    ShopifyOrder.model_validate({'id': 'bob@example.com', 'line_items': [{'id': 1, 'quantity': '01712345678x'}]})
  text = describe_error(info.value)
  assert 'id: ' in text and 'line_items.0.quantity' in text
  assert 'bob@example.com' not in text and '01712345678' not in text


def test_other_error_messages_are_redacted():
  text = describe_error(ValueError('bad contact bob@example.com / +880 1712-345678'))
  assert 'bob@example.com' not in text and '1712' not in text and '[EMAIL]' in text


def _dead_letters():
  factory = DeadLetterFactory(fakes.dead_letter_config())
  raw = fakes.raw_record('shopify', b'{"email": "x@example.com"}', 11)
  first = factory.from_raw('validate', raw, ValueError('broken'))
  second = factory.from_raw(PRIVACY_STAGE, fakes.raw_record('daraz', b'{}', 12), KeyError('k'))
  return raw, [first, second]


def test_json_round_trip_keeps_ciphertext(tmp_path):
  _, dead = _dead_letters()
  again = dead_letter_from_json(dead_letter_to_json(dead[0]))
  assert again == dead[0]


def test_dlq_tool_list_show_replay_from_file(tmp_path, monkeypatch):
  raw, dead = _dead_letters()
  path = tmp_path / 'dlq.jsonl'
  path.write_bytes(b'\n'.join(dead_letter_to_json(d) for d in dead) + b'\n')
  out = io.StringIO()
  assert dlq_tool.main(['--file', str(path), 'list'], out=out) == 0
  listing = out.getvalue()
  assert dead[0].dead_letter_id in listing and 'x@example.com' not in listing

  key = f'env:{fakes.DLQ_KEY_ENV}#test-dlq-1'
  out = io.StringIO()
  assert dlq_tool.main(['--file', str(path), '--key', key, 'show', dead[0].dead_letter_id],
                       out=out) == 0
  shown = json.loads(out.getvalue())
  assert shown['message']['value'] == raw.value.decode()
  assert dlq_tool.main(['--file', str(path), 'show', dead[0].dead_letter_id], out=io.StringIO()) == 2

  plan = dlq_tool.replay_plan(dlq_tool.read_file(str(path)), [dead[0].dead_letter_id],
                              dlq_tool._ciphers([key]))
  [(topic, k, value, headers)] = plan
  assert (topic, k, value) == (raw.topic, raw.key, raw.value)
  assert ('replayed_from', dead[0].dead_letter_id.encode()) in headers
  out = io.StringIO()
  assert dlq_tool.main(['--file', str(path), '--key', key, 'replay', '--dry-run',
                        dead[0].dead_letter_id], out=out) == 0
  assert 'would publish to raw.shopify.orders' in out.getvalue()
