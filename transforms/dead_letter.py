"""Dead letters: tags, the payload cipher, and building DeadLetter records.

The payload kept for replay holds PII, so it is sealed with AES-256-GCM (authenticated: a
tampered or moved ciphertext fails to open). The associated data binds it to the dead letter's
id, stage, source topic, partition and offset, so neither the ciphertext nor those fields can be
moved or edited without the payload failing to open. The key comes from a secret reference (at
least 32 random bytes, see connectors/secrets.py), resolved on the worker; the key id stored
beside each ciphertext is an HMAC of a label under the key (names the key, reveals nothing).

Sizes. A dead letter is one Kafka message on the DLQ topic, whose `max.message.bytes` is the one
fact (pipeline/topics.yaml) that the DLQ producer's `max.request.size` and the validation limit
(`max_payload_bytes`) are derived from. The payload is sealed as bytes and base64-encoded once,
in the DLQ JSON (~1.34x). A payload whose dead letter would not fit becomes a reference instead
(FORMAT_KAFKA_REFERENCE): its Kafka coordinates, size and a keyed digest, sealed the same way;
replay re-reads the source topic at those coordinates (while the topic retains them) and checks
the digest.
"""
from __future__ import annotations

import base64
import datetime
import hmac
import json
import os
import struct
from typing import Any, Optional

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import ValidationError

from connectors.errors import is_ours, unexpected_text
from connectors.secrets import (DLQ_DIGEST_LABEL, DLQ_PAYLOAD_LABEL, MIN_KEY_BYTES, SecretError,
                                SecretRef, derive_key, keyed_digest)
from schemas.envelope import RawRecord
from schemas.normalized import DeadLetter, dead_letter_id, to_row
from transforms.config import DeadLetterConfig, inline_payload_limit
from transforms.pii_text import redact

# Tags of every stage's two outputs.
VALID_TAG = 'valid'
DEAD_LETTER_TAG = 'dead_letter'

FORMAT_KAFKA_MESSAGE = 'kafka-message'        # the original Kafka message, sealed
FORMAT_NORMALIZED_JSON = 'normalized-json'    # the pseudonymized normalized record, sealed
FORMAT_KAFKA_REFERENCE = 'kafka-reference'    # too large to keep: coordinates, size, digest

_AAD_VERSION = 'millionx-dlq-aad-v2'
_NONCE_BYTES = 12
_MAX_MESSAGE_CHARS = 2000
_MAX_PYDANTIC_ERRORS = 20

# The sealed Kafka message: magic, a length-prefixed JSON header, then the raw key, value and
# header values (no base64 inside the ciphertext: the DLQ JSON encodes it once).
_MESSAGE_MAGIC = b'MXK2'
_U32 = struct.Struct('>I')


class PayloadDecryptError(ValueError):
  """The key is wrong, or the ciphertext was altered or belongs to another dead letter."""


def derive_key_id(key: bytes, label: str) -> str:
  """A key id computed with the key (HMAC-SHA256 of a label): the same key always gets the same
  id, and the id tells nothing about the key to whoever does not hold it."""
  return 'k' + hmac.new(key, b'millionx-key-id:' + label.encode('utf-8'), 'sha256').hexdigest()[:12]


def dead_letter_aad(dl_id: str, stage: str, topic: str, partition: int, offset: int) -> bytes:
  """The AES-GCM associated data of a dead letter's payload."""
  return json.dumps([_AAD_VERSION, dl_id, stage, topic, int(partition), int(offset)],
                    ensure_ascii=False, separators=(',', ':')).encode('utf-8')


def aad_of(dead: DeadLetter) -> bytes:
  return dead_letter_aad(dead.dead_letter_id, dead.stage, dead.topic, dead.partition, dead.offset)


class PayloadCipher:
  """AES-256-GCM under a key derived (HKDF) from the DLQ key; also the keyed payload digest."""

  def __init__(self, key: bytes, key_id: Optional[str] = None):
    if len(key) < MIN_KEY_BYTES:
      raise SecretError(f'the DLQ key has {len(key)} bytes; it needs at least {MIN_KEY_BYTES}')
    self._aead = AESGCM(derive_key(key, DLQ_PAYLOAD_LABEL))
    self._digest_key = derive_key(key, DLQ_DIGEST_LABEL)
    self.key_id = key_id or derive_key_id(key, 'dlq')

  @classmethod
  def from_ref(cls, ref: str, key_id: Optional[str] = None) -> 'PayloadCipher':
    return cls(SecretRef.parse(ref).resolve_key(), key_id)

  def seal(self, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + self._aead.encrypt(nonce, plaintext, associated)

  def open(self, sealed: bytes, associated: bytes) -> bytes:
    try:
      return self._aead.decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], associated)
    except InvalidTag as e:
      raise PayloadDecryptError('payload cannot be decrypted with this key') from e

  def open_dead_letter(self, dead: DeadLetter) -> bytes:
    """The plaintext payload, if the dead letter's id, stage and coordinates are the sealed ones."""
    return self.open(dead.payload_ciphertext, aad_of(dead))

  def digest(self, data: bytes) -> str:
    return keyed_digest(self._digest_key, data)


def describe_error(error: BaseException) -> str:
  """The error as text with no payload values (dead-letter messages are stored in clear).

  pydantic errors: `field.path: message [type]`, without input values. The project's own
  exceptions: their message. Anything else (a ValueError or KeyError from Python or a library,
  which may quote the record, names included, that no scan finds): only its class and where it
  was raised in our code (connectors.errors.unexpected_text, as the sinks do). A message is cut
  to its stored length before it is scanned, so its size does not matter.
  """
  if isinstance(error, ValidationError):
    parts = []
    for item in error.errors(include_input=False, include_url=False, include_context=False):
      loc = '.'.join(str(p) for p in item.get('loc', ())) or '<root>'
      parts.append(f"{loc}: {item.get('msg', '')} [{item.get('type', '')}]")
      if len(parts) > _MAX_PYDANTIC_ERRORS:
        break
    if error.error_count() > _MAX_PYDANTIC_ERRORS:
      parts = parts[:_MAX_PYDANTIC_ERRORS] + [f'... {error.error_count()} errors in all']
    text = f'{error.error_count()} validation error(s) for {error.title}: ' + '; '.join(parts)
  elif is_ours(error):
    text = str(error)
  else:
    return unexpected_text(error)
  if len(text) > _MAX_MESSAGE_CHARS:   # cut without a partial word or number at the end
    text = text[:_MAX_MESSAGE_CHARS].rsplit(None, 1)[0]
  # Defence in depth: no email or phone survives into a message, whatever raised it.
  return redact(text)[:_MAX_MESSAGE_CHARS]


def _as_bytes(value: Any) -> Optional[bytes]:
  if value is None or isinstance(value, bytes):
    return value
  if isinstance(value, bytearray):
    return bytes(value)
  if isinstance(value, str):
    return value.encode('utf-8', errors='surrogatepass')
  return repr(value).encode('utf-8', errors='replace')


def _headers_of(raw: RawRecord) -> list[tuple[str, Optional[bytes]]]:
  headers = []
  for item in raw.headers or ():
    try:
      name, value = item
    except (TypeError, ValueError):
      continue
    headers.append((str(name), _as_bytes(value)))
  return headers


def _frame(header: dict, parts: list[Optional[bytes]]) -> bytes:
  header_bytes = json.dumps(header, ensure_ascii=False, separators=(',', ':')).encode('utf-8')
  return b''.join([_MESSAGE_MAGIC, _U32.pack(len(header_bytes)), header_bytes,
                   *(p for p in parts if p)])


def encode_kafka_message(topic: str, partition: int, offset: int, timestamp_ms: Optional[int],
                         key: Optional[bytes], value: Optional[bytes],
                         headers: list[tuple[str, Optional[bytes]]]) -> bytes:
  """A Kafka message as bytes that replay can republish byte for byte (lengths -1 = null)."""
  size = lambda b: -1 if b is None else len(b)
  header = {'topic': topic, 'partition': partition, 'offset': offset,
            'timestamp_ms': timestamp_ms, 'key': size(key), 'value': size(value),
            'headers': [[name, size(v)] for name, v in headers]}
  return _frame(header, [key, value, *(v for _, v in headers)])


def message_content(key: Optional[bytes], value: Optional[bytes],
                    headers: list[tuple[str, Optional[bytes]]]) -> bytes:
  """What the keyed digest of a reference covers: the message's key, value and headers."""
  return encode_kafka_message('', 0, 0, None, key, value, headers)


def kafka_message_envelope(raw: RawRecord) -> bytes:
  return encode_kafka_message(str(raw.topic), _int(raw.partition), _int(raw.offset),
                              _int(raw.timestamp_ms, None), _as_bytes(raw.key),
                              _as_bytes(raw.value), _headers_of(raw))


def decode_kafka_message_envelope(plaintext: bytes) -> dict:
  """{topic, partition, offset, timestamp_ms, key, value, headers} of a sealed Kafka message."""
  if not plaintext.startswith(_MESSAGE_MAGIC) or len(plaintext) < 8:
    raise ValueError('not a sealed Kafka message')
  (header_len,) = _U32.unpack_from(plaintext, 4)
  pos = 8 + header_len
  header = json.loads(plaintext[8:pos])

  def take(n: int) -> Optional[bytes]:
    nonlocal pos
    if n < 0:
      return None
    if pos + n > len(plaintext):
      raise ValueError('sealed Kafka message is truncated')
    pos += n
    return plaintext[pos - n:pos]

  key, value = take(header['key']), take(header['value'])
  headers = [(name, take(n)) for name, n in header['headers']]
  if pos != len(plaintext):
    raise ValueError('sealed Kafka message has trailing bytes')
  return {'topic': header['topic'], 'partition': header['partition'],
          'offset': header['offset'], 'timestamp_ms': header['timestamp_ms'],
          'key': key, 'value': value, 'headers': headers}


def _int(value: Any, default: Optional[int] = -1) -> Optional[int]:
  return value if isinstance(value, int) and not isinstance(value, bool) else default


class DeadLetterFactory:
  """Builds DeadLetter records; create it in DoFn.setup() (it resolves the key)."""

  def __init__(self, config: DeadLetterConfig):
    self._cipher = PayloadCipher.from_ref(config.key_ref, config.key_id)
    self._clock = config.clock
    self._inline_limit = inline_payload_limit(config.max_message_bytes)

  def _build(self, stage: str, error: BaseException, source: str, topic: str, partition: int,
             offset: int, timestamp_ms: int, payload_format: str, payload: bytes, sub_id: str,
             event_id: Optional[str], reference: Optional[dict] = None) -> DeadLetter:
    dl_id = dead_letter_id(stage, topic, partition, offset, sub_id)
    if len(payload) > self._inline_limit:
      # Too large for one DLQ message: keep where it is and what it was, not the bytes.
      payload_format, payload = FORMAT_KAFKA_REFERENCE, json.dumps(
          {'topic': topic, 'partition': partition, 'offset': offset, **(reference or {})},
          separators=(',', ':')).encode('utf-8')
    return DeadLetter(
        dead_letter_id=dl_id, stage=stage, error_class=type(error).__name__,
        error_message=describe_error(error), source=source, topic=topic,
        partition=partition, offset=offset, kafka_timestamp_ms=timestamp_ms,
        failed_at=self._clock(), payload_format=payload_format,
        payload_key_id=self._cipher.key_id,
        payload_ciphertext=self._cipher.seal(
            payload, dead_letter_aad(dl_id, stage, topic, partition, offset)),
        event_id=event_id)

  def from_raw(self, stage: str, raw: RawRecord, error: BaseException,
               event_id: Optional[str] = None, sub_id: str = '') -> DeadLetter:
    """A dead letter keeping the original Kafka message (replayable as is), or a reference to
    it with its size and keyed digest when it is too large for the DLQ."""
    topic, partition, offset = str(raw.topic), _int(raw.partition), _int(raw.offset)
    envelope = kafka_message_envelope(raw)
    reference = None
    if len(envelope) > self._inline_limit:
      key, value = _as_bytes(raw.key), _as_bytes(raw.value)
      reference = {'kept': FORMAT_KAFKA_MESSAGE, 'size': len(value or b''),
                   'message_bytes': len(envelope),
                   'digest': self._cipher.digest(message_content(key, value, _headers_of(raw)))}
    return self._build(stage, error, str(raw.source), topic, partition, offset,
                       _int(raw.timestamp_ms), FORMAT_KAFKA_MESSAGE, envelope, sub_id, event_id,
                       reference)

  def from_record(self, stage: str, record: Any, error: BaseException) -> DeadLetter:
    """A dead letter keeping a (pseudonymized) normalized record, for the later stages."""
    lineage = record.lineage
    payload = json.dumps(to_row(record), ensure_ascii=False).encode('utf-8')
    reference = None
    if len(payload) > self._inline_limit:
      reference = {'kept': FORMAT_NORMALIZED_JSON, 'size': len(payload),
                   'digest': self._cipher.digest(payload)}
    return self._build(stage, error, record.source, lineage.topic, lineage.partition,
                       lineage.offset, lineage.kafka_timestamp_ms, FORMAT_NORMALIZED_JSON,
                       payload, record.event_id, record.event_id, reference)


def dead_letter_to_json(dead_letter: DeadLetter) -> bytes:
  """The DLQ topic's message value (key: dead_letter_id). The payload stays encrypted."""
  return json.dumps(to_row(dead_letter), ensure_ascii=False).encode('utf-8')


def dead_letter_from_json(value: bytes) -> DeadLetter:
  data = json.loads(value)
  data['failed_at'] = datetime.datetime.fromisoformat(data['failed_at'])
  data['payload_ciphertext'] = base64.b64decode(data['payload_ciphertext'])
  return DeadLetter(**data)
