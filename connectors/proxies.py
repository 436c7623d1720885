"""A pool of forward proxies the API clients rotate through (scraping from more than one address).

The pool's URLs come from a secret reference (`file:PATH`, one URL a line, `#` comments), because
they usually hold credentials (`http://user:password@host:port`). A URL is sent, never shown:
messages, logs and errors name a proxy as `proxy #N (host:port)`.

Each request takes the next usable proxy, round-robin or at random. A proxy that fails (the
client reports connection errors, timeouts, HTTP 403, 407 and 429 without `Retry-After`) is
benched: taken out of the rotation for `bench_base_s * 2**(failures-1)`, at most `bench_max_s`,
and counted; a success resets its failure count. When every proxy is benched the pool raises
`NoProxyAvailable`, which names each proxy's last failure and when the first one returns. An
optional per-proxy rate (`max_requests_per_s`) spaces the requests sent through one proxy; the
pool waits (injected sleep) for the next proxy to become free rather than exceed it.

Time and randomness are injected (`clock`, `sleep`, `rng`) so tests control them.
"""
from __future__ import annotations

import dataclasses
import random
import time
import urllib.parse
from typing import Callable, Optional

from connectors.secrets import SecretError, SecretRef

ROTATIONS = ('round-robin', 'random')
_SCHEMES = ('http', 'https')


class ProxyConfigError(SecretError):
  """The proxy list (a secret) cannot be used: bad line, unsupported scheme, empty. Names the
  line's number only, never its text."""


class NoProxyAvailable(Exception):
  """Every proxy of the pool is benched. `retry_in_s`: when the first comes back.

  Raised by the pool; connectors.http re-raises it as its own typed error.
  """

  def __init__(self, message: str, retry_in_s: float):
    super().__init__(message)
    self.retry_in_s = retry_in_s


@dataclasses.dataclass(frozen=True)
class ProxyConfig:
  """Where the proxy list lives and how to rotate through it."""
  urls_ref: SecretRef
  rotation: str = 'round-robin'
  max_requests_per_s: Optional[float] = None     # per proxy; None: unlimited
  bench_base_s: float = 30.0
  bench_max_s: float = 1800.0

  def __post_init__(self):
    if self.rotation not in ROTATIONS:
      raise ValueError(f'proxy rotation must be one of {ROTATIONS}, got {self.rotation!r}')
    if self.max_requests_per_s is not None and self.max_requests_per_s <= 0:
      raise ValueError('max_requests_per_s must be positive (or None for no limit)')
    if self.bench_base_s <= 0 or self.bench_max_s < self.bench_base_s:
      raise ValueError('ProxyConfig needs 0 < bench_base_s <= bench_max_s')


def parse_proxy_urls(text: str) -> list[str]:
  """The URLs of a proxy list: one a line, blank lines and `#` comments skipped."""
  urls = []
  for number, line in enumerate(text.splitlines(), 1):
    line = line.strip()
    if not line or line.startswith('#'):
      continue
    try:
      parts = urllib.parse.urlsplit(line)
      port = parts.port
    except ValueError:
      parts, port = None, None
    if parts is None or parts.scheme not in _SCHEMES or not parts.hostname or port is None:
      # The line itself may hold a password: say which line, never what it says.
      raise ProxyConfigError(
          f'proxy list line {number}: expected http://[user:password@]host:port '
          f'(schemes: {", ".join(_SCHEMES)})')
    urls.append(line)
  if not urls:
    raise ProxyConfigError('the proxy list holds no proxy URL')
  return urls


class Proxy:
  """One proxy and its state. `label` is what may be shown; `url` (with credentials) is not."""

  def __init__(self, index: int, url: str):
    parts = urllib.parse.urlsplit(url)
    self.url = url
    self.label = f'proxy #{index} ({parts.hostname}:{parts.port})'
    self.requests = 0
    self.failures = 0            # consecutive: sets the bench length
    self.times_benched = 0
    self.benched_until = 0.0
    self.next_free_at = 0.0
    self.last_failure: Optional[str] = None

  def __repr__(self) -> str:     # never the URL
    return f'<{self.label}>'


class ProxyPool:
  """The rotation. Not thread-safe: one pool per API client, used by one thread."""

  def __init__(self, config: ProxyConfig, urls: list[str], *,
               clock: Callable[[], float] = time.monotonic,
               sleep: Callable[[float], None] = time.sleep,
               rng: Optional[random.Random] = None):
    if not urls:
      raise ProxyConfigError('the proxy list holds no proxy URL')
    self.config = config
    self.proxies = [Proxy(i + 1, url) for i, url in enumerate(urls)]
    self._clock, self._sleep = clock, sleep
    self._rng = rng or random.Random()
    self._cursor = 0
    self.num_benched = 0         # benchings, all proxies together

  @classmethod
  def from_config(cls, config: ProxyConfig, **kwargs) -> 'ProxyPool':
    return cls(config, parse_proxy_urls(config.urls_ref.resolve()), **kwargs)

  def acquire(self) -> Proxy:
    """The proxy for the next request; waits for the per-proxy rate, raises NoProxyAvailable."""
    while True:
      now = self._clock()
      live = [p for p in self.proxies if p.benched_until <= now]
      if not live:
        raise self._exhausted(now)
      ready = [p for p in live if p.next_free_at <= now]
      if not ready:
        self._sleep(max(0.0, min(p.next_free_at for p in live) - now))
        continue
      if self.config.rotation == 'random':
        proxy = self._rng.choice(ready)
      else:
        n = len(self.proxies)
        proxy = next(self.proxies[(self._cursor + i) % n] for i in range(n)
                     if self.proxies[(self._cursor + i) % n] in ready)
        self._cursor = (self.proxies.index(proxy) + 1) % n
      if self.config.max_requests_per_s:
        proxy.next_free_at = now + 1.0 / self.config.max_requests_per_s
      proxy.requests += 1
      return proxy

  def succeeded(self, proxy: Proxy) -> None:
    proxy.failures = 0

  def bench(self, proxy: Proxy, reason: str) -> float:
    """Takes `proxy` out of the rotation; returns for how long (seconds)."""
    proxy.failures += 1
    proxy.times_benched += 1
    proxy.last_failure = reason
    self.num_benched += 1
    seconds = min(self.config.bench_max_s, self.config.bench_base_s * 2 ** (proxy.failures - 1))
    proxy.benched_until = self._clock() + seconds
    return seconds

  def _exhausted(self, now: float) -> NoProxyAvailable:
    back_in = min(p.benched_until for p in self.proxies) - now
    causes = '; '.join(f'{p.label}: {p.last_failure}' for p in self.proxies)
    return NoProxyAvailable(
        f'all {len(self.proxies)} proxies are benched ({causes}); the first returns in '
        f'{back_in:.0f}s', retry_in_s=back_in)
