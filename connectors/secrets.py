"""Secret references: options carry where a secret lives, never the secret itself.

A reference is `env:NAME` (an environment variable) or `file:PATH` (a file). Both are read the
same way: surrounding whitespace (a trailing newline from `echo` or an editor, spaces, CR/LF) is
not part of the secret, and what is left must not be empty. References are resolved on the
worker (in a DoFn's `setup()`), so secret values are never pickled into the pipeline graph,
shown in display data, or printed.

Keys (the pseudonym and DLQ keys) must be at least `MIN_KEY_BYTES` random bytes, written as
hex (only hex digits, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`, which is
what run_local.sh makes) or base64 (standard or URL-safe alphabet, padding optional, e.g.
`openssl rand -base64 32`). A value made only of hex digits is read as hex. A passphrase is not
a key: text that decodes to printable characters, or to too few distinct bytes, is refused.

A key is never used as it is: each purpose gets its own key derived from it (`derive_key`,
HKDF-SHA256 with a label), so the pipeline's dead letters (transforms/dead_letter.py) and the
agents' (connectors/kafka_publisher.py) read the one DLQ key the same way.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import os
import re
from typing import Union

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MIN_KEY_BYTES = 32
MAKE_KEY_HINT = "make one with `python -c 'import secrets; print(secrets.token_hex(32))'`"
_HEX = re.compile(r'[0-9a-fA-F]+')
_BASE64 = re.compile(r'[A-Za-z0-9+/_-]+={0,2}')
_ENV_NAME = re.compile(r'[A-Za-z_][A-Za-z0-9_]{0,254}')
# 32 random bytes hold about 30 distinct values; fewer than 16 means a pattern, not randomness.
_MIN_DISTINCT_BYTES = 16


# Labels (HKDF info) of the keys derived from the DLQ key, one per purpose.
DLQ_PAYLOAD_LABEL = b'millionx-dlq-payload-v1'       # AES-GCM of the pipeline's dead letters
DLQ_DIGEST_LABEL = b'millionx-dlq-digest-v1'         # keyed digests of dead letters' payloads
DLQ_INGEST_FERNET_LABEL = b'millionx-dlq-ingest-fernet-v1'   # Fernet of the agents' dead letters


class SecretError(ValueError):
  """A secret reference is malformed or points at nothing."""


def derive_key(key: bytes, label: bytes) -> bytes:
  """The 32-byte key for the purpose named by `label` (HKDF-SHA256, no salt: the input is a
  random key, not a password). Keys for different labels tell nothing about each other."""
  return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(key)


def keyed_digest(digest_key: bytes, data: bytes) -> str:
  """HMAC-SHA256 of `data` (hex) under `digest_key` (derive_key(key, DLQ_DIGEST_LABEL)): says
  whether two payloads are the same to whoever holds the key, and confirms no guess to anyone
  else, as a plain hash of a phone number or an order would."""
  return hmac.new(digest_key, data, hashlib.sha256).hexdigest()


def decode_key(text: Union[str, bytes], what: str = 'key') -> bytes:
  """The key bytes written in `text` (hex or base64, see the module docstring).

  Raises SecretError naming `what` (never the value) when the text is no such key."""
  if isinstance(text, bytes):
    try:
      text = text.decode('ascii')
    except UnicodeDecodeError:
      raise SecretError(f'{what} is not hex or base64 text; {MAKE_KEY_HINT}') from None
  text = text.strip()
  if _HEX.fullmatch(text) and len(text) % 2 == 0:
    key = bytes.fromhex(text)
  elif _BASE64.fullmatch(text):
    standard = text.replace('-', '+').replace('_', '/').rstrip('=')
    try:
      key = base64.b64decode(standard + '=' * (-len(standard) % 4), validate=True)
    except (binascii.Error, ValueError):
      raise SecretError(f'{what} is neither hex nor base64; {MAKE_KEY_HINT}') from None
  else:
    raise SecretError(f'{what} is neither hex nor base64; {MAKE_KEY_HINT}')
  if len(key) < MIN_KEY_BYTES:
    raise SecretError(f'{what} decodes to {len(key)} bytes; a key needs at least '
                      f'{MIN_KEY_BYTES} random bytes; {MAKE_KEY_HINT}')
  if all(0x20 <= b < 0x7f for b in key) or len(set(key)) < _MIN_DISTINCT_BYTES:
    raise SecretError(f'{what} decodes to text or a repeating pattern, not random bytes; '
                      f'{MAKE_KEY_HINT}')
  return key


@dataclasses.dataclass(frozen=True)
class SecretRef:
  """Where a secret lives. `str()` and `repr()` show the reference, never the value."""
  scheme: str
  location: str

  @classmethod
  def parse(cls, ref: str) -> 'SecretRef':
    """The reference in `ref`. What is not one is most often the secret itself, pasted where
    its reference belongs, so the error names the expected forms and the length only, never
    the text (it is printed by argparse, the pipeline's option checks and tracebacks)."""
    scheme, sep, location = (ref or '').partition(':')
    if (not sep or scheme not in ('env', 'file') or not location
        or (scheme == 'env' and not _ENV_NAME.fullmatch(location))):
      raise SecretError(
          'not a secret reference: expected env:NAME or file:PATH (NAME an environment '
          f'variable; got {len(ref or "")} characters)')
    return cls(scheme, location)

  def resolve(self) -> str:
    """Reads the secret, stripped of surrounding whitespace. Raises SecretError saying what to
    set when it is missing or empty."""
    if self.scheme == 'env':
      value = os.environ.get(self.location)
      if value is None:
        raise SecretError(
            f'Secret {self} is not set: export {self.location}=... in the environment '
            'of the process that runs the pipeline (and of every worker).')
    else:
      try:
        with open(self.location, encoding='utf-8') as f:
          value = f.read()
      except OSError as e:
        raise SecretError(f'Secret {self} cannot be read: {e.strerror}') from e
    value = value.strip()
    if not value:
      raise SecretError(f'Secret {self} is empty')
    return value

  def resolve_bytes(self) -> bytes:
    return self.resolve().encode('utf-8')

  def resolve_key(self) -> bytes:
    """The key bytes (≥ MIN_KEY_BYTES, hex or base64 text; see the module docstring)."""
    return decode_key(self.resolve(), f'the key in {self}')

  def __str__(self) -> str:
    return f'{self.scheme}:{self.location}'
