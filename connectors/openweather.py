"""OpenWeather for the 8 divisional cities of Bangladesh: current weather and hourly history.

- Current weather, `GET data/2.5/weather`: cities are queried by id, or by coordinates where an id
  is unconfirmed; either way the observation is filed under the id we asked for, because a
  coordinate lookup can answer with a division's id and name (../shared/fixtures/bd_cities.md).
- History, `GET data/2.5/history/city?lat&lon&type=hour&start&end` on history.openweathermap.org
  (paid plans; a key without it gets HTTP 401): hourly observations, at most a week per call.
  Its documented example answers in Kelvin and its parameter list has no `units`, so the
  entries are converted here to the configured units, and each is reshaped into a
  current-weather object (id, name, coord, dt, main, wind, clouds, weather, rain, snow): the
  weather topic and the enrichment read one shape.

Observations are keyed by city and hour (`1185241:2026-11-28T11`, UTC): the weather topic keeps
one per city and hour (compacted), so it holds a history that enrichment can pick from.
"""
from __future__ import annotations

import dataclasses
import datetime
import logging
from typing import Iterator, NamedTuple, Optional

from connectors.http import ApiClient, ApiError, HttpConfig
from connectors.secrets import SecretRef

_LOG = logging.getLogger(__name__)

DEFAULT_BASE_URL = 'https://api.openweathermap.org'
DEFAULT_HISTORY_BASE_URL = 'https://history.openweathermap.org'
MAX_HISTORY_SPAN = datetime.timedelta(days=7)     # the History API's limit per response


class City(NamedTuple):
  name: str
  city_id: int
  lat: float
  lon: float
  id_confirmed: bool


# ../shared/fixtures/bd_cities.md: ids 1185241, 1336135, 1185128 are confirmed in real responses;
# the others are GeoNames ids not yet seen from OpenWeather, so those are queried by lat/lon.
BD_CITIES = (
    City('Dhaka', 1185241, 23.7104, 90.4074, True),
    City('Chattogram', 1205733, 22.3569, 91.7832, False),
    City('Khulna', 1336135, 22.8135, 89.5672, True),
    City('Rajshahi', 1185128, 24.3704, 88.6367, True),
    City('Sylhet', 1185099, 24.8949, 91.8687, False),
    City('Barishal', 1336137, 22.7010, 90.3535, False),
    City('Rangpur', 1185188, 25.7466, 89.2517, False),
    City('Mymensingh', 1185162, 24.7471, 90.4203, False),
)


def observation_key(city_id: int, observed_at_s: int) -> str:
  """The weather topic's key: city id and the UTC hour of the observation."""
  hour = datetime.datetime.fromtimestamp(observed_at_s, datetime.timezone.utc)
  return f'{city_id}:{hour:%Y-%m-%dT%H}'


def city_id_of_key(key: str) -> int:
  """The city id of a weather key: `1185241:2026-11-28T11`, or a bare `1185241` (older topics)."""
  return int(key.split(':', 1)[0])


@dataclasses.dataclass(frozen=True)
class OpenWeatherConfig:
  api_key: SecretRef
  base_url: str = DEFAULT_BASE_URL
  units: str = 'metric'
  by_coordinates_when_unconfirmed: bool = True

  def __post_init__(self):
    if self.units not in ('metric', 'imperial', 'standard'):
      raise ValueError(f'units must be metric, imperial or standard, got {self.units!r}')


def _from_kelvin(kelvin, units: str):
  if not isinstance(kelvin, (int, float)) or isinstance(kelvin, bool):
    return kelvin
  if units == 'metric':
    return round(kelvin - 273.15, 2)
  if units == 'imperial':
    return round((kelvin - 273.15) * 9 / 5 + 32, 2)
  return kelvin


def current_shape(city: City, entry: dict, units: str) -> dict:
  """A History API hourly entry (Kelvin, m/s) as a current-weather object in `units`."""
  main = dict(entry.get('main') or {})
  for name in ('temp', 'feels_like', 'temp_min', 'temp_max'):
    if name in main:
      main[name] = _from_kelvin(main[name], units)
  wind = dict(entry.get('wind') or {})
  if units == 'imperial' and isinstance(wind.get('speed'), (int, float)):
    wind['speed'] = round(wind['speed'] * 2.236936, 2)    # m/s -> miles/hour
  shaped = {'coord': {'lon': city.lon, 'lat': city.lat}, 'id': city.city_id, 'name': city.name,
            'dt': entry.get('dt'), 'main': main, 'wind': wind,
            'weather': entry.get('weather') or [], 'clouds': entry.get('clouds') or {}}
  for name in ('rain', 'snow'):
    if entry.get(name):
      shaped[name] = entry[name]
  return shaped


class OpenWeatherClient(ApiClient):
  """Current weather (one object per call) and hourly history; 401 (bad or revoked key, or no
  History plan) is not refreshable."""

  source = 'openweather'

  def __init__(self, config: OpenWeatherConfig, http: Optional[HttpConfig] = None, **kwargs):
    super().__init__(http or HttpConfig(config.base_url), **kwargs)
    self.weather = config
    self._key: Optional[str] = None

  def authorize(self, request: dict) -> None:
    if self._key is None:
      self._key = self.weather.api_key.resolve()
    request['params']['appid'] = self._key

  def refresh_auth(self) -> bool:
    fresh = self.weather.api_key.resolve()
    changed, self._key = fresh != self._key, fresh
    return changed

  def current(self, city: City) -> dict:
    params: dict = {'units': self.weather.units}
    if city.id_confirmed or not self.weather.by_coordinates_when_unconfirmed:
      params['id'] = city.city_id
    else:
      params.update(lat=city.lat, lon=city.lon)
    response, body = self.fetch_json('GET', '/data/2.5/weather', params=params)
    if not isinstance(body, dict) or 'main' not in body:
      raise self.malformed('current weather without "main"', response)
    return body

  def history(self, city: City, start: datetime.datetime,
              end: datetime.datetime) -> Iterator[dict]:
    """Hourly observations of [start, end) as current-weather objects, a week per call."""
    while start < end:
      stop = min(end, start + MAX_HISTORY_SPAN)
      response, body = self.fetch_json('GET', '/data/2.5/history/city', params={
          'lat': city.lat, 'lon': city.lon, 'type': 'hour',
          'start': int(start.timestamp()), 'end': int(stop.timestamp())})
      entries = body.get('list') if isinstance(body, dict) else None
      if not isinstance(entries, list):
        raise self.malformed('history without a "list"', response)
      for entry in entries:
        if isinstance(entry, dict) and isinstance(entry.get('dt'), int) and (
            start.timestamp() <= entry['dt'] < stop.timestamp()):
          yield current_shape(city, entry, self.weather.units)
      start = stop


@dataclasses.dataclass(frozen=True)
class OpenWeatherLoader:
  """The current weather of the eight cities, as (queried city id, response) pairs.

  What the pipeline's live weather source loads (transforms/context.py turns the pairs into a
  snapshot). A city that fails this round is left out, logged; the client does the retries,
  backoff and HTTP 429 handling.
  """
  api_key_ref: str
  base_url: str = DEFAULT_BASE_URL

  def __call__(self) -> list[tuple[int, dict]]:
    items = []
    config = OpenWeatherConfig(api_key=SecretRef.parse(self.api_key_ref), base_url=self.base_url)
    with OpenWeatherClient(config) as client:
      for city in BD_CITIES:
        try:
          items.append((city.city_id, client.current(city)))
        except ApiError as e:
          _LOG.warning('No weather for city %s this round: %s', city.city_id, type(e).__name__)
    return items
