"""The contract between the Kafka read and every later stage: a raw record and where it came from."""
from __future__ import annotations

from typing import NamedTuple, Optional


class RawRecord(NamedTuple):
  """One Kafka message as read, before any parsing.

  Carries its coordinates (topic, partition, offset) so that any later stage can
  name the exact message it failed on, and the source named by the topic config.
  """
  source: str
  topic: str
  partition: int
  offset: int
  timestamp_ms: int
  key: Optional[bytes]
  value: Optional[bytes]
  headers: tuple[tuple[str, bytes], ...] = ()

  def header(self, name: str) -> Optional[str]:
    """The last value of header `name`, decoded as UTF-8, or None."""
    for key, value in reversed(self.headers):
      if key == name and value is not None:
        return value.decode('utf-8', errors='replace')
    return None
