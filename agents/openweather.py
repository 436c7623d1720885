"""Weather agent: observations of the 8 divisional cities -> the weather context topic.

    python -m agents.openweather --api-key-ref env:OPENWEATHER_API_KEY --interval 600
    python -m agents.openweather --backfill --since 2026-11-01   # hourly history (paid plans)

Observations are keyed by city and hour (`1185241:2026-11-28T11`), so the compacted topic keeps
one per city and hour: a history that enrichment picks the nearest observation from.
"""
from __future__ import annotations

import argparse
import datetime
import logging
import sys

from agents import cli
from agents.runner import Rejected, SourceAgent
from connectors.http import ApiError, AuthExpired, MalformedResponse
from connectors.openweather import (BD_CITIES, DEFAULT_BASE_URL, DEFAULT_HISTORY_BASE_URL,
                                    OpenWeatherClient, OpenWeatherConfig, observation_key)

_LOG = logging.getLogger('agents.openweather')


def _key(city_id: int, observation: dict) -> str:
  dt = observation.get('dt') if isinstance(observation, dict) else None
  if isinstance(dt, int) and not isinstance(dt, bool):
    return observation_key(city_id, dt)
  return str(city_id)   # no usable `dt`: the runner's shape check dead-letters it


class OpenWeatherAgent(SourceAgent):
  """Each pass publishes the current observation per city, keyed by city id and hour."""
  source = 'openweather'
  windowed = False
  client: OpenWeatherClient

  def fetch(self, start, end):
    page, failures = [], []
    for city in BD_CITIES:
      try:
        observation = self.client.current(city)
        page.append((_key(city.city_id, observation), observation))
      except MalformedResponse as e:   # one city's bad answer must not cost the other seven
        page.append(Rejected(str(city.city_id), e.body, str(e), type(e).__name__))
      except AuthExpired:
        raise                          # the key is bad for every city
      except ApiError as e:
        _LOG.warning('openweather: no weather for %s this round: %s', city.name, e)
        failures.append(e)
    if len(failures) == len(BD_CITIES):
      raise failures[-1]
    yield page


class OpenWeatherBackfill(OpenWeatherAgent):
  """`--backfill`: hourly history from the History API, window by window (a day each, with
  its own checkpoint), every city of a window or none (a failed window is fetched again)."""
  windowed = True
  window = datetime.timedelta(days=1)
  lag = datetime.timedelta(hours=1)    # the last complete hour

  @property
  def scope(self) -> str:
    return 'history'

  def fetch(self, start, end):
    for city in BD_CITIES:
      try:
        page = [(_key(city.city_id, o), o) for o in self.client.history(city, start, end)]
      except MalformedResponse as e:
        page = [Rejected(str(city.city_id), e.body, str(e), type(e).__name__)]
      except AuthExpired as e:
        raise AuthExpired('openweather: HTTP 401 from the History API: the key is wrong or its '
                          'plan has no historical data', status=e.status) from e
      yield page


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--api-key-ref', '--api-key', type=cli.secret_ref, metavar='REF',
                      default='env:OPENWEATHER_API_KEY',
                      help='secret reference (env:NAME or file:PATH) to the API key (default '
                      'env:OPENWEATHER_API_KEY); --api-key is its old name')
  parser.add_argument('--units', default='metric', choices=('metric', 'imperial', 'standard'),
                      help='temperature units (metric: °C)')
  parser.add_argument('--backfill', action='store_true',
                      help='publish the hourly history from --since (or this mode\'s own '
                      'checkpoint) to an hour ago, a day per window, from OpenWeather\'s History '
                      f'API ({DEFAULT_HISTORY_BASE_URL}; --base-url overrides it): a plan with '
                      'historical data is needed')


def build(args: argparse.Namespace) -> OpenWeatherAgent:
  default = DEFAULT_HISTORY_BASE_URL if args.backfill else DEFAULT_BASE_URL
  config = OpenWeatherConfig(args.api_key_ref, base_url=args.base_url or default, units=args.units)
  agent = OpenWeatherBackfill if args.backfill else OpenWeatherAgent
  return agent(OpenWeatherClient(config, cli.http_config(args, default)))


if __name__ == '__main__':
  sys.exit(cli.main('openweather', __doc__.split('\n\n')[0], add_arguments, build))
