"""Proxy rotation through REAL local forward proxies (proxy.py processes, tests/proxy_servers.py).

Proxies A and B work (B needs credentials, given in its URL); C is made to fail: it demands
credentials that the pool gets wrong, so it answers 407. Every request a proxy forwards carries
its tag (`X-Test-Proxy`), so the API behind them shows which proxy carried each request.
"""
import logging
import random

import pytest

from connectors.http import (ApiClient, HttpConfig, PermanentError, ProxyUnavailable, RetryPolicy)
from connectors.proxies import (ProxyConfig, ProxyConfigError, ProxyPool, parse_proxy_urls)
from connectors.secrets import SecretRef
from tests.fakes_http import FakeApi, Reply
from tests.proxy_servers import ProxyServer, closed_port, write_proxy_list

B_PASSWORD = 'b-pass-7f3a9'         # must never show in a log line or an error
C_WRONG_PASSWORD = 'c-wrong-51e2d'


class FakeTime:
  """A monotonic clock that sleeping advances; records the sleeps."""

  def __init__(self):
    self.now = 1000.0
    self.sleeps: list[float] = []

  def clock(self) -> float:
    return self.now

  def sleep(self, seconds: float) -> None:
    self.sleeps.append(seconds)
    self.now += seconds


@pytest.fixture(scope='module')
def proxies():
  with ProxyServer('A') as a, ProxyServer('B', basic_auth=f'bob:{B_PASSWORD}') as b, \
      ProxyServer('C', basic_auth='carol:right-password') as c:
    yield a, b, c


def _client(api, ref, time_, rotation='round-robin', rps=None, attempts=3, seed=1):
  config = HttpConfig(api.url, read_timeout_s=5, retry=RetryPolicy(max_attempts=attempts),
                      proxies=ProxyConfig(SecretRef.parse(ref), rotation=rotation,
                                          max_requests_per_s=rps, bench_base_s=30,
                                          bench_max_s=600))
  return ApiClient(config, sleep=time_.sleep, clock=time_.clock, rng=random.Random(seed))


def _carriers(api):
  return [r.headers.get('x-test-proxy') for r in api.requests]


def test_requests_go_through_the_proxies_in_turn_and_rotate_away_from_the_bad_one(
    proxies, tmp_path):
  a, b, c = proxies
  ref = write_proxy_list(tmp_path, a.url(), c.url('carol', C_WRONG_PASSWORD), b.url('bob', B_PASSWORD))
  time_ = FakeTime()
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, {'ok': 1})])
    with _client(api, ref, time_) as client:
      for n in range(6):
        assert client.request_json('GET', '/x', params={'n': n}) == {'ok': 1}
      pool = client.proxies
  # A, then C (407: benched, the same request goes on through B at once), then B, A, B, ...
  assert _carriers(api) == ['A', 'B', 'A', 'B', 'A', 'B']
  assert [p.requests for p in pool.proxies] == [3, 1, 3]
  assert [p.times_benched for p in pool.proxies] == [0, 1, 0] and pool.num_benched == 1
  assert pool.proxies[1].last_failure == 'HTTP 407 (proxy authentication)'
  assert time_.sleeps == []                       # switching proxy is immediate
  assert client.retries == 0


def test_a_dead_proxy_is_benched_with_exponential_backoff_and_comes_back(proxies, tmp_path):
  a, _, _ = proxies
  ref = write_proxy_list(tmp_path, f'http://127.0.0.1:{closed_port()}', a.url())
  time_ = FakeTime()
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, {'ok': 1})])
    with _client(api, ref, time_) as client:
      client.request('GET', '/x')                  # dead one first: benched 30 s, then A
      dead = client.proxies.proxies[0]
      assert (dead.times_benched, dead.benched_until - time_.now) == (1, 30)
      assert dead.last_failure == 'ProxyError'
      client.request('GET', '/x')                  # still benched: A
      time_.now += 31
      client.request('GET', '/x')                  # back in the rotation, fails again: 60 s
      assert (dead.times_benched, dead.benched_until - time_.now) == (2, 60)
  assert _carriers(api) == ['A', 'A', 'A']


def test_all_proxies_benched_is_a_typed_error_naming_the_causes(proxies, tmp_path, caplog):
  _, _, c = proxies
  ref = write_proxy_list(tmp_path, c.url('carol', C_WRONG_PASSWORD),
                         f'http://carol:{C_WRONG_PASSWORD}@127.0.0.1:{closed_port()}')
  time_ = FakeTime()
  caplog.set_level(logging.DEBUG)                  # urllib3's DEBUG lines included
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, {'ok': 1})])
    with _client(api, ref, time_) as client, pytest.raises(ProxyUnavailable) as e:
      client.request('GET', '/x')
  message = str(e.value)
  assert 'all 2 proxies are benched' in message
  assert f'proxy #1 (127.0.0.1:{c.port}): HTTP 407 (proxy authentication)' in message
  assert 'proxy #2' in message and 'ProxyError' in message
  assert e.value.retry_in_s == 30
  assert api.requests == []                        # nothing reached the API
  for text in (message, caplog.text, repr(client.proxies.proxies)):
    assert C_WRONG_PASSWORD not in text


def test_credentials_are_used_but_never_logged(proxies, tmp_path, caplog):
  _, b, _ = proxies
  ref = write_proxy_list(tmp_path, b.url('bob', B_PASSWORD))
  caplog.set_level(logging.DEBUG)
  time_ = FakeTime()
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(503), Reply(200, {'ok': 1})])
    with _client(api, ref, time_) as client:
      assert client.request_json('GET', '/x') == {'ok': 1}   # a retry, logged
  assert _carriers(api) == ['B', 'B'] and client.retries == 1
  assert 'retry 1/2' in caplog.text
  assert B_PASSWORD not in caplog.text


def test_403_and_429_without_retry_after_bench_the_proxy(proxies, tmp_path):
  """The API blocks the address a request came from: the request moves on to the next proxy."""
  a, b, _ = proxies
  ref = write_proxy_list(tmp_path, a.url(), b.url('bob', B_PASSWORD), a.url())  # #3: A again
  time_ = FakeTime()
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(403), Reply(429), Reply(200, {'ok': 1})])
    with _client(api, ref, time_) as client:
      assert client.request_json('GET', '/x') == {'ok': 1}
      pool = client.proxies
  assert _carriers(api) == ['A', 'B', 'A']
  assert [p.last_failure for p in pool.proxies] == ['HTTP 403', 'HTTP 429 without Retry-After',
                                                     None]
  assert time_.sleeps == [] and client.retries == 0


def test_429_with_retry_after_waits_and_keeps_the_proxy(proxies, tmp_path):
  a, _, _ = proxies
  ref = write_proxy_list(tmp_path, a.url())
  time_ = FakeTime()
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(429, {}, (('Retry-After', '5'),)), Reply(200, {'ok': 1})])
    with _client(api, ref, time_) as client:
      assert client.request_json('GET', '/x') == {'ok': 1}
      assert client.proxies.num_benched == 0
  assert time_.sleeps == [5.0] and _carriers(api) == ['A', 'A']


def test_403_through_the_only_proxy_is_reported_as_all_benched(proxies, tmp_path):
  a, _, _ = proxies
  ref = write_proxy_list(tmp_path, a.url())
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(403)])
    with _client(api, ref, FakeTime()) as client, pytest.raises(ProxyUnavailable) as e:
      client.request('GET', '/x')
  assert 'HTTP 403' in str(e.value) and len(api.requests) == 1


def test_per_proxy_rate_limit_spaces_requests(proxies, tmp_path):
  a, b, _ = proxies
  ref = write_proxy_list(tmp_path, a.url(), b.url('bob', B_PASSWORD))
  time_ = FakeTime()
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, {'ok': 1})])
    with _client(api, ref, time_, rps=2.0) as client:   # at most 2 requests/s through each
      for _ in range(6):
        client.request('GET', '/x')
  assert _carriers(api) == ['A', 'B', 'A', 'B', 'A', 'B']
  # Two proxies at 2/s each: 4 requests/s in all; the clock never moved on its own.
  assert time_.sleeps == [0.5, 0.5] and time_.now == pytest.approx(1001.0)


def test_random_rotation_uses_every_working_proxy(proxies, tmp_path):
  a, b, _ = proxies
  ref = write_proxy_list(tmp_path, a.url(), b.url('bob', B_PASSWORD))
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, {'ok': 1})])
    with _client(api, ref, FakeTime(), rotation='random', seed=7) as client:
      for _ in range(12):
        client.request('GET', '/x')
  carriers = _carriers(api)
  assert set(carriers) == {'A', 'B'} and carriers != ['A', 'B'] * 6


def test_the_pool_survives_between_with_blocks(proxies, tmp_path):
  """An agent enters its client once per pass: a benched proxy stays benched for the next."""
  a, _, c = proxies
  ref = write_proxy_list(tmp_path, c.url('carol', C_WRONG_PASSWORD), a.url())
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, {'ok': 1})])
    client = _client(api, ref, FakeTime())
    with client:
      client.request('GET', '/x')
    with client:
      client.request('GET', '/x')
  assert client.proxies.num_benched == 1 and _carriers(api) == ['A', 'A']


def test_proxy_list_parsing_never_echoes_a_line():
  assert parse_proxy_urls('# pool\n\nhttp://u:p@10.0.0.1:3128\n  https://h.example:8443  \n') == [
      'http://u:p@10.0.0.1:3128', 'https://h.example:8443']
  for bad in ('socks5://u:secret-x@h:1080', 'http://u:secret-x@h', 'u:secret-x@h:3128'):
    with pytest.raises(ProxyConfigError) as e:
      parse_proxy_urls(bad)
    assert 'secret-x' not in str(e.value) and 'line 1' in str(e.value)
  with pytest.raises(ProxyConfigError):
    parse_proxy_urls('# nothing here\n')
  with pytest.raises(ValueError):
    ProxyConfig(SecretRef.parse('file:/x'), rotation='sticky')
  pool = ProxyPool(ProxyConfig(SecretRef.parse('file:/x')), ['http://u:secret-x@h:3128'])
  assert 'secret-x' not in repr(pool.proxies) and pool.proxies[0].label == 'proxy #1 (h:3128)'


def test_permanent_errors_of_the_api_are_not_proxy_failures(proxies, tmp_path):
  a, _, _ = proxies
  ref = write_proxy_list(tmp_path, a.url())
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(400, {'error': 'bad'})])
    with _client(api, ref, FakeTime()) as client, pytest.raises(PermanentError):
      client.request('GET', '/x')
    assert client.proxies.num_benched == 0 and len(api.requests) == 1


def test_every_agent_takes_the_proxy_flags(proxies, tmp_path, monkeypatch, caplog):
  """`python -m agents.<source> --proxies_ref=file:PATH`: the agent's requests go through them."""
  from agents import cli, openweather
  a, b, c = proxies
  ref = write_proxy_list(tmp_path, a.url(), c.url('carol', C_WRONG_PASSWORD), b.url('bob', B_PASSWORD))
  monkeypatch.setenv('T_OWM_KEY', 'owm-key')
  dhaka = __import__('tests.fakes_http', fromlist=['fixture']).fixture('openweather_current_dhaka.json')
  with FakeApi() as api:
    api.route('GET', '/data/2.5/weather', [Reply(200, dhaka)])
    code = cli.main('openweather', 'test', openweather.add_arguments, openweather.build, [
        '--dry-run', '--base-url', api.url, '--api-key', 'env:T_OWM_KEY', f'--proxies_ref={ref}',
        '--checkpoint-dir', str(tmp_path / 'ck'), '--log-level', 'WARNING'])
  assert code == 0
  assert _carriers(api) == ['A', 'B'] * 4                  # 8 cities; C (407) benched once
  assert f'proxy #2 (127.0.0.1:{c.port}) benched for 30s after HTTP 407' in caplog.text
  assert C_WRONG_PASSWORD not in caplog.text


def test_a_timeout_through_a_proxy_benches_it(proxies, tmp_path):
  a, b, _ = proxies
  ref = write_proxy_list(tmp_path, a.url(), b.url('bob', B_PASSWORD))
  time_ = FakeTime()
  with FakeApi() as api:
    api.route('GET', '/x', [Reply(200, {'slow': 1}, delay_s=1.0), Reply(200, {'ok': 1})])
    config = HttpConfig(api.url, read_timeout_s=0.3, retry=RetryPolicy(max_attempts=1),
                        proxies=ProxyConfig(SecretRef.parse(ref)))
    with ApiClient(config, sleep=time_.sleep, clock=time_.clock) as client:
      assert client.request_json('GET', '/x') == {'ok': 1}
      assert [p.last_failure for p in client.proxies.proxies] == ['ReadTimeout', None]
  assert _carriers(api) == ['A', 'B']
