"""OpenWeather current-weather client (`GET data/2.5/weather?id=...&units=metric`).

Context-managed; typed errors (rate limit, timeout, permanent, retryable) chained with
`raise ... from e` (except requests' own errors, whose text holds the key); retries with exponential backoff, honouring Retry-After on HTTP 429. The API
key comes from a secret reference and never appears in an error message (request URLs carry it,
so exceptions from `requests` are reported by class name only).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

import requests

from connectors.secrets import SecretRef


class OpenWeatherError(RuntimeError):
  """Any failure to get weather."""


class OpenWeatherRateLimited(OpenWeatherError):
  """HTTP 429 after all retries."""


class OpenWeatherTimeout(OpenWeatherError):
  """No answer within the timeout, after all retries."""


class OpenWeatherPermanentError(OpenWeatherError):
  """A 4xx other than 429 (bad key, unknown city): retrying will not help."""


class OpenWeatherRetryableError(OpenWeatherError):
  """5xx or a connection error, after all retries."""


@dataclasses.dataclass(frozen=True)
class OpenWeatherConfig:
  api_key_ref: str
  base_url: str = 'https://api.openweathermap.org/data/2.5/weather'
  units: str = 'metric'
  timeout_s: float = 10.0
  max_attempts: int = 4
  backoff_s: float = 1.0
  max_backoff_s: float = 30.0

  def __post_init__(self):
    SecretRef.parse(self.api_key_ref)
    if self.max_attempts < 1 or self.timeout_s <= 0 or self.backoff_s < 0:
      raise ValueError('OpenWeatherConfig needs max_attempts >= 1, timeout_s > 0, backoff_s >= 0')


class OpenWeatherClient:
  """with OpenWeatherClient(config) as client: client.current_by_id(1185241) → response dict."""

  def __init__(self, config: OpenWeatherConfig, *, session: Optional[requests.Session] = None,
               sleep: Callable[[float], None] = time.sleep):
    self._config = config
    self._session = session
    self._own_session = session is None
    self._sleep = sleep
    self._key: Optional[str] = None

  def __enter__(self) -> 'OpenWeatherClient':
    self._key = SecretRef.parse(self._config.api_key_ref).resolve()
    if self._session is None:
      self._session = requests.Session()
    return self

  def __exit__(self, *exc) -> None:
    if self._own_session and self._session is not None:
      self._session.close()
      self._session = None
    self._key = None

  def current_by_id(self, city_id: int) -> dict:
    if self._key is None:
      raise OpenWeatherError('use OpenWeatherClient as a context manager')
    params = {'id': str(int(city_id)), 'units': self._config.units, 'appid': self._key}
    last: Optional[OpenWeatherError] = None
    for attempt in range(self._config.max_attempts):
      delay = min(self._config.max_backoff_s, self._config.backoff_s * (2 ** attempt))
      try:
        response = self._session.get(self._config.base_url, params=params,
                                     timeout=self._config.timeout_s)
      except requests.Timeout as e:
        last = OpenWeatherTimeout(f'city {city_id}: no answer in {self._config.timeout_s}s')
        cause = e
      except requests.RequestException as e:
        last = OpenWeatherRetryableError(f'city {city_id}: {type(e).__name__}')
        cause = e
      else:
        cause = None
        if response.status_code == 200:
          try:
            return response.json()
          except ValueError as e:
            raise OpenWeatherRetryableError(f'city {city_id}: response is not JSON') from e
        if response.status_code == 429:
          last = OpenWeatherRateLimited(f'city {city_id}: HTTP 429 (rate limited)')
          retry_after = response.headers.get('Retry-After', '')
          if retry_after.isdigit():
            delay = min(self._config.max_backoff_s, float(retry_after))
        elif 400 <= response.status_code < 500:
          raise OpenWeatherPermanentError(f'city {city_id}: HTTP {response.status_code}')
        else:
          last = OpenWeatherRetryableError(f'city {city_id}: HTTP {response.status_code}')
      if attempt + 1 < self._config.max_attempts:
        self._sleep(delay)
      elif cause is not None:
        # Not `from cause`: requests puts the request URL, with the appid key, in its messages.
        raise last from None
    raise last
