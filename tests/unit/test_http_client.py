"""The shared API caller: retries, backoff, Retry-After, timeouts, auth refresh, malformed bodies."""
import random

import pytest

from connectors.http import (ApiClient, AuthExpired, HttpConfig, MalformedResponse, PermanentError,
                             RateLimited, RetryableError, RetryPolicy, Timeout, parse_retry_after)
from tests.fakes_http import FakeApi, FakeSleep, Reply


def client(api, sleep, attempts=4, read_timeout=5.0):
  return ApiClient(HttpConfig(api.url, read_timeout_s=read_timeout,
                              retry=RetryPolicy(max_attempts=attempts, base_delay_s=0.5)),
                   sleep=sleep, rng=random.Random(1))


def test_429_with_retry_after_then_success():
  sleep = FakeSleep()
  with FakeApi() as api, client(api, sleep) as c:
    api.route('GET', '/x', [Reply(429, {}, (('Retry-After', '7'),)), Reply(200, {'ok': 1})])
    assert c.request_json('GET', '/x') == {'ok': 1}
  assert sleep.delays == [7.0]
  assert c.retries == 1


def test_5xx_retried_with_jittered_exponential_backoff():
  sleep = FakeSleep()
  with FakeApi() as api, client(api, sleep) as c:
    api.route('GET', '/x', [Reply(503), Reply(502), Reply(500), Reply(200, {'ok': 1})])
    assert c.request_json('GET', '/x') == {'ok': 1}
  assert len(sleep.delays) == 3
  for attempt, delay in enumerate(sleep.delays):
    assert 0 <= delay <= 0.5 * 2 ** attempt


def test_5xx_gives_up_after_max_attempts():
  sleep = FakeSleep()
  with FakeApi() as api, client(api, sleep, attempts=3) as c:
    api.route('GET', '/x', [Reply(503)])
    with pytest.raises(RetryableError) as e:
      c.request('GET', '/x')
  assert e.value.status == 503 and len(api.requests) == 3


def test_4xx_is_permanent_and_not_retried():
  sleep = FakeSleep()
  with FakeApi() as api, client(api, sleep) as c:
    api.route('GET', '/x', [Reply(400, {'error': 'bad'})])
    with pytest.raises(PermanentError):
      c.request('GET', '/x')
  assert len(api.requests) == 1 and sleep.delays == []


def test_read_timeout_is_typed_and_retried():
  sleep = FakeSleep()
  with FakeApi() as api, client(api, sleep, attempts=2, read_timeout=0.2) as c:
    api.route('GET', '/slow', [Reply(200, {}, delay_s=0.6)])
    with pytest.raises(Timeout) as e:
      c.request('GET', '/slow')
  assert len(api.requests) == 2 and len(sleep.delays) == 1
  assert e.value.__cause__ is not None


def test_401_without_refresh_raises_auth_expired():
  with FakeApi() as api, client(api, FakeSleep()) as c:
    api.route('GET', '/x', [Reply(401)])
    with pytest.raises(AuthExpired):
      c.request('GET', '/x')


def test_non_json_body_is_refetched_once_then_malformed_with_body():
  with FakeApi() as api, client(api, FakeSleep()) as c:
    api.route('GET', '/x', [Reply(200, b'{"orders": [')])
    with pytest.raises(MalformedResponse) as e:
      c.request_json('GET', '/x')
  assert e.value.body == b'{"orders": [' and len(api.requests) == 2


def test_used_outside_with_block_is_an_error():
  c = ApiClient(HttpConfig('http://127.0.0.1:9'))
  with pytest.raises(RuntimeError):
    c.request('GET', '/x')


def test_retry_after_forms():
  assert parse_retry_after('2.5') == 2.5
  assert parse_retry_after('Wed, 21 Oct 2015 07:28:00 GMT', now=1445412470) == 10.0
  assert parse_retry_after('soon') is None and parse_retry_after(None) is None


def test_rate_limited_is_retryable():
  assert issubclass(RateLimited, RetryableError) and issubclass(Timeout, RetryableError)
  assert issubclass(MalformedResponse, PermanentError)


def test_config_validated_when_built():
  with pytest.raises(ValueError):
    HttpConfig('ftp://x')
  with pytest.raises(ValueError):
    RetryPolicy(max_attempts=0)
