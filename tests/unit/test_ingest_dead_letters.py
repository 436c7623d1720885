"""The agents' ingest dead letters (dlq.ingest) under the project's DLQ key.

The key is the one the pipeline seals its dead letters with: hex or base64 text of at least 32
random bytes (run_local.sh makes hex). The agents' Fernet key is derived from it, and a key
that is no such key stops the agent before it fetches anything."""
import base64
import datetime
import json
import secrets

import pytest

from agents import cli
from agents.runner import Rejected, SourceAgent
from connectors.http import ApiClient, HttpConfig
from connectors.kafka_publisher import DeadLetterCodec
from connectors.secrets import SecretRef

NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
PAYLOAD = b'{"id": 7, "buyer": "rahim.uddin@example.com", "phone": "01712345678"}'


class OneBadObjectAgent(SourceAgent):
  """One window, one object the shape check passes and one the agent itself rejects."""
  source = 'daraz'
  windowed = False

  def __init__(self):
    super().__init__(ApiClient(HttpConfig('http://127.0.0.1:9')))
    self.fetches = 0

  def fetch(self, start, end):
    self.fetches += 1
    yield [Rejected('7', PAYLOAD, 'payload is not JSON', 'MalformedResponse')]


class FakePublisher:
  """Keeps what the agent sends; made, like KafkaPublisher, from a PublisherConfig."""
  made = []

  def __init__(self, config):
    self.sent, self.acked = [], {}
    FakePublisher.made.append(self)

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    return None

  def send(self, topic, key, value, headers=()):
    self.sent.append((topic, key, value))

  def send_json(self, topic, key, obj, headers=()):
    self.send(topic, key, json.dumps(obj).encode())

  def flush(self):
    pass


@pytest.fixture
def publisher(monkeypatch):
  FakePublisher.made = []
  monkeypatch.setattr(cli, 'KafkaPublisher', FakePublisher)
  return FakePublisher


def _run_agent(agent, tmp_path, *flags):
  return cli.main('daraz', 'test', lambda parser: None, lambda args: agent,
                  ['--once', '--checkpoint-dir', str(tmp_path), '--log-level', 'ERROR', *flags])


def test_an_agent_with_a_run_local_hex_key_writes_a_dead_letter_that_opens(
    tmp_path, monkeypatch, publisher):
  """Fernet(hex key) raised ValueError at the first dead letter and the agent died."""
  monkeypatch.setenv('T_INGEST_DLQ_KEY', secrets.token_hex(32) + '\n')   # as run_local.sh writes
  agent = OneBadObjectAgent()
  assert _run_agent(agent, tmp_path, '--dlq-key-ref', 'env:T_INGEST_DLQ_KEY') == 0
  [(topic, key, value)] = publisher.made[0].sent
  assert topic == 'dlq.ingest' and key == b'7'
  letter = json.loads(value)
  assert b'rahim' not in value and b'01712345678' not in value
  codec = DeadLetterCodec(SecretRef.parse('env:T_INGEST_DLQ_KEY'))
  assert codec.open(letter) == PAYLOAD


def test_a_base64_key_works_too_and_another_key_does_not_open_it(monkeypatch):
  monkeypatch.setenv('T_B64_KEY', base64.b64encode(secrets.token_bytes(32)).decode())   # openssl rand -base64 32
  monkeypatch.setenv('T_OTHER_KEY', secrets.token_hex(32))
  codec = DeadLetterCodec(SecretRef.parse('env:T_B64_KEY'))
  letter = json.loads(codec.encode(source='daraz', intended_topic='raw.daraz.orders', key='7',
                                   reason='r', error_class='E', payload=PAYLOAD, now=NOW))
  assert codec.open(letter) == PAYLOAD
  from cryptography.fernet import InvalidToken
  with pytest.raises(InvalidToken):
    DeadLetterCodec(SecretRef.parse('env:T_OTHER_KEY')).open(letter)


@pytest.mark.parametrize('bad_key', [
    'correct horse battery staple',             # a passphrase
    'ab12' * 8,                                 # 16 bytes of hex
    'Zm9vYmFyYmF6' * 4,                         # base64 of printable text
])
def test_a_bad_key_is_a_start_up_error_without_the_key(tmp_path, monkeypatch, capsys, publisher,
                                                       bad_key):
  monkeypatch.setenv('T_BAD_KEY', bad_key)
  agent = OneBadObjectAgent()
  with pytest.raises(SystemExit) as e:
    _run_agent(agent, tmp_path, '--dlq-key-ref', 'env:T_BAD_KEY')
  assert e.value.code == 2
  err = capsys.readouterr().err
  assert 'env:T_BAD_KEY' in err and bad_key not in err
  assert agent.fetches == 0 and publisher.made == []


def test_a_missing_key_is_a_start_up_error(tmp_path, monkeypatch, capsys, publisher):
  monkeypatch.delenv('T_NO_KEY', raising=False)
  agent = OneBadObjectAgent()
  with pytest.raises(SystemExit):
    _run_agent(agent, tmp_path, '--dlq-key-ref', 'env:T_NO_KEY')
  assert 'T_NO_KEY' in capsys.readouterr().err and agent.fetches == 0


def _letter(codec, payload=PAYLOAD):
  return json.loads(codec.encode(source='daraz', intended_topic='raw.daraz.orders', key='7',
                                 reason='r', error_class='E', payload=payload, now=NOW))


def test_the_payload_digest_is_keyed_so_a_guess_cannot_be_confirmed(monkeypatch):
  """An unkeyed SHA-256 of the payload let anyone who reads dlq.ingest confirm a guessed
  payload (a phone number, an order); the digest is an HMAC under a key derived from the DLQ
  key, the same keyed digest as the pipeline's dead letters (PayloadCipher.digest)."""
  import hashlib
  from transforms.dead_letter import PayloadCipher
  key = secrets.token_hex(32)
  monkeypatch.setenv('T_DIGEST_KEY', key)
  monkeypatch.setenv('T_OTHER_KEY', secrets.token_hex(32))
  keyed = _letter(DeadLetterCodec(SecretRef.parse('env:T_DIGEST_KEY')))
  unkeyed = _letter(DeadLetterCodec())
  plain = hashlib.sha256(PAYLOAD).hexdigest()
  for letter in (keyed, unkeyed):
    assert 'payload_sha256' not in letter and plain not in json.dumps(letter)
  assert keyed['payload_hmac_sha256'] == PayloadCipher(bytes.fromhex(key)).digest(PAYLOAD)
  assert keyed['payload_hmac_sha256'] != _letter(
      DeadLetterCodec(SecretRef.parse('env:T_OTHER_KEY')))['payload_hmac_sha256']
  assert unkeyed['payload_hmac_sha256'] is None and unkeyed['payload_size'] == len(PAYLOAD)
  assert 'payload_fernet' not in unkeyed
