"""The shared base of the API clients: a context-managed caller with typed errors and retries.

Every client says what a response means (`classify`) and the base decides what to do about it:
retry with exponential backoff and full jitter (transient errors), wait as long as the server
asks (HTTP 429 / `Retry-After`, or an API's own quota signal), refresh credentials once
(`AuthExpired`), or give up at once (`PermanentError`). Time and randomness are injected so tests
run without sleeping. Secrets are sent, never logged: log lines name the path, not the URL.
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

_LOG = logging.getLogger(__name__)


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


@dataclasses.dataclass(frozen=True)
class HttpConfig:
  """Where a client connects and how patiently."""
  base_url: str
  connect_timeout_s: float = 5.0
  read_timeout_s: float = 30.0
  retry: RetryPolicy = dataclasses.field(default_factory=RetryPolicy)
  user_agent: str = 'millionx-sensory-agent/0.1'

  def __post_init__(self):
    if not self.base_url.startswith(('http://', 'https://')):
      raise ValueError(f'base_url must start with http:// or https://, got {self.base_url!r}')
    if self.connect_timeout_s <= 0 or self.read_timeout_s <= 0:
      raise ValueError('timeouts must be positive')


class ApiClient:
  """Context-managed HTTP caller. Subclasses set `source`, and override `classify` (API-level
  errors inside 200 responses), `authorize` (add credentials to a request), `refresh_auth` and
  `observe` (rate-limit headers)."""

  source = 'http'

  def __init__(self, config: HttpConfig, *, session: Optional[requests.Session] = None,
               sleep: Callable[[float], None] = time.sleep, rng: Optional[random.Random] = None):
    self.config = config
    self._own_session = session is None
    self._session = session
    self._sleep = sleep
    self._rng = rng or random.Random()
    self.calls = 0
    self.retries = 0

  def __enter__(self):
    if self._session is None:
      self._session = requests.Session()
      self._session.headers['User-Agent'] = self.config.user_agent
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    if self._own_session and self._session is not None:
      self._session.close()
      self._session = None

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
    if path.startswith(('http://', 'https://')):
      return path
    return self.config.base_url.rstrip('/') + '/' + path.lstrip('/')

  def where(self, path: str) -> str:
    """The path alone, for messages: paging URLs can carry tokens in their query strings."""
    return urllib.parse.urlsplit(self.url(path)).path

  def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
    """Sends a request, retrying per the policy; returns a response `classify` accepted."""
    if self._session is None:
      raise RuntimeError(f'{type(self).__name__} used outside its `with` block')
    policy = self.config.retry
    refreshed = False
    attempt = 0
    while True:
      call = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in kwargs.items()}
      call.setdefault('headers', {})
      call.setdefault('params', {})
      self.authorize(call)
      # The error is raised only after the retry decision below; setting __cause__ is what
      # `raise ... from e` would do.
      error: ApiError
      try:
        self.calls += 1
        response = self._session.request(
            method, self.url(path),
            timeout=(self.config.connect_timeout_s, self.config.read_timeout_s), **call)
      except requests.Timeout as e:
        error = Timeout(f'{self.source}: no response from {self.where(path)} within the timeout')
        error.__cause__ = e
      except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as e:
        error = RetryableError(
            f'{self.source}: connection to {self.where(path)} failed: {type(e).__name__}')
        error.__cause__ = e
      except requests.RequestException as e:   # bad URL, bad redirect: fixing it needs a person
        raise PermanentError(
            f'{self.source}: request to {self.where(path)} failed: {type(e).__name__}') from e
      else:
        classified = self.classify(response)
        if classified is None:
          self.observe(response)
          return response
        error = classified
      attempt += 1
      if isinstance(error, AuthExpired):
        if refreshed or not self.refresh_auth():
          raise error
        refreshed = True
        _LOG.info('%s: credentials refreshed after %s', self.source, error)
        continue
      if not isinstance(error, RetryableError) or attempt >= policy.max_attempts:
        raise error
      if isinstance(error, RateLimited) and error.retry_after_s is not None:
        delay = min(error.retry_after_s, policy.max_retry_after_s)
      else:
        delay = policy.backoff_s(attempt - 1, self._rng)
      self.retries += 1
      _LOG.warning('%s: %s; retry %d/%d in %.2fs', self.source, error, attempt,
                   policy.max_attempts - 1, delay)
      self._sleep(delay)

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
