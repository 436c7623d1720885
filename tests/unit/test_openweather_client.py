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
