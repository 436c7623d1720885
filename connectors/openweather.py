"""OpenWeather current weather (`GET data/2.5/weather`) for the 8 divisional cities of Bangladesh.

Cities are queried by id, or by coordinates where an id is unconfirmed; either way the Kafka key
is the id we asked for, because a coordinate lookup can answer with a division's id and name
(../shared/fixtures/bd_cities.md).
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple, Optional

from connectors.http import ApiClient, HttpConfig
from connectors.secrets import SecretRef

DEFAULT_BASE_URL = 'https://api.openweathermap.org'


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


@dataclasses.dataclass(frozen=True)
class OpenWeatherConfig:
  api_key: SecretRef
  base_url: str = DEFAULT_BASE_URL
  units: str = 'metric'
  by_coordinates_when_unconfirmed: bool = True

  def __post_init__(self):
    if self.units not in ('metric', 'imperial', 'standard'):
      raise ValueError(f'units must be metric, imperial or standard, got {self.units!r}')


class OpenWeatherClient(ApiClient):
  """One current-weather object per call; 401 (bad or revoked key) is not refreshable."""

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
