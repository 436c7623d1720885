"""Real local forward proxies for the proxy-rotation tests: proxy.py (PyPI `proxy.py`, pinned in
setup.py's test extra), one process per proxy, bound to 127.0.0.1 on a free port.

Every request a proxy forwards carries `X-Test-Proxy: <tag>` (tests/proxy_tag_plugin.py) besides
proxy.py's own `Via` header: the API behind the proxies sees which proxy carried each request.
proxy.py's access log has one line per client connection (not per request on a kept-alive one),
so the tests count requests at the API, by tag.
"""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Optional

_REPO = pathlib.Path(__file__).resolve().parent.parent


class ProxyServer:
  """`with ProxyServer(basic_auth='user:pass') as p: p.url('user', 'pass')`."""

  def __init__(self, tag: str, basic_auth: Optional[str] = None):
    self.tag = tag
    self.basic_auth = basic_auth
    self._dir = pathlib.Path(tempfile.mkdtemp(prefix='millionx-proxy-'))
    self.port: Optional[int] = None
    self._process: Optional[subprocess.Popen] = None

  def __enter__(self) -> 'ProxyServer':
    port_file, log_file = self._dir / 'port', self._dir / 'access.log'
    cmd = [sys.executable, '-m', 'proxy', '--hostname', '127.0.0.1', '--port', '0',
           '--port-file', str(port_file), '--num-workers', '1', '--num-acceptors', '1',
           '--threaded', '--log-level', 'INFO', '--log-file', str(log_file),
           '--plugins', 'tests.proxy_tag_plugin.TagPlugin']
    if self.basic_auth:
      cmd += ['--basic-auth', self.basic_auth]
    env = dict(os.environ, MILLIONX_TEST_PROXY_TAG=self.tag,
               PYTHONPATH=os.pathsep.join(filter(None, [str(_REPO), os.environ.get('PYTHONPATH')])))
    self._process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     cwd=self._dir, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
      text = port_file.read_text().strip() if port_file.exists() else ''
      if text.isdigit() and self._accepts(int(text)):
        self.port = int(text)
        return self
      if self._process.poll() is not None:
        break
      time.sleep(0.05)
    self.stop()
    raise RuntimeError(f'proxy.py did not start (see {log_file})')

  @staticmethod
  def _accepts(port: int) -> bool:
    import socket
    with socket.socket() as s:
      s.settimeout(0.5)
      return s.connect_ex(('127.0.0.1', port)) == 0

  def url(self, user: Optional[str] = None, password: Optional[str] = None) -> str:
    auth = f'{user}:{password}@' if user is not None else ''
    return f'http://{auth}127.0.0.1:{self.port}'

  def stop(self) -> None:
    if self._process is not None and self._process.poll() is None:
      self._process.terminate()
      try:
        self._process.wait(timeout=10)
      except subprocess.TimeoutExpired:
        self._process.kill()
        self._process.wait()

  def __exit__(self, *exc) -> None:
    self.stop()


def closed_port() -> int:
  """A local port nothing listens on (a proxy that is down)."""
  import socket
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def write_proxy_list(directory: os.PathLike, *urls: str) -> str:
  path = pathlib.Path(directory) / 'proxies.txt'
  path.write_text('# test proxies\n' + '\n'.join(urls) + '\n', encoding='utf-8')
  return f'file:{path}'
