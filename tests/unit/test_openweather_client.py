"""OpenWeather: confirmed city ids queried by id, the others by coordinates; 429 retried."""
import random

from connectors.http import HttpConfig, RetryPolicy
from connectors.openweather import BD_CITIES, OpenWeatherClient, OpenWeatherConfig
from connectors.secrets import SecretRef
from tests.fakes_http import FakeApi, FakeSleep, Reply, fixture


def test_city_queries_and_429(monkeypatch):
  monkeypatch.setenv('T_OWM_KEY', 'owm-key')
  dhaka = fixture('openweather_current_dhaka.json')
  sleep = FakeSleep()
  with FakeApi() as api:
    api.route('GET', '/data/2.5/weather', [Reply(429, {'cod': 429}), Reply(200, dhaka)])
    config = OpenWeatherConfig(SecretRef.parse('env:T_OWM_KEY'), base_url=api.url)
    with OpenWeatherClient(config, HttpConfig(api.url, retry=RetryPolicy(max_attempts=3)),
                           sleep=sleep, rng=random.Random(0)) as c:
      assert c.current(BD_CITIES[0])['id'] == 1185241      # Dhaka: confirmed id
      c.current(BD_CITIES[1])                             # Chattogram: unconfirmed id
  by_id, _, by_coord = [r.query for r in api.requests]
  assert by_id['id'] == '1185241' and by_id['units'] == 'metric' and by_id['appid'] == 'owm-key'
  assert by_coord['lat'] == '22.3569' and 'id' not in by_coord
  assert len(sleep.delays) == 1


def test_agent_skips_a_failing_city_and_fails_only_when_all_do(monkeypatch):
  from agents.openweather import OpenWeatherAgent
  from connectors.http import RetryableError
  import pytest
  monkeypatch.setenv('T_OWM_KEY', 'owm-key')
  dhaka = fixture('openweather_current_dhaka.json')
  with FakeApi() as api:
    api.route('GET', '/data/2.5/weather', lambda req: Reply(503)
              if req.query.get('lat') == '24.8949' else Reply(200, dhaka))   # Sylhet down
    config = OpenWeatherConfig(SecretRef.parse('env:T_OWM_KEY'), base_url=api.url)
    agent = OpenWeatherAgent(OpenWeatherClient(
        config, HttpConfig(api.url, retry=RetryPolicy(max_attempts=2)), sleep=FakeSleep()))
    with agent:
      [page] = list(agent.fetch(None, None))
    assert [key for key, _ in page] == ['1185241', '1205733', '1336135', '1185128', '1336137',
                                        '1185188', '1185162']
    api.route('GET', '/data/2.5/weather', [Reply(503)])
    with agent, pytest.raises(RetryableError):
      list(agent.fetch(None, None))
