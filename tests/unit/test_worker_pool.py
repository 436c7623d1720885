"""The Beam worker pool the stack starts listens on loopback only (issue 9): whoever reaches it
can have it start workers. Starts the pool with the stack's own script, on a free port, in a
private STACK_HOME (the shared pool is left alone), and reads the listening sockets from /proc."""
from __future__ import annotations

import os
import pathlib
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _listening(port: int) -> set[str]:
  """Local addresses (hex, as /proc/net shows them) of the sockets listening on `port`."""
  addresses = set()
  for table in ('/proc/net/tcp', '/proc/net/tcp6'):
    if not os.path.exists(table):
      continue
    with open(table) as f:
      next(f)
      for line in f:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.rsplit(':', 1)
        if state == '0A' and int(hex_port, 16) == port:   # 0A: LISTEN
          addresses.add(address)
  return addresses


_LOOPBACK = {'0100007F',                                  # 127.0.0.1
             '0000000000000000FFFF00000100007F',          # ::ffff:127.0.0.1 (a v6 socket)
             '00000000000000000000000001000000'}          # ::1


def _stack(home: pathlib.Path, port: int, command: str) -> subprocess.CompletedProcess:
  script = (f'source "{REPO}/stack/lib.sh"; source "{REPO}/stack/services/worker_pool.sh"; '
            f'{command}')
  env = dict(os.environ, STACK_HOME=str(home), REPO=str(REPO),
             MILLIONX_WORKER_POOL_PORT=str(port))
  return subprocess.run(['bash', '-c', script], env=env, capture_output=True, text=True,
                        timeout=120)


@pytest.mark.skipif(not os.path.exists('/proc/net/tcp'), reason='reads Linux /proc/net')
def test_worker_pool_listens_on_loopback_only(tmp_path):
  (tmp_path / 'venv').symlink_to(REPO / '.local' / 'venv')
  port = _free_port()
  started = _stack(tmp_path, port, 'worker_pool_start')
  try:
    assert started.returncode == 0, started.stderr[-2000:]
    deadline = time.monotonic() + 30
    while not _listening(port) and time.monotonic() < deadline:
      time.sleep(0.2)
    addresses = _listening(port)
    assert addresses, 'the pool is not listening'
    assert addresses <= _LOOPBACK, f'listening beyond loopback: {addresses}'
  finally:
    _stack(tmp_path, port, 'worker_pool_stop')
  assert not _listening(port)
