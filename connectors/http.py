"""The shared base of the API clients: a context-managed caller with typed errors and retries.

Every client says what a response means (`classify`) and the base decides what to do about it:
retry with exponential backoff and full jitter (transient errors), wait as long as the server
asks (HTTP 429 / `Retry-After`, or an API's own quota signal), refresh credentials once
(`AuthExpired`), or give up at once (`PermanentError`).

The retry loop is tenacity's (`stop_after_attempt`, a `retry` on RetryableError, our `wait`):
tenacity owns the attempts, the sleeping and the give-up; this module keeps what it cannot know,
the wait (Retry-After capped by the policy, else full jitter from the injected rng) and, inside
one attempt, the credential refresh and the switch to another proxy. urllib3's `Retry` does not
fit: it decides on status and headers before the body is read, so it cannot see the API errors
that arrive inside HTTP 200 (Daraz, TikTok), refresh a token, or change proxy between attempts.

Bounded and careful with what it sends:
- every response body is read through a cap (`HttpConfig.max_body_bytes`, decoded bytes, checked
  against Content-Length first): a larger one is `ResponseTooLarge`, never held in memory;
- credentials go only to the API's own origin (scheme, host, port of `base_url`): an absolute URL
  taken from a response (paging links) that points elsewhere is refused (`ForeignUrl`), and a
  redirect that leaves the origin loses the headers `authorize` added;
- with a proxy pool (`HttpConfig.proxies`, connectors/proxies.py) each request goes through the
  next proxy; one that fails is benched and the same attempt moves on to the next one at once;
- secrets are sent, never logged: messages name the path, not the URL, and a proxy by its
  number and host, never its URL.

Time and randomness are injected so tests run without sleeping.
"""
from __future__ import annotations

import dataclasses
import email.utils
import logging
import random
import time
import urllib.parse
from typing import Any, Callable, Mapping, Optional

import requests
import tenacity

from connectors.proxies import NoProxyAvailable, Proxy, ProxyConfig, ProxyPool

_LOG = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
_CHUNK_BYTES = 64 * 1024


class ApiError(Exception):
  """Base of the client errors; `status` is the HTTP status when there was a response."""

  def __init__(self, message: str, *, status: Optional[int] = None):
    super().__init__(message)
    self.status = status


class RetryableError(ApiError):
  """A transient failure (5xx, connection reset, an API's 'try again'): retry with backoff."""


class RateLimited(RetryableError):
  """Quota exhausted; `retry_after_s` is how long the server asked us to wait, if it said."""

  def __init__(self, message: str, *, status: Optional[int] = None,
               retry_after_s: Optional[float] = None):
    super().__init__(message, status=status)
    self.retry_after_s = retry_after_s


class Timeout(RetryableError):
  """No response within the configured connect/read timeout."""


class AuthExpired(ApiError):
  """The access token is expired or revoked; the client refreshes it once if it can."""


class PermanentError(ApiError):
  """A request that will fail the same way again (bad parameters, no permission)."""


class MalformedResponse(PermanentError):
  """The body is not the JSON the API documents. `body` keeps it for the dead-letter topic."""

  def __init__(self, message: str, *, status: Optional[int] = None, body: bytes = b''):
    super().__init__(message, status=status)
    self.body = body


class ResponseTooLarge(PermanentError):
  """The body exceeds HttpConfig.max_body_bytes; it was not read (no body kept)."""


class ForeignUrl(PermanentError):
  """A URL taken from a response points outside the API's origin: not followed."""


class ProxyUnavailable(ApiError):
  """Every proxy of the pool is benched; the message names each one's last failure.

  `retry_in_s`: when the first proxy comes back. Not retried by the client: the agent's next
  pass (or a person fixing the proxy list) decides.
  """

  def __init__(self, message: str, *, retry_in_s: float):
    super().__init__(message)
    self.retry_in_s = retry_in_s


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
  """Exponential backoff with full jitter: attempt n waits uniform(0, min(cap, base * 2**n))."""
  max_attempts: int = 5
  base_delay_s: float = 0.5
  max_delay_s: float = 60.0
  max_retry_after_s: float = 900.0   # never sleep longer than this on a server's say-so

  def __post_init__(self):
    if self.max_attempts < 1 or self.base_delay_s < 0 or self.max_delay_s < self.base_delay_s:
      raise ValueError('RetryPolicy needs max_attempts >= 1 and 0 <= base_delay_s <= max_delay_s')

  def backoff_s(self, attempt: int, rng: random.Random) -> float:
    return rng.uniform(0, min(self.max_delay_s, self.base_delay_s * (2 ** attempt)))

  def delay_s(self, error: BaseException, attempt: int, rng: random.Random) -> float:
    """How long to wait after failed attempt number `attempt` (0-based) ended in `error`."""
    if isinstance(error, RateLimited) and error.retry_after_s is not None:
      return min(error.retry_after_s, self.max_retry_after_s)
    return self.backoff_s(attempt, rng)


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
  """`Retry-After` as seconds: either delta-seconds or an HTTP date."""
  if not value:
    return None
  value = value.strip()
  try:
    return max(0.0, float(value))
  except ValueError:
    pass
  try:
    when = email.utils.parsedate_to_datetime(value)
  except (TypeError, ValueError):
    return None
  return max(0.0, when.timestamp() - (time.time() if now is None else now))


def origin(url: str) -> tuple[str, str, int]:
  """(scheme, host, port) with the scheme's default port filled in."""
  parts = urllib.parse.urlsplit(url)
  scheme = parts.scheme.lower()
  return scheme, (parts.hostname or '').lower(), parts.port or (443 if scheme == 'https' else 80)


@dataclasses.dataclass(frozen=True)
class HttpConfig:
  """Where a client connects, how patiently, how much it reads, and through which proxies."""
  base_url: str
  connect_timeout_s: float = 5.0
  read_timeout_s: float = 30.0
  retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
  user_agent: str = 'millionx-sensory-agent/0.1'
  max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
  proxies: Optional[ProxyConfig] = None

  def __post_init__(self):
    if not self.base_url.startswith(('http://', 'https://')):
      raise ValueError(f'base_url must start with http:// or https://, got {self.base_url!r}')
    if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
      raise ValueError('timeouts must be positive')
    if self.max_body_bytes <= 0:
      raise ValueError('max_body_bytes must be positive')


class _ApiSession(requests.Session):
  """A session whose redirects away from the API's origin drop the credential headers.

  requests itself drops only `Authorization` when a redirect changes host; APIs put tokens in
  their own headers too (X-Shopify-Access-Token).
  """

  def __init__(self, api_origin: tuple[str, str, int]):
    super().__init__()
    self.api_origin = api_origin
    self.credential_headers: frozenset = frozenset()

  def rebuild_auth(self, prepared_request, response):
    super().rebuild_auth(prepared_request, response)
    if origin(prepared_request.url) != self.api_origin:
      for name in self.credential_headers | {'Authorization', 'Cookie'}:
        prepared_request.headers.pop(name, None)


def _proxy_refusal(response: requests.Response, error: Optional[ApiError]) -> Optional[str]:
  """Why a response says 'not through this proxy' (None: the proxy did its job)."""
  status = response.status_code
  if status == 407:
    return 'HTTP 407 (proxy authentication)'
  if status == 403:
    return 'HTTP 403'
  if status == 429 and getattr(error, 'retry_after_s', None) is None:
    return 'HTTP 429 without Retry-After'
  return None


class ApiClient:
  """Context-managed HTTP caller. Subclasses set `source`, and override `classify` (API-level
  errors inside 200 responses), `authorize` (add credentials to a request), `refresh_auth` and
  `observe` (rate-limit headers)."""

  source = 'http'

  def __init__(self, config: HttpConfig, *, sleep: Callable[[float], None] = time.sleep,
               rng: Optional[random.Random] = None,
               clock: Callable[[], float] = time.monotonic):
    self.config = config
    self._session: Optional[_ApiSession] = None
    self._sleep = sleep
    self._clock = clock
    self._rng = rng or random.Random()
    self._origin = origin(config.base_url)
    self._pool: Optional[ProxyPool] = None
    self._api_refreshing = False
    self.calls = 0
    self.retries = 0

  def __enter__(self):
    if self._session is None:
      self._session = _ApiSession(self._origin)
      self._session.headers['User-Agent'] = self.config.user_agent
    if self.config.proxies is not None and self._pool is None:
      # Kept across `with` blocks: a benched proxy stays benched for the agent's next pass.
      self._pool = ProxyPool.from_config(self.config.proxies, clock=self._clock,
                                         sleep=self._sleep, rng=self._rng)
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if self._session is not None:
      self._session.close()
      self._session = None

  @property
  def proxies(self) -> Optional[ProxyPool]:
    """The proxy pool (with its counts), once the client was entered; None without proxies."""
    return self._pool

  # --- hooks ------------------------------------------------------------------------------------
  def authorize(self, request: dict) -> None:
    """Adds credentials to the request kwargs (headers, params). Default: none."""

  def refresh_auth(self) -> bool:
    """Gets fresh credentials after AuthExpired; returns False when this client cannot."""
    return False

  def observe(self, response: requests.Response) -> None:
    """Reads rate-limit headers of a successful response; may sleep to stay under quota."""

  def classify(self, response: requests.Response) -> Optional[ApiError]:
    """The error a response means, or None for success. The default reads HTTP status only."""
    status = response.status_code
    if status < 400:
      return None
    label = f'{self.source} HTTP {status} on {response.request.path_url.split("?")[0]}'
    if status == 429:
      return RateLimited(label, status=status,
                         retry_after_s=parse_retry_after(response.headers.get('Retry-After')))
    if status == 401:
      return AuthExpired(label, status=status)
    if status in (408, 425) or status >= 500:
      return RetryableError(label, status=status)
    return PermanentError(label, status=status)

  # --- the call ---------------------------------------------------------------------------------
  def url(self, path: str) -> str:
    """The URL of `path`; an absolute URL (a paging link) only within the API's origin."""
    if path.startswith(('http://', 'https://')):
      if origin(path) != self._origin:
        scheme, host, port = origin(path)
        raise ForeignUrl(f'{self.source}: a URL from a response points at {scheme}://{host}:'
                         f'{port}, outside {self.config.base_url}: not followed (credentials '
                         'go to the API alone)')
      return path
    return self.config.base_url.rstrip('/') + '/' + path.lstrip('/')

  def where(self, path: str) -> str:
    """The path alone, for messages: paging URLs can carry tokens in their query strings."""
    if path.startswith(('http://', 'https://')):
      return urllib.parse.urlsplit(path).path
    return urllib.parse.urlsplit(self.url(path)).path

  def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Sends a request, retrying per the policy; returns a response `classify` accepted."""
    if self._session is None:
      raise RuntimeError(f'{type(self).__name__} used outside its `with` block')
    url = self.url(path)
    policy = self.config.retry
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        retry=tenacity.retry_if_exception_type(RetryableError),
        wait=lambda state: policy.delay_s(state.outcome.exception(), state.attempt_number - 1,
                                          self._rng),
        sleep=self._sleep, before_sleep=self._before_retry, reraise=True)
    return retrying(self._attempt, method, path, url, kwargs)

  def _before_retry(self, state: tenacity.RetryCallState) -> None:
    self.retries += 1
    _LOG.warning('%s: %s; retry %d/%d in %.2fs', self.source, state.outcome.exception(),
                 state.attempt_number, self.config.retry.max_attempts - 1,
                 state.next_action.sleep if state.next_action else 0.0)

  def _attempt(self, method: str, path: str, url: str, kwargs: Mapping[str, Any]):
    """One attempt: send, refresh credentials once on AuthExpired, move past failing proxies.

    A proxy that fails is benched and the request goes at once through the next one; when every
    proxy is benched, acquiring one raises ProxyUnavailable (not retried).
    """
    refreshed = False
    proxy_failures = 0
    while True:
      call = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in kwargs.items()}
      call.setdefault('headers', {})
      call.setdefault('params', {})
      before = dict(call['headers'])
      self.authorize(call)
      self._session.credential_headers = frozenset(
          k for k, v in call['headers'].items() if before.get(k) != v)
      proxy = self._acquire_proxy(proxy_failures)
      try:
        response = self._send(method, url, path, call, proxy)
      except RetryableError as e:        # no (complete) response: connection, timeout
        if proxy is None:
          raise
        self._bench(proxy, type(e.__cause__ or e).__name__)
        proxy_failures += 1
        continue
      error = self.classify(response)
      refusal = _proxy_refusal(response, error) if proxy is not None else None
      if refusal is not None:
        self._bench(proxy, refusal)
        proxy_failures += 1
        continue
      if proxy is not None:
        self._pool.succeeded(proxy)
      if error is None:
        self.observe(response)
        return response
      if isinstance(error, AuthExpired) and not refreshed and self._refresh_once():
        refreshed = True
        _LOG.info('%s: credentials refreshed after %s', self.source, error)
        continue
      raise error

  def _refresh_once(self) -> bool:
    """refresh_auth(), at most one at a time: a refresh request that itself answers
    AuthExpired raises it instead of refreshing again (no recursion)."""
    if self._api_refreshing:
      return False
    self._api_refreshing = True
    try:
      return self.refresh_auth()
    finally:
      self._api_refreshing = False

  def _acquire_proxy(self, failures_so_far: int) -> Optional[Proxy]:
    if self._pool is None:
      return None
    if failures_so_far >= 2 * len(self._pool.proxies):
      raise ProxyUnavailable(f'{self.source}: {failures_so_far} proxy failures in one request',
                             retry_in_s=self._pool.config.bench_base_s)
    try:
      return self._pool.acquire()
    except NoProxyAvailable as e:
      raise ProxyUnavailable(f'{self.source}: {e}', retry_in_s=e.retry_in_s) from e

  def _bench(self, proxy: Proxy, reason: str) -> None:
    seconds = self._pool.bench(proxy, reason)
    _LOG.warning('%s: %s benched for %.0fs after %s', self.source, proxy.label, seconds, reason)

  def _send(self, method: str, url: str, path: str, call: dict,
            proxy: Optional[Proxy]) -> requests.Response:
    """One HTTP exchange, the body read through the cap; transport failures as typed errors."""
    via = f' via {proxy.label}' if proxy is not None else ''
    if proxy is not None:
      call['proxies'] = {'http': proxy.url, 'https': proxy.url}
    # The errors are raised from the original ones (`raise ... from e`); messages carry the
    # exception's class, never its text (urllib3 puts the full URL, with its query, in it).
    try:
      self.calls += 1
      response = self._session.request(
          method, url, timeout=(self.config.connect_timeout_s, self.config.read_timeout_s),
          stream=True, **call)
      self._read_body(response, path)
      return response
    except requests.Timeout as e:
      raise Timeout(f'{self.source}: no response from {self.where(path)}{via} within the '
                    'timeout') from e
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError) as e:
      raise RetryableError(f'{self.source}: connection to {self.where(path)}{via} failed: '
                           f'{type(e).__name__}') from e
    except requests.RequestException as e:   # bad URL, bad redirect: fixing it needs a person
      raise PermanentError(
          f'{self.source}: request to {self.where(path)} failed: {type(e).__name__}') from e

  def _read_body(self, response: requests.Response, path: str) -> None:
    """Reads the (decoded) body into the response, at most max_body_bytes of it."""
    cap = self.config.max_body_bytes
    declared = response.headers.get('Content-Length', '')
    if declared.isdigit() and int(declared) > cap:
      response.close()
      raise ResponseTooLarge(f'{self.source}: response of {self.where(path)} declares '
                             f'{int(declared)} bytes, over the cap of {cap}',
                             status=response.status_code)
    chunks, size = [], 0
    for chunk in response.iter_content(_CHUNK_BYTES):
      size += len(chunk)
      if size > cap:
        response.close()
        raise ResponseTooLarge(f'{self.source}: response of {self.where(path)} exceeds the cap '
                               f'of {cap} bytes', status=response.status_code)
      chunks.append(chunk)
    response._content = b''.join(chunks)  # pylint: disable=protected-access  # what .content reads

  def fetch_json(self, method: str, path: str, **kwargs: Any) -> tuple[requests.Response, Any]:
    """`request`, then the body as JSON. A body that is not JSON is fetched once more (proxies
    truncate), then raised as MalformedResponse carrying the body."""
    attempts = min(2, self.config.retry.max_attempts)
    for attempt in range(attempts):
      response = self.request(method, path, **kwargs)
      try:
        return response, response.json()
      except ValueError as e:  # json.JSONDecodeError and requests' own JSON error are ValueErrors
        if attempt + 1 >= attempts:
          raise self.malformed(
              f'response of {self.where(path)} is not JSON ({type(e).__name__})', response) from e
        self.retries += 1
        self._sleep(self.config.retry.backoff_s(attempt, self._rng))
    raise AssertionError('unreachable')

  def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
    return self.fetch_json(method, path, **kwargs)[1]

  def malformed(self, what: str, response: requests.Response) -> MalformedResponse:
    """The error for a body that parsed but lacks the documented shape (or did not parse)."""
    return MalformedResponse(f'{self.source}: {what}', status=response.status_code,
                             body=response.content)
