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


# --- bounded bodies, credentials only for the API's own origin, one refresh at a time ----------

import contextlib
import gzip
import socket
import threading

from connectors.http import ForeignUrl, ResponseTooLarge


@contextlib.contextmanager
def raw_server(head: bytes, body_chunks):
  """Answers one connection with `head` then `body_chunks` (no Content-Length), then closes."""
  listener = socket.socket()
  listener.bind(('127.0.0.1', 0))
  listener.listen(1)
  sent = []

  def serve():
    conn, _ = listener.accept()
    with conn:
      conn.recv(65536)
      try:
        conn.sendall(head)
        for chunk in body_chunks:
          conn.sendall(chunk)
          sent.append(len(chunk))
      except OSError:
        pass                     # the client hung up: what the cap should do

  thread = threading.Thread(target=serve, daemon=True)
  thread.start()
  try:
    yield f'http://127.0.0.1:{listener.getsockname()[1]}', sent
  finally:
    thread.join(timeout=10)
    listener.close()


def _capped(url, cap):
  return ApiClient(HttpConfig(url, max_body_bytes=cap, retry=RetryPolicy(max_attempts=1)),
                   sleep=FakeSleep())


def test_a_body_over_the_cap_is_refused_without_reading_it():
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, b'x' * 5000)])   # Content-Length: 5000
    with _capped(api.url, 4096) as c, pytest.raises(ResponseTooLarge) as e:
      c.request('GET', '/x')
  assert '5000' in str(e.value) and e.value.status == 200


def test_a_body_without_length_is_cut_at_the_cap():
  head = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n'
  chunks = (b'[' + b'1,' * 32767 for _ in range(200))   # 200 x 64 KiB = 12.5 MiB on offer
  with raw_server(head, chunks) as (url, sent), _capped(url, 1024 * 1024) as c:
    with pytest.raises(ResponseTooLarge):
      c.request('GET', '/x')
  assert sum(sent) < 8 * 1024 * 1024        # the client stopped reading (the server got EPIPE)


def test_the_cap_counts_decoded_bytes_of_a_compressed_body():
  bomb = gzip.compress(b'0' * (4 * 1024 * 1024))         # ~4 KB on the wire, 4 MiB decoded
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, bomb, (('Content-Encoding', 'gzip'),))])
    with _capped(api.url, 1024 * 1024) as c, pytest.raises(ResponseTooLarge):
      c.request('GET', '/x')
    with _capped(api.url, 8 * 1024 * 1024) as c:
      assert len(c.request('GET', '/x').content) == 4 * 1024 * 1024


class _TokenClient(ApiClient):
  source = 'token-api'
  refreshes = 0

  def authorize(self, request):
    request['headers']['X-Api-Token'] = 'tok-secret'
    request['headers']['Authorization'] = 'Bearer tok-secret'

  def refresh_auth(self):
    # Like Daraz: the refresh is itself a request, which may answer 401 too.
    type(self).refreshes += 1
    self.request_json('GET', '/refresh')
    return True


def test_a_paging_url_on_another_host_gets_no_request_and_no_token():
  with FakeApi() as api, FakeApi() as other:
    api.route('GET', '/page1', [Reply(200, {'next': other.url + '/page2?cursor=1'})])
    other.route('GET', '/page2', [Reply(200, {'data': []})])
    with _TokenClient(HttpConfig(api.url), sleep=FakeSleep()) as c:
      next_url = c.request_json('GET', '/page1')['next']
      with pytest.raises(ForeignUrl) as e:
        c.request_json('GET', next_url)
      # Same origin, written out in full (default port elided or not): followed.
      assert c.url(api.url + '/page3') == api.url + '/page3'
  assert other.requests == [] and 'cursor' not in str(e.value)
  assert api.calls('/page1')[0].headers['x-api-token'] == 'tok-secret'


def test_https_to_http_downgrade_of_a_paging_url_is_refused():
  c = ApiClient(HttpConfig('https://api.example.com'))
  assert c.url('https://api.example.com:443/v1/x?after=2') == 'https://api.example.com:443/v1/x?after=2'
  with pytest.raises(ForeignUrl):
    c.url('http://api.example.com/v1/x')
  with pytest.raises(ForeignUrl):
    c.url('https://api.example.com.evil.test/v1/x')


def test_a_redirect_off_the_api_host_drops_the_credential_headers():
  with FakeApi() as api, FakeApi() as other:
    api.route('GET', '/moved', [Reply(302, b'', (('Location', other.url + '/landing'),))])
    api.route('GET', '/here', [Reply(302, b'', (('Location', '/landing'),))])
    api.route('GET', '/landing', [Reply(200, {'ok': 'same host'})])
    other.route('GET', '/landing', [Reply(200, {'ok': 'other host'})])
    with _TokenClient(HttpConfig(api.url), sleep=FakeSleep()) as c:
      assert c.request_json('GET', '/moved') == {'ok': 'other host'}
      assert c.request_json('GET', '/here') == {'ok': 'same host'}
  [landed] = other.requests
  assert 'x-api-token' not in landed.headers and 'authorization' not in landed.headers
  assert api.calls('/landing')[0].headers['x-api-token'] == 'tok-secret'


def test_a_refresh_that_answers_401_raises_instead_of_recursing():
  _TokenClient.refreshes = 0
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(401)])
    api.route('GET', '/refresh', [Reply(401)])
    with _TokenClient(HttpConfig(api.url), sleep=FakeSleep()) as c, \
        pytest.raises(AuthExpired) as e:
      c.request('GET', '/x')
  assert _TokenClient.refreshes == 1 and '/refresh' in str(e.value)
  assert [r.path for r in api.requests] == ['/x', '/refresh']
