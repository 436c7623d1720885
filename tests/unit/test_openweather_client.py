"""OpenWeather: current weather (ids or coordinates, 429 retried) and the History API backfill."""
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
    # Keyed by city and the UTC hour of the observation (the fixture's dt is in 07:00-08:00).
    assert [key for key, _ in page] == [f'{c}:2022-02-08T07' for c in (
        1185241, 1205733, 1336135, 1185128, 1336137, 1185188, 1185162)]
    api.route('GET', '/data/2.5/weather', [Reply(503)])
    with agent, pytest.raises(RetryableError):
      list(agent.fetch(None, None))


import datetime
import functools
import io
import json

import pytest

from agents import cli
from agents import openweather as agent_module
from connectors.http import AuthExpired
from connectors.openweather import city_id_of_key, current_shape, observation_key

UTC = datetime.timezone.utc


def _history_fake(api, hours_by_day=24):
  """The History API: the documented example entry, repeated hourly over [start, end)."""
  example = fixture('openweather_history_city_official_example.json')

  def reply(req):
    start, end = int(req.query['start']), int(req.query['end'])
    assert req.query['type'] == 'hour' and req.query['appid'] == 'owm-key'
    assert end - start <= 7 * 86400                       # a week per call at most
    entries = []
    for dt in range(start - 3600, end + 3600, 3600):      # one hour either side: must be cut
      entry = dict(example['list'][0], dt=dt)
      entries.append(entry)
    return Reply(200, dict(example, cnt=len(entries), list=entries))
  api.route('GET', '/data/2.5/history/city', reply)


def test_history_entries_become_current_weather_objects_in_celsius(monkeypatch):
  monkeypatch.setenv('T_OWM_KEY', 'owm-key')
  start = datetime.datetime(2026, 11, 1, tzinfo=UTC)
  end = start + datetime.timedelta(days=9)                # two calls: 7 days + 2 days
  with FakeApi() as api:
    _history_fake(api)
    config = OpenWeatherConfig(SecretRef.parse('env:T_OWM_KEY'), base_url=api.url)
    with OpenWeatherClient(config, HttpConfig(api.url), sleep=FakeSleep()) as c:
      observations = list(c.history(BD_CITIES[1], start, end))      # Chattogram
  assert len(api.requests) == 2 and api.requests[0].query['lat'] == '22.3569'
  assert len(observations) == 9 * 24                                # nothing outside the span
  first = observations[0]
  assert first['id'] == 1205733 and first['name'] == 'Chattogram'
  assert first['dt'] == int(start.timestamp())
  assert first['main']['temp'] == 2.3 and first['main']['feels_like'] == -1.45   # from Kelvin
  assert first['rain'] == {'1h': 0.9} and first['weather'][0]['main'] == 'Rain'
  from schemas.sources import OpenWeatherCurrent
  OpenWeatherCurrent.model_validate(first)                          # the topic's contract


def test_unit_conversion_of_history_entries():
  entry = fixture('openweather_history_city_official_example.json')['list'][0]
  imperial = current_shape(BD_CITIES[0], entry, 'imperial')
  assert imperial['main']['temp'] == 36.14 and imperial['wind']['speed'] == 4.83
  assert current_shape(BD_CITIES[0], entry, 'standard')['main']['temp'] == 275.45


def test_keys_are_city_and_hour():
  assert observation_key(1185241, 1795867199) == '1185241:2026-11-28T11'
  assert city_id_of_key('1185241:2026-11-28T11') == city_id_of_key('1185241') == 1185241


def test_backfill_command_publishes_every_city_hour(monkeypatch, tmp_path):
  """`python -m agents.openweather --backfill --since ...` against the replay server."""
  monkeypatch.setenv('T_OWM_KEY', 'owm-key')
  now = datetime.datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
  from agents import runner
  monkeypatch.setattr(cli, 'run_once', functools.partial(runner.run_once, clock=lambda: now))
  out = io.StringIO()
  monkeypatch.setattr(cli, 'DryRunSink', functools.partial(runner.DryRunSink, out=out))
  with FakeApi() as api:
    _history_fake(api)
    code = cli.main('openweather', 'test', agent_module.add_arguments, agent_module.build, [
        '--backfill', '--since', '2026-11-27T00:00:00Z', '--dry-run', '--base-url', api.url,
        '--api-key', 'env:T_OWM_KEY', '--checkpoint-dir', str(tmp_path), '--log-level', 'ERROR'])
  assert code == 0
  lines = [json.loads(line) for line in out.getvalue().splitlines()]
  # 2026-11-27T00 .. 2026-11-28T11 (now minus the one-hour lag): 36 hours x 8 cities.
  keys = [line['key'] for line in lines]
  assert len(keys) == len(set(keys)) == 36 * 8
  assert '1185241:2026-11-27T00' in keys and '1185162:2026-11-28T10' in keys
  assert all(line['topic'] == 'context.weather' for line in lines)
  assert lines[0]['value']['main']['temp'] == 2.3
  assert {r.path for r in api.requests} == {'/data/2.5/history/city'}


def test_backfill_without_a_history_plan_says_so(monkeypatch):
  monkeypatch.setenv('T_OWM_KEY', 'owm-key')
  with FakeApi() as api:
    api.route('GET', '/data/2.5/history/city', [Reply(401, {'cod': 401, 'message': 'Invalid API key'})])
    config = OpenWeatherConfig(SecretRef.parse('env:T_OWM_KEY'), base_url=api.url)
    agent = agent_module.OpenWeatherBackfill(
        OpenWeatherClient(config, HttpConfig(api.url), sleep=FakeSleep()))
    start = datetime.datetime(2026, 11, 1, tzinfo=UTC)
    with agent, pytest.raises(AuthExpired) as e:
      list(agent.fetch(start, start + datetime.timedelta(days=1)))
  assert 'plan has no historical data' in str(e.value)


def test_the_weather_topic_keeps_a_compacted_history_with_retention():
  from pipeline.topics import TOPICS_FILE, load_topics
  [topic] = [t for t in load_topics(TOPICS_FILE).topics if t.source == 'openweather']
  assert topic.configs()['cleanup.policy'] == 'compact,delete'
  assert int(topic.configs()['retention.ms']) == 30 * 86400 * 1000
