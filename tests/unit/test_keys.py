"""Secret references and keys: env: and file: read alike; keys decode to >= 32 random bytes;
key ids are computed with the key."""
import base64
import hashlib
import os

import pytest

from connectors.secrets import MIN_KEY_BYTES, SecretError, SecretRef, decode_key
from transforms.dead_letter import PayloadCipher, derive_key_id
from transforms.privacy import Shield

KEY = bytes(range(7, 7 + 32))   # 32 distinct bytes, not printable text


@pytest.mark.parametrize('raw', ['s3cret\n', 's3cret\r\n', '  s3cret \t\n', 's3cret'])
def test_env_and_file_secrets_are_read_the_same_way(raw, tmp_path, monkeypatch):
  monkeypatch.setenv('T_SECRET', raw)
  path = tmp_path / 'secret'
  path.write_text(raw, encoding='utf-8')
  assert SecretRef.parse('env:T_SECRET').resolve() == 's3cret'
  assert SecretRef.parse(f'file:{path}').resolve() == 's3cret'


def test_blank_env_and_file_secrets_are_refused_alike(tmp_path, monkeypatch):
  monkeypatch.setenv('T_BLANK', ' \n')
  path = tmp_path / 'blank'
  path.write_text(' \n', encoding='utf-8')
  for ref in ('env:T_BLANK', f'file:{path}'):
    with pytest.raises(SecretError, match='empty'):
      SecretRef.parse(ref).resolve()


@pytest.mark.parametrize('text', [
    KEY.hex(), KEY.hex().upper(), KEY.hex() + '\n',
    base64.b64encode(KEY).decode(), base64.b64encode(KEY).decode().rstrip('='),
    base64.urlsafe_b64encode(KEY).decode()])
def test_keys_in_hex_or_base64(text):
  assert decode_key(text) == KEY


def test_a_longer_key_is_accepted():
  key = hashlib.sha512(b'x').digest()
  assert decode_key(key.hex()) == key


@pytest.mark.parametrize('text, why', [
    ('test-dlq-key-not-a-secret', 'neither hex nor base64'),
    ('testhmackey1', '9 bytes'),                                 # base64 of 9 bytes
    (KEY[:MIN_KEY_BYTES - 1].hex(), '31 bytes'),
    (b'correct horse battery staple!!!!'.hex(), 'text'),          # a passphrase, hex-encoded
    (base64.b64encode(b'a-passphrase-that-is-long-enough-to-pass').decode(), 'text'),
    ((bytes([0, 1]) * 16).hex(), 'pattern'),
    ('', 'neither'),
])
def test_what_is_not_a_key_is_refused_with_a_clear_error(text, why):
  with pytest.raises(SecretError, match=why) as info:
    decode_key(text, 'the DLQ key')
  message = str(info.value)
  assert 'the DLQ key' in message and 'token_hex(32)' in message
  if len(text) > 8:
    assert text not in message   # the error never shows the value


def test_resolve_key_names_the_reference(monkeypatch):
  monkeypatch.setenv('T_WEAK_KEY', 'weak')
  with pytest.raises(SecretError, match='env:T_WEAK_KEY'):
    SecretRef.parse('env:T_WEAK_KEY').resolve_key()
  monkeypatch.setenv('T_GOOD_KEY', KEY.hex() + '\n')
  assert SecretRef.parse('env:T_GOOD_KEY').resolve_key() == KEY


def test_pipeline_keys_refuse_short_secrets():
  with pytest.raises(SecretError):
    Shield(b'test-hmac-key-not-a-secret')
  with pytest.raises(SecretError):
    PayloadCipher(b'another key')


def test_key_ids_are_computed_with_the_key_not_an_unkeyed_fingerprint():
  other = os.urandom(32)
  dlq, pseudonym = PayloadCipher(KEY), Shield(KEY.hex().encode())
  assert dlq.key_id == derive_key_id(KEY, 'dlq') == PayloadCipher(KEY).key_id
  assert pseudonym.key_id == derive_key_id(KEY, 'pseudonym')
  assert dlq.key_id != pseudonym.key_id                 # one label per use
  assert PayloadCipher(other).key_id != dlq.key_id
  # Not a plain hash of the key (anyone holding a candidate key could check it, and the
  # id would be the same for every use of the key).
  for digest in (hashlib.sha256(KEY).hexdigest(), hashlib.sha256(b'millionx-key-id:' + KEY).hexdigest(),
                 hashlib.sha256(b'pseudonym:' + KEY).hexdigest()):
    assert digest[:12] not in dlq.key_id + pseudonym.key_id
