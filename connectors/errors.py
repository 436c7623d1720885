"""What an error may say where it is stored in clear (dead letters, sink failures, logs).

An unexpected exception's message may quote the record it failed on (a ValueError naming the
address it could not parse), and dead-letter messages are not encrypted. So such an error is
described by its class and the place in our code that raised it, never by its message. Used by
the sinks (connectors/batching_sink.py) and the stages' dead letters (transforms/dead_letter.py).
"""
from __future__ import annotations

import os
import traceback

# Where the project's packages are (the repository, or site-packages when installed).
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# The project's rooms: an exception class defined there writes a message of our own (field
# names, sizes, versions; never a record's values), unlike Python's and libraries' exceptions.
OUR_PACKAGES = frozenset({'schemas', 'connectors', 'transforms', 'pipeline', 'agents'})
_OURS = OUR_PACKAGES | {'tests'}   # frames of the tests count as our code too


def _ours(filename: str) -> bool:
  return filename.startswith(_ROOT) and filename[len(_ROOT):].split(os.sep, 1)[0] in _OURS


def is_ours(error: BaseException) -> bool:
  """Whether the error's class is defined in one of the project's packages."""
  return type(error).__module__.split('.')[0] in OUR_PACKAGES


def unexpected_text(error: BaseException) -> str:
  """`unexpected <Class> at <dir>/<file>.py:<line> in <function>`: the innermost frame of the
  traceback that is in this project (an error raised inside a library or Python is placed at
  our call into it), or the innermost frame when none is; no place for an error not raised."""
  frames = traceback.extract_tb(error.__traceback__)
  where = ''
  if frames:
    ours = [f for f in frames if _ours(f.filename)]
    last = (ours or frames)[-1]
    where = f' at {"/".join(last.filename.split("/")[-2:])}:{last.lineno} in {last.name}'
  return f'unexpected {type(error).__name__}{where}'
