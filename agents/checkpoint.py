"""Durable per-agent checkpoints: the end of the last time window fully published to Kafka.

Saved only after the publisher's flush succeeded, written atomically (temp file, fsync, rename), so
a crash leaves either the old or the new checkpoint: a restart re-fetches at most one window and
never skips one.
"""
from __future__ import annotations

import datetime
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Callable, Optional

DEFAULT_DIR = Path(__file__).resolve().parent.parent / '.local' / 'state' / 'agents'


class CheckpointStore:
  """One JSON file per (source, scope): scope tells apart shops, pages, apps of one source."""

  def __init__(self, directory: os.PathLike, source: str, scope: str = 'default', *,
               now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(
                   datetime.timezone.utc)):
    safe_scope = re.sub(r'[^A-Za-z0-9_.-]+', '_', scope).strip('_') or 'default'
    self.path = Path(directory) / f'{source}-{safe_scope}.json'
    self.source, self.scope = source, scope
    self._now = now

  def load(self) -> Optional[datetime.datetime]:
    try:
      with open(self.path, encoding='utf-8') as f:
        state = json.load(f)
    except FileNotFoundError:
      return None
    except (OSError, ValueError) as e:
      raise RuntimeError(f'Checkpoint {self.path} is unreadable ({e}); fix or delete it, or pass '
                         '--since to choose where to start') from e
    return datetime.datetime.fromisoformat(state['watermark'])

  def save(self, watermark: datetime.datetime) -> None:
    if watermark.tzinfo is None:
      raise ValueError('checkpoint watermarks must be timezone-aware')
    self.path.parent.mkdir(parents=True, exist_ok=True)
    state = {'source': self.source, 'scope': self.scope, 'watermark': watermark.isoformat(),
             'saved_at': self._now().isoformat()}
    fd, tmp = tempfile.mkstemp(prefix=self.path.name, dir=self.path.parent)
    try:
      with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump(state, f)
        f.flush()
        os.fsync(f.fileno())
      os.replace(tmp, self.path)
    except BaseException:
      Path(tmp).unlink(missing_ok=True)
      raise
