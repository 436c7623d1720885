"""The stack's pinned versions, read from stack/versions.sh: one file for the scripts and Python.

versions.sh is plain `NAME=value  # comment` lines (the shell sources it); this module parses
the same lines, so a version is changed in one place. setup.py's apache-beam pin and the Maven
poms' defaults are held to it by tests/unit/test_versions.py.
"""
from __future__ import annotations

import functools
import os
import re

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VERSIONS_FILE = os.path.join(REPO_ROOT, 'stack', 'versions.sh')
_ASSIGNMENT = re.compile(r'^([A-Z][A-Z0-9_]*)=([^\s#]+)', re.M)


@functools.lru_cache(maxsize=None)
def read_versions(path: str = VERSIONS_FILE) -> dict[str, str]:
  """{NAME: value} of every assignment in the versions file."""
  try:
    with open(path, encoding='utf-8') as f:
      return dict(_ASSIGNMENT.findall(f.read()))
  except OSError as e:
    raise RuntimeError(f'cannot read the stack versions file {path}: {e}') from e


def version(name: str) -> str:
  versions = read_versions()
  if name not in versions:
    raise KeyError(f'{name} is not set in {VERSIONS_FILE}')
  return versions[name]


BEAM_VERSION = version('BEAM_VERSION')              # Python SDK + DirectRunner's expansion service
BEAM_FLINK_VERSION = version('BEAM_FLINK_VERSION')  # Beam Java on Flink (job server, expansion)
FLINK_VERSION = version('FLINK_VERSION')            # e.g. 1.19.0
FLINK_MINOR_VERSION = '.'.join(FLINK_VERSION.split('.')[:2])   # Beam's --flink_version: 1.19
