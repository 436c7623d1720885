"""Dead-letter encryption, error descriptions without PII, sizes, and the DLQ tool
(python -m pipeline.dlq list/show/replay)."""
import base64
import dataclasses
import io
import json
import os

import pytest
from pydantic import ValidationError

from pipeline import dlq as dlq_tool
from schemas.sources import ShopifyOrder
from tests.unit import fakes
from transforms.config import DeadLetterConfig, ValidationConfig
from transforms.dead_letter import (FORMAT_KAFKA_MESSAGE, FORMAT_KAFKA_REFERENCE,
                                    DeadLetterFactory, PayloadCipher, PayloadDecryptError,
                                    dead_letter_from_json, dead_letter_to_json, describe_error)
from transforms.privacy import STAGE as PRIVACY_STAGE

KEY_ARG = f'env:{fakes.DLQ_KEY_ENV}#test-dlq-1'


def test_cipher_round_trip_and_authentication():
  cipher = fakes.test_cipher()
  sealed = cipher.seal(b'secret payload', b'dl-1')
  assert b'secret' not in sealed
  assert cipher.open(sealed, b'dl-1') == b'secret payload'
  with pytest.raises(PayloadDecryptError):
    cipher.open(sealed, b'dl-2')                       # moved onto another dead letter
  with pytest.raises(PayloadDecryptError):
    cipher.open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b'dl-1')   # tampered
  with pytest.raises(PayloadDecryptError):
    PayloadCipher(os.urandom(32)).open(sealed, b'dl-1')


@pytest.mark.parametrize('field, value', [
    ('dead_letter_id', '00000000-0000-5000-8000-000000000000'), ('stage', 'enrich'),
    ('topic', 'raw.daraz.orders'), ('partition', 2), ('offset', 12)])
def test_the_payload_is_bound_to_id_stage_topic_partition_and_offset(field, value):
  _, [dead, _] = _dead_letters()
  cipher = fakes.test_cipher()
  assert cipher.open_dead_letter(dead)
  with pytest.raises(PayloadDecryptError):
    cipher.open_dead_letter(dataclasses.replace(dead, **{field: value}))


def test_pydantic_errors_are_described_by_path_without_input_values():
  with pytest.raises(ValidationError) as info:
    ShopifyOrder.model_validate({'id': 'bob@example.com', 'line_items': [{'id': 1, 'quantity': '01712345678x'}]})
  text = describe_error(info.value)
  assert 'id: ' in text and 'line_items.0.quantity' in text
  assert 'bob@example.com' not in text and '01712345678' not in text


def test_other_error_messages_are_redacted():
  # The project's own exceptions keep their (redacted) message; Python's and libraries' keep
  # only their class and place (tests/unit/test_dead_letter_text.py).
  from transforms.validate import ApiErrorResponse
  text = describe_error(ApiErrorResponse('bad contact bob@example.com / +880 1712-345678'))
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


def _write(path, dead_letters):
  path.write_bytes(b'\n'.join(dead_letter_to_json(d) for d in dead_letters) + b'\n')
  return str(path)


def test_dlq_tool_list_show_replay_from_file(tmp_path, monkeypatch):
  raw, dead = _dead_letters()
  path = tmp_path / 'dlq.jsonl'
  _write(path, dead)
  out = io.StringIO()
  assert dlq_tool.main(['--file', str(path), 'list'], out=out) == 0
  listing = out.getvalue()
  assert dead[0].dead_letter_id in listing and 'x@example.com' not in listing

  key = KEY_ARG
  out = io.StringIO()
  assert dlq_tool.main(['--file', str(path), '--key', key, 'show', dead[0].dead_letter_id],
                       out=out) == 0
  shown = json.loads(out.getvalue())
  assert shown['message']['value'] == raw.value.decode()
  assert dlq_tool.main(['--file', str(path), 'show', dead[0].dead_letter_id], out=io.StringIO()) == 2

  plan = dlq_tool.replay_plan(dlq_tool.read_file(str(path)), [dead[0].dead_letter_id],
                              dlq_tool.ciphers([key]))
  [(topic, k, value, headers)] = plan
  assert (topic, k, value) == (raw.topic, raw.key, raw.value)
  assert ('replayed_from', dead[0].dead_letter_id.encode()) in headers
  out = io.StringIO()
  assert dlq_tool.main(['--file', str(path), '--key', key, 'replay', '--dry-run',
                        dead[0].dead_letter_id], out=out) == 0
  assert 'would publish to raw.shopify.orders' in out.getvalue()


def test_replay_sends_only_to_the_topic_sealed_in_the_payload(tmp_path):
  """A dead letter whose clear-text topic was changed (to route a replay of a customer's order
  into another topic) is refused; replay never takes its destination from clear text."""
  raw, [dead, _] = _dead_letters()
  moved = dataclasses.replace(dead, topic='out.market.orders')
  path = _write(tmp_path / 'dlq.jsonl', [moved])
  with pytest.raises(PayloadDecryptError):
    dlq_tool.replay_plan(dlq_tool.read_file(path), [moved.dead_letter_id],
                         dlq_tool.ciphers([KEY_ARG]))
  assert dlq_tool.main(['--file', path, '--key', KEY_ARG, 'replay', '--dry-run',
                        moved.dead_letter_id], out=io.StringIO()) == 2
  [(topic, _, _, _)] = dlq_tool.replay_plan([dead], [dead.dead_letter_id],
                                            dlq_tool.ciphers([KEY_ARG]))
  assert topic == raw.topic


def test_the_sealed_payload_is_base64_encoded_once():
  """The DLQ JSON of a 200 KB payload is about 4/3 of it, not ~1.78x (base64 of sealed base64)."""
  factory = DeadLetterFactory(fakes.dead_letter_config())
  payload = os.urandom(150_000)
  raw = fakes.raw_record('shopify', payload, 5)
  dead = factory.from_raw('validate', raw, ValueError('broken'))
  size = len(dead_letter_to_json(dead))
  assert dead.payload_format == FORMAT_KAFKA_MESSAGE
  assert size < 1.36 * len(payload), size / len(payload)
  shown = dlq_tool.show(dead, dlq_tool.ciphers([KEY_ARG]))
  assert shown['message']['topic'] == raw.topic
  [(_, key, value, _)] = dlq_tool.replay_plan([dead], [dead.dead_letter_id],
                                              dlq_tool.ciphers([KEY_ARG]))
  assert (key, value) == (raw.key, payload)


def test_validation_limit_and_dead_letter_size_agree_with_the_dlq_message_limit():
  limit = 3 * 1024 * 1024
  config = dataclasses.replace(fakes.dead_letter_config(), max_message_bytes=limit)
  assert ValidationConfig().payload_limit(config) == config.max_payload_bytes
  assert 2 * 1024 * 1024 < config.max_payload_bytes < limit
  factory = DeadLetterFactory(config)
  # The largest payload the validation accepts still fits the DLQ inline, in clear-text worst
  # case (a long error message full of characters that JSON escapes).
  raw = fakes.raw_record('shopify', os.urandom(config.max_payload_bytes), 1)
  dead = factory.from_raw('validate', raw, ValueError('\x00' * 5000))
  assert dead.payload_format == FORMAT_KAFKA_MESSAGE
  assert len(dead_letter_to_json(dead)) + 200 <= limit


def test_a_payload_too_large_for_the_dlq_becomes_a_reference_with_size_and_keyed_digest():
  config = fakes.dead_letter_config()          # the Kafka default: about 1 MiB per message
  factory = DeadLetterFactory(config)
  payload = b'{"email": "x@example.com", "pad": "' + b'y' * (2 * 1024 * 1024) + b'"}'
  raw = fakes.raw_record('shopify', payload, 77, partition=2)
  dead = factory.from_raw('validate', raw, ValueError('PayloadTooLarge'))
  value = dead_letter_to_json(dead)
  assert dead.payload_format == FORMAT_KAFKA_REFERENCE
  assert len(value) < 20_000 and b'x@example.com' not in value
  reference = dlq_tool.show(dead, dlq_tool.ciphers([KEY_ARG]))['reference']
  assert (reference['topic'], reference['partition'], reference['offset']) == (raw.topic, 2, 77)
  assert reference['size'] == len(payload) and len(reference['digest']) == 64
  assert payload.hex()[:64] != reference['digest']

  # Replay re-reads the source topic at the sealed coordinates and checks the digest.
  fetched = []
  def fetch(topic, partition, offset):
    fetched.append((topic, partition, offset))
    return raw.key, payload, list(raw.headers)
  [(topic, key, value, headers)] = dlq_tool.replay_plan(
      [dead], [dead.dead_letter_id], dlq_tool.ciphers([KEY_ARG]), fetch)
  assert fetched == [(raw.topic, 2, 77)] and (topic, key, value) == (raw.topic, raw.key, payload)
  # Another message at those coordinates (topic recreated, offsets reused) is not replayed.
  with pytest.raises(LookupError, match='digest'):
    dlq_tool.replay_plan([dead], [dead.dead_letter_id], dlq_tool.ciphers([KEY_ARG]),
                         lambda *c: (raw.key, payload + b' ', list(raw.headers)))
  with pytest.raises(LookupError, match='no longer'):
    dlq_tool.replay_plan([dead], [dead.dead_letter_id], dlq_tool.ciphers([KEY_ARG]),
                         lambda *c: None)


def test_a_later_stage_record_too_large_for_the_dlq_becomes_a_reference():
  from tests.unit.test_normalized_records import _post  # pylint: disable=import-outside-toplevel
  factory = DeadLetterFactory(fakes.dead_letter_config())
  record = _post(text='z' * (1024 * 1024 + 10))
  dead = factory.from_record('enrich', record, RuntimeError('boom'))
  assert dead.payload_format == FORMAT_KAFKA_REFERENCE
  assert len(dead_letter_to_json(dead)) < 20_000
  reference = json.loads(fakes.test_cipher().open_dead_letter(dead))
  assert reference['kept'] == 'normalized-json' and reference['size'] > 1024 * 1024
