"""Secret references: options carry where a secret lives, never the secret itself.

A reference is `env:NAME` (an environment variable) or `file:PATH` (a file whose
content, stripped of surrounding whitespace, is the secret). References are
resolved on the worker (in a DoFn's `setup()`), so secret values are never pickled
into the pipeline graph, shown in display data, or printed.
"""
from __future__ import annotations

import dataclasses
import os


class SecretError(ValueError):
  """A secret reference is malformed or points at nothing."""


@dataclasses.dataclass(frozen=True)
class SecretRef:
  """Where a secret lives. `str()` and `repr()` show the reference, never the value."""
  scheme: str
  location: str

  @classmethod
  def parse(cls, ref: str) -> 'SecretRef':
    scheme, sep, location = (ref or '').partition(':')
    if not sep or scheme not in ('env', 'file') or not location:
      raise SecretError(
          f'Bad secret reference {ref!r}: use env:VARIABLE_NAME or file:/path/to/secret')
    return cls(scheme, location)

  def resolve(self) -> str:
    """Reads the secret. Raises SecretError saying what to set when it is missing."""
    if self.scheme == 'env':
      value = os.environ.get(self.location)
      if not value:
        raise SecretError(
            f'Secret {self} is not set: export {self.location}=... in the environment '
            'of the process that runs the pipeline (and of every worker).')
      return value
    try:
      with open(self.location, encoding='utf-8') as f:
        value = f.read().strip()
    except OSError as e:
      raise SecretError(f'Secret {self} cannot be read: {e.strerror}') from e
    if not value:
      raise SecretError(f'Secret {self} is empty')
    return value

  def resolve_bytes(self) -> bytes:
    return self.resolve().encode('utf-8')

  def __str__(self) -> str:
    return f'{self.scheme}:{self.location}'
