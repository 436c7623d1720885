"""Dead letters: tags, the payload cipher, and building DeadLetter records.

The payload kept for replay holds PII, so it is sealed with AES-256-GCM (authenticated: a
tampered or moved ciphertext fails to open). The key comes from a secret reference, resolved
on the worker; a key id (fingerprint unless configured) is stored beside each ciphertext.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError

from connectors.secrets import SecretRef
from schemas.envelope import RawRecord
from schemas.normalized import DeadLetter, dead_letter_id, to_row
from transforms.config import DeadLetterConfig
from transforms.pii_text import redact

# Tags of every stage's two outputs.
VALID_TAG = 'valid'
DEAD_LETTER_TAG = 'dead_letter'

FORMAT_KAFKA_MESSAGE = 'kafka-message'
FORMAT_NORMALIZED_JSON = 'normalized-json'

_HKDF_INFO = b'millionx-dlq-payload-v1'
_NONCE_BYTES = 12
_MAX_MESSAGE_CHARS = 2000
_MAX_PYDANTIC_ERRORS = 20


class PayloadDecryptError(ValueError):
  """The key is wrong, or the ciphertext was altered or belongs to another dead letter."""


def derive_key(secret: bytes) -> bytes:
  return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)


def key_fingerprint(key: bytes) -> str:
  return 'k' + hashlib.sha256(b'millionx-key-id:' + key).hexdigest()[:12]


class PayloadCipher:
  """AES-256-GCM; the associated data is the dead_letter_id."""

  def __init__(self, secret: bytes, key_id: Optional[str] = None):
    self._key = derive_key(secret)
    self._aead = AESGCM(self._key)
    self.key_id = key_id or key_fingerprint(self._key)

  @classmethod
  def from_ref(cls, ref: str, key_id: Optional[str] = None) -> 'PayloadCipher':
    return cls(SecretRef.parse(ref).resolve_bytes(), key_id)

  def seal(self, plaintext: bytes, associated: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + self._aead.encrypt(nonce, plaintext, associated.encode('utf-8'))

  def open(self, sealed: bytes, associated: str) -> bytes:
    try:
      return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:],
                                associated.encode('utf-8'))
    except InvalidTag as e:
      raise PayloadDecryptError('payload cannot be decrypted with this key') from e


def describe_error(error: BaseException) -> str:
  """The error as text with no payload values: pydantic errors as `field.path: message [type]`."""
  if isinstance(error, ValidationError):
    parts = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
      loc = '.'.join(str(p) for p in item.get('loc', ())) or '<root>'
      parts.append(f"{loc}: {item.get('msg', '')} [{item.get('type', '')}]")
    if error.error_count() > _MAX_PYDANTIC_ERRORS:
      parts = parts[:_MAX_PYDANTIC_ERRORS] + [f'... {error.error_count()} errors in all']
    text = f'{error.error_count()} validation error(s) for {error.title}: ' + '; '.join(parts)
  else:
    text = str(error)
  # Defence in depth: no email or phone survives into a message, whatever raised it.
  return redact(text)[:_MAX_MESSAGE_CHARS]


def _b64(value: Any) -> Optional[str]:
  if value is None:
    return None
  if isinstance(value, str):
    value = value.encode('utf-8', errors='surrogatepass')
  if not isinstance(value, (bytes, bytearray)):
    value = repr(value).encode('utf-8', errors='replace')
  return base64.b64encode(bytes(value)).decode('ascii')


def kafka_message_envelope(raw: RawRecord) -> bytes:
  """What replay needs to republish a message byte for byte: key, value, headers (base64)."""
  headers = []
  for item in raw.headers or ():
    try:
      name, value = item
    except (TypeError, ValueError):
      continue
    headers.append([str(name), _b64(value)])
  return json.dumps({'topic': raw.topic, 'key': _b64(raw.key), 'value': _b64(raw.value),
                     'headers': headers, 'timestamp_ms': raw.timestamp_ms}).encode('utf-8')


def decode_kafka_message_envelope(plaintext: bytes) -> dict:
  data = json.loads(plaintext)
  unb64 = lambda v: None if v is None else base64.b64decode(v)
  return {'topic': data['topic'], 'key': unb64(data['key']), 'value': unb64(data['value']),
          'headers': [(k, unb64(v)) for k, v in data['headers']],
          'timestamp_ms': data.get('timestamp_ms')}


def _int(value: Any, default: int = -1) -> int:
  return value if isinstance(value, int) and not isinstance(value, bool) else default


class DeadLetterFactory:
  """Builds DeadLetter records; create it in DoFn.setup() (it resolves the key)."""

  def __init__(self, config: DeadLetterConfig):
    self._cipher = PayloadCipher.from_ref(config.key_ref, config.key_id)
    self._clock = config.clock

  def from_raw(self, stage: str, raw: RawRecord, error: BaseException,
               event_id: Optional[str] = None, sub_id: str = '') -> DeadLetter:
    """A dead letter keeping the original Kafka message (replayable as is)."""
    topic, partition, offset = str(raw.topic), _int(raw.partition), _int(raw.offset)
    dl_id = dead_letter_id(stage, topic, partition, offset, sub_id)
    return DeadLetter(
        dead_letter_id=dl_id, stage=stage, error_class=type(error).__name__,
        error_message=describe_error(error), source=str(raw.source), topic=topic,
        partition=partition, offset=offset, kafka_timestamp_ms=_int(raw.timestamp_ms),
        failed_at=self._clock(), payload_format=FORMAT_KAFKA_MESSAGE,
        payload_key_id=self._cipher.key_id,
        payload_ciphertext=self._cipher.seal(kafka_message_envelope(raw), dl_id),
        event_id=event_id)

  def from_record(self, stage: str, record: Any, error: BaseException) -> DeadLetter:
    """A dead letter keeping a (pseudonymized) normalized record, for the later stages."""
    lineage = record.lineage
    dl_id = dead_letter_id(stage, lineage.topic, lineage.partition, lineage.offset,
                           record.event_id)
    payload = json.dumps(to_row(record), ensure_ascii=False).encode('utf-8')
    return DeadLetter(
        dead_letter_id=dl_id, stage=stage, error_class=type(error).__name__,
        error_message=describe_error(error), source=record.source, topic=lineage.topic,
        partition=lineage.partition, offset=lineage.offset,
        kafka_timestamp_ms=lineage.kafka_timestamp_ms, failed_at=self._clock(),
        payload_format=FORMAT_NORMALIZED_JSON, payload_key_id=self._cipher.key_id,
        payload_ciphertext=self._cipher.seal(payload, dl_id), event_id=record.event_id)


def dead_letter_to_json(dead_letter: DeadLetter) -> bytes:
  """The DLQ topic's message value (key: dead_letter_id). The payload stays encrypted."""
  return json.dumps(to_row(dead_letter), ensure_ascii=False).encode('utf-8')


def dead_letter_from_json(value: bytes) -> DeadLetter:
  import datetime  # local: only the DLQ tool reads dead letters back
  data = json.loads(value)
  data['failed_at'] = datetime.datetime.fromisoformat(data['failed_at'])
  data['payload_ciphertext'] = base64.b64decode(data['payload_ciphertext'])
  return DeadLetter(**data)
