"""Context for enrichment: weather history per city and the product catalog, as snapshots.

A snapshot is immutable and knows when it was loaded. The weather snapshot holds a *history*:
every observation per city (the weather topic keeps one per city and hour), so enrichment takes
the observation nearest to each record's event time, not merely the latest one.

Loaders build snapshots: `WeatherSnapshotFile` / `ProductCatalogFile` (files written by
`python -m pipeline.context_files` from the compacted context topics, or by hand) and
`LiveWeather` (current weather through connectors/openweather.py).

`SnapshotSource` (loader, empty snapshot, name, refresh interval) is the one refresh abstraction.
It has two realisations, and EnrichConfig.context_refresh chooses one for the whole graph:

- SIDE_INPUT: `SnapshotSideInput` loads once (bounded runs) or on a PeriodicImpulse (the
  slowly-updating side input pattern), into the global window with a repeating trigger; the
  enrich DoFn uses the newest snapshot it sees, so any windowing works.
- IN_PROCESS: `InProcessSnapshots`, held by the enrich DoFn and reloaded between bundles once
  the interval has passed. For Flink: Beam 2.62's portable Flink runner cannot checkpoint an
  operator holding such a side input (ClassCastException while snapshotting side-input state:
  no checkpoint, no Kafka offset commit, a restart loop).

Both load through `SnapshotSource.load`: a failed refresh keeps the previous snapshot, a failed
first load gives the empty one (older than any real one), so records flow on, flagged.
"""
from __future__ import annotations

import bisect
import dataclasses
import datetime
import json
import logging
import time
from typing import Callable, Iterable, Mapping, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from pydantic import ValidationError

from schemas.normalized import Product, Weather
from schemas.sources import OpenWeatherCurrent, ProductMetadata
from transforms.cities import CITY_BY_ID
from transforms.config import ContextRefresh, EnrichConfig, utc_now
from transforms.metrics import NAMESPACE

_LOG = logging.getLogger(__name__)
_NEVER = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


# --- snapshots ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class WeatherSnapshot:
  """Observations per city id (our ids: transforms/cities.py), oldest first, and when loaded."""
  loaded_at: datetime.datetime
  history: Mapping[int, tuple[Weather, ...]]

  def __post_init__(self):
    object.__setattr__(self, '_times', {
        city: tuple(w.observed_at.timestamp() for w in observations)
        for city, observations in self.history.items()})

  @property
  def by_city(self) -> dict[int, Weather]:
    """The latest observation per city."""
    return {city: observations[-1] for city, observations in self.history.items() if observations}

  def nearest(self, city_id: int, at: datetime.datetime) -> Optional[Weather]:
    """The observation of `city_id` nearest to `at` (the earlier one on a tie), or None."""
    observations = self.history.get(city_id)
    if not observations:
      return None
    times = self._times[city_id]
    i = bisect.bisect_left(times, at.timestamp())
    if i == 0:
      return observations[0]
    if i == len(times):
      return observations[-1]
    before, after = observations[i - 1], observations[i]
    return before if at - before.observed_at <= after.observed_at - at else after


@dataclasses.dataclass(frozen=True)
class ProductCatalog:
  loaded_at: datetime.datetime
  by_sku: Mapping[str, Product]
  by_product_id: Mapping[str, Product]


def empty_weather_snapshot() -> WeatherSnapshot:
  return WeatherSnapshot(_NEVER, {})


def empty_product_catalog() -> ProductCatalog:
  return ProductCatalog(_NEVER, {}, {})


def weather_from_openweather(payload: OpenWeatherCurrent, city_id: Optional[int] = None) -> Weather:
  """Our Weather from an OpenWeather response; `city_id` is the id we queried (else the response's)."""
  city_id = city_id if city_id is not None else payload.id
  city = CITY_BY_ID.get(city_id)
  condition = payload.weather[0] if payload.weather else None
  main, wind = payload.main, payload.wind
  return Weather(
      city_id=city_id, city=city.name if city else (payload.name or str(city_id)),
      observed_at=payload.dt,
      temp_c=main.temp if main else None, feels_like_c=main.feels_like if main else None,
      humidity_pct=main.humidity if main else None, pressure_hpa=main.pressure if main else None,
      wind_speed_ms=wind.speed if wind else None,
      clouds_pct=payload.clouds.all if payload.clouds else None,
      rain_1h_mm=payload.rain.one_hour if payload.rain else None,
      condition=condition.main if condition else None,
      description=condition.description if condition else None)


def product_from_metadata(meta: ProductMetadata) -> Product:
  return Product(sku=meta.sku, product_id=meta.product_id, title=meta.title, category=meta.category,
                 brand=meta.brand, price_bdt=meta.price_bdt, updated_at=meta.updated_at)


def weather_snapshot(items: Iterable[tuple[Optional[int], object]],
                     loaded_at: datetime.datetime) -> WeatherSnapshot:
  """From (queried city id or None, OpenWeather JSON dict/bytes); invalid entries are skipped.

  One observation per city and observation time: of two with the same `dt`, the later wins.
  """
  by_city: dict[int, dict[datetime.datetime, Weather]] = {}
  for city_id, payload in items:
    try:
      model = (OpenWeatherCurrent.model_validate_json(payload) if isinstance(payload, (bytes, str))
               else OpenWeatherCurrent.model_validate(payload))
    except ValidationError as e:
      _LOG.warning('Skipping an invalid weather entry for city %s: %d error(s)', city_id,
                   e.error_count())
      continue
    weather = weather_from_openweather(model, city_id)
    by_city.setdefault(weather.city_id, {})[weather.observed_at] = weather
  return WeatherSnapshot(loaded_at, {
      city: tuple(observations[at] for at in sorted(observations))
      for city, observations in by_city.items()})


def product_catalog(items: Iterable[object], loaded_at: datetime.datetime) -> ProductCatalog:
  by_sku: dict[str, Product] = {}
  by_product_id: dict[str, Product] = {}
  for payload in items:
    try:
      meta = (ProductMetadata.model_validate_json(payload) if isinstance(payload, (bytes, str))
              else ProductMetadata.model_validate(payload))
    except ValidationError as e:
      _LOG.warning('Skipping an invalid product entry: %d error(s)', e.error_count())
      continue
    product = product_from_metadata(meta)
    by_sku[product.sku] = product
    if product.product_id:
      by_product_id[product.product_id] = product
  return ProductCatalog(loaded_at, by_sku, by_product_id)


# --- loaders ------------------------------------------------------------------------------------

def _weather_file_items(data) -> list[tuple[Optional[int], object]]:
  """The entries of a weather file: `{key: observation or [observations]}` keyed by the weather
  topic's keys (`1185241:2026-11-28T11`, or a bare city id), or a list of observations."""
  if isinstance(data, list):
    return [(None, v) for v in data]
  if not isinstance(data, dict):
    raise ValueError('a weather file holds a JSON object or list')
  items = []
  for key, value in data.items():
    try:
      city_id = int(str(key).split(':', 1)[0])
    except ValueError:
      _LOG.warning('Skipping a weather entry whose key is not a city id')
      continue
    items.extend((city_id, v) for v in (value if isinstance(value, list) else [value]))
  return items


@dataclasses.dataclass(frozen=True)
class WeatherSnapshotFile:
  """Loader: a JSON file of OpenWeather current-weather objects, keyed by the city id that was
  queried (optionally with the hour, as the weather topic keys them), one or a list per key;
  or a JSON list of them. `python -m pipeline.context_files` writes the topic's history so."""
  path: str
  clock: Callable[[], datetime.datetime] = utc_now

  def __call__(self) -> WeatherSnapshot:
    with open(self.path, encoding='utf-8') as f:
      data = json.load(f)
    return weather_snapshot(_weather_file_items(data), self.clock())


@dataclasses.dataclass(frozen=True)
class LiveWeather:
  """Loader: current weather of the eight cities from the OpenWeather API (one observation per
  city: history comes from the weather topic, through a snapshot file)."""
  api_key_ref: str
  clock: Callable[[], datetime.datetime] = utc_now

  def __call__(self) -> WeatherSnapshot:
    from connectors.openweather import OpenWeatherLoader  # a network client: imported on use
    return weather_snapshot(OpenWeatherLoader(self.api_key_ref)(), self.clock())


@dataclasses.dataclass(frozen=True)
class ProductCatalogFile:
  """Loader: a catalog file, JSON list or JSON lines of context.products values."""
  path: str
  clock: Callable[[], datetime.datetime] = utc_now

  def __call__(self) -> ProductCatalog:
    with open(self.path, encoding='utf-8') as f:
      text = f.read()
    items = json.loads(text) if text.lstrip().startswith('[') else [
        line for line in text.splitlines() if line.strip()]
    return product_catalog(items, self.clock())


# --- the one refresh abstraction ----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class SnapshotSource:
  """A loader and how often to run it. `name` ('weather', 'catalog') names its counters:
  num_<name>_refreshes, num_<name>_refresh_failures.

  refresh_interval_s: None loads once. stop_after_s (side input only): stop refreshing after
  that long (tests, finite replays).
  """
  name: str
  loader: Callable[[], object]
  empty: Callable[[], object]
  refresh_interval_s: Optional[float] = None
  stop_after_s: Optional[float] = None

  def __post_init__(self):
    if self.refresh_interval_s is not None and self.refresh_interval_s <= 0:
      raise ValueError('refresh_interval_s must be positive (or None to load once)')
    if self.stop_after_s is not None and self.refresh_interval_s is None:
      raise ValueError('stop_after_s only applies with refresh_interval_s')

  def counters(self):
    return (Metrics.counter(NAMESPACE, f'num_{self.name}_refreshes'),
            Metrics.counter(NAMESPACE, f'num_{self.name}_refresh_failures'))

  def due(self, last_load: Optional[float], now: float) -> bool:
    return last_load is None or (
        self.refresh_interval_s is not None and now - last_load >= self.refresh_interval_s)

  def load(self, num_loaded, num_failed) -> Optional[object]:
    """The loader's snapshot, counted; None (counted, logged) when loading failed."""
    try:
      snapshot = self.loader()
    except (OSError, ValueError, LookupError) as e:
      num_failed.inc()
      _LOG.warning('%s refresh failed (%s); keeping the previous snapshot', self.name,
                   type(e).__name__)
      return None
    num_loaded.inc()
    return snapshot


def weather_source(loader: Callable[[], WeatherSnapshot], refresh_interval_s: Optional[float] = None,
                   stop_after_s: Optional[float] = None) -> SnapshotSource:
  return SnapshotSource('weather', loader, empty_weather_snapshot, refresh_interval_s,
                        stop_after_s)


def catalog_source(loader: Callable[[], ProductCatalog], refresh_interval_s: Optional[float] = None,
                   stop_after_s: Optional[float] = None) -> SnapshotSource:
  return SnapshotSource('catalog', loader, empty_product_catalog, refresh_interval_s,
                        stop_after_s)


def sources_of(config: EnrichConfig) -> tuple[Optional[SnapshotSource], Optional[SnapshotSource]]:
  """(weather, catalog) sources the enrich config names; None where it names none."""
  weather = None
  if config.weather_snapshot:
    weather = weather_source(WeatherSnapshotFile(config.weather_snapshot),
                             config.weather_refresh_s)
  elif config.openweather_key_ref:
    weather = weather_source(LiveWeather(config.openweather_key_ref), config.weather_refresh_s)
  catalog = None
  if config.product_catalog:
    catalog = catalog_source(ProductCatalogFile(config.product_catalog), config.catalog_refresh_s)
  return weather, catalog


class InProcessSnapshots:
  """A SnapshotSource held by the enrich DoFn: loaded at its first bundle, reloaded between
  bundles once due. `monotonic` is injectable for tests; pickled without its data (each worker
  loads its own)."""

  def __init__(self, source: SnapshotSource, monotonic: Callable[[], float] = time.monotonic):
    self.source = source
    self._monotonic = monotonic
    self._snapshot = None
    self._loaded_at: Optional[float] = None

  @property
  def name(self) -> str:
    return self.source.name

  def __getstate__(self):
    state = dict(self.__dict__)
    state.update(_snapshot=None, _loaded_at=None)
    return state

  def current(self, num_loaded, num_failed):
    """The snapshot to use now, reloading first if it is due."""
    now = self._monotonic()
    if self.source.due(self._loaded_at, now):
      self._loaded_at = now
      snapshot = self.source.load(num_loaded, num_failed)
      if snapshot is not None:
        self._snapshot = snapshot
      elif self._snapshot is None:
        self._snapshot = self.source.empty()
    return self._snapshot


class _LoadSnapshotFn(beam.DoFn):
  """One load per tick; a failed refresh emits nothing (the previous snapshot stays newest), a
  failed first load emits the empty snapshot, so records never wait for a side input."""

  def __init__(self, source: SnapshotSource):
    self._source = source

  def setup(self):
    self._loaded_once = False
    self._counters = self._source.counters()

  def process(self, unused_tick):
    snapshot = self._source.load(*self._counters)
    if snapshot is None and self._loaded_once:
      return
    self._loaded_once = True
    yield snapshot if snapshot is not None else self._source.empty()


class SnapshotSideInput(beam.PTransform):
  """PBegin → PCollection of snapshots of `source`: once, or on its refresh interval."""

  def __init__(self, source: SnapshotSource):
    super().__init__()
    self._source = source

  def expand(self, pbegin):
    source = self._source
    if source.refresh_interval_s is None:
      return (pbegin
              | 'LoadOnce' >> beam.Create([None])
              | 'Load' >> beam.ParDo(_LoadSnapshotFn(source)))
    impulse_args = {'fire_interval': source.refresh_interval_s}
    if source.stop_after_s is not None:
      start = time.time()
      impulse_args.update(start_timestamp=start, stop_timestamp=start + source.stop_after_s)
    return (pbegin
            | 'PeriodicImpulse' >> PeriodicImpulse(**impulse_args)
            | 'Load' >> beam.ParDo(_LoadSnapshotFn(source))
            | 'LatestPane' >> beam.WindowInto(
                window.GlobalWindows(), trigger=trigger.Repeatedly(trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING))


class WeatherSideInput(SnapshotSideInput):
  """PBegin → PCollection[WeatherSnapshot]; loader e.g. WeatherSnapshotFile(path)."""

  def __init__(self, loader: Callable[[], WeatherSnapshot], refresh_interval_s: Optional[float] = None,
               stop_after_s: Optional[float] = None):
    super().__init__(weather_source(loader, refresh_interval_s, stop_after_s))


class ProductSideInput(SnapshotSideInput):
  """PBegin → PCollection[ProductCatalog]; loader e.g. ProductCatalogFile(path)."""

  def __init__(self, loader: Callable[[], ProductCatalog], refresh_interval_s: Optional[float] = None,
               stop_after_s: Optional[float] = None):
    super().__init__(catalog_source(loader, refresh_interval_s, stop_after_s))


def newest(snapshots: Iterable) -> Optional[object]:
  """The most recently loaded of the snapshots a side input holds (runners may keep panes)."""
  found = None
  for s in snapshots:
    if s is not None and (found is None or s.loaded_at >= found.loaded_at):
      found = s
  return found


__all__ = [
    'ContextRefresh', 'InProcessSnapshots', 'LiveWeather', 'ProductCatalog', 'ProductCatalogFile',
    'ProductSideInput', 'SnapshotSideInput', 'SnapshotSource', 'WeatherSideInput',
    'WeatherSnapshot', 'WeatherSnapshotFile', 'catalog_source', 'empty_product_catalog',
    'empty_weather_snapshot', 'newest', 'product_catalog', 'sources_of', 'weather_snapshot',
    'weather_source',
]
