"""Weather agent: current weather of the 8 divisional cities -> the weather context topic.

    python -m agents.openweather --api-key env:OPENWEATHER_API_KEY --interval 600
"""
from __future__ import annotations

import argparse
import logging
import sys

from agents import cli
from agents.runner import Rejected, SourceAgent
from connectors.http import ApiError, AuthExpired, MalformedResponse
from connectors.openweather import BD_CITIES, DEFAULT_BASE_URL, OpenWeatherClient, OpenWeatherConfig

_LOG = logging.getLogger('agents.openweather')


class OpenWeatherAgent(SourceAgent):
  """No history: each pass publishes the current observation per city, keyed by city id."""
  source = 'openweather'
  windowed = False
  client: OpenWeatherClient

  def fetch(self, start, end):
    page, failures = [], []
    for city in BD_CITIES:
      key = str(city.city_id)
      try:
        page.append((key, self.client.current(city)))
      except MalformedResponse as e:   # one city's bad answer must not cost the other seven
        page.append(Rejected(key, e.body, str(e), type(e).__name__))
      except AuthExpired:
        raise                          # the key is bad for every city
      except ApiError as e:
        _LOG.warning('openweather: no weather for %s this round: %s', city.name, e)
        failures.append(e)
    if len(failures) == len(BD_CITIES):
      raise failures[-1]
    yield page


def add_arguments(parser: argparse.ArgumentParser) -> None:
  parser.add_argument('--api-key', type=cli.secret_ref, default='env:OPENWEATHER_API_KEY',
                      help='secret reference to the API key (default env:OPENWEATHER_API_KEY)')
  parser.add_argument('--units', default='metric', choices=('metric', 'imperial', 'standard'),
                      help='temperature units (metric: °C)')


def build(args: argparse.Namespace) -> OpenWeatherAgent:
  config = OpenWeatherConfig(args.api_key, base_url=args.base_url or DEFAULT_BASE_URL,
                             units=args.units)
  return OpenWeatherAgent(OpenWeatherClient(config, cli.http_config(args, DEFAULT_BASE_URL)))


if __name__ == '__main__':
  sys.exit(cli.main('openweather', __doc__.split('\n\n')[0], add_arguments, build))
