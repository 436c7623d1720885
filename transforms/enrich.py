"""Weather and product enrichment from side inputs.

Side inputs hold *snapshots* (all cities' weather, the whole catalog) with the time they were
loaded. In batch they are loaded once; in streaming PeriodicImpulse reloads them (the
slowly-updating side input pattern) into the global window with a repeating trigger. The enrich
DoFns take the side input as an iterable and use the newest snapshot they see, so they work with
either windowing, and with runners that keep earlier panes.

Beam 2.62's portable Flink runner cannot checkpoint an operator holding such a side input (the
snapshot of its side-input state fails with a ClassCastException, every checkpoint fails, so Kafka
offsets are never committed and the job restarts). On Flink the graph therefore passes
`InProcessSnapshots` instead: the same loaders, refreshed inside the enrich DoFn on the same
interval, with the same failure handling and counters.

A miss (unknown city, weather older than EnrichConfig.weather_max_age_s, unknown SKU) follows the
configured MissingPolicy: flagged and counted by default, never silently dropped.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import time
from typing import Callable, Iterable, Mapping, NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms import trigger, window
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from pydantic import ValidationError

from schemas.normalized import Flag, MarketOrder, Product, SocialPost, Weather, evolve
from schemas.sources import OpenWeatherCurrent, ProductMetadata
from transforms.cities import CITY_BY_ID, resolve_city
from transforms.config import EnrichConfig, MissingPolicy, utc_now
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG, DeadLetterFactory
from transforms.metrics import NAMESPACE

_LOG = logging.getLogger(__name__)
STAGE = 'enrich'


class MissingEnrichment(LookupError):
  """Raised into the DLQ only under MissingPolicy.FAIL."""


@dataclasses.dataclass(frozen=True)
class WeatherSnapshot:
  """The latest observation per city id (our ids: transforms/cities.py), and when it was loaded."""
  loaded_at: datetime.datetime
  by_city: Mapping[int, Weather]


@dataclasses.dataclass(frozen=True)
class ProductCatalog:
  loaded_at: datetime.datetime
  by_sku: Mapping[str, Product]
  by_product_id: Mapping[str, Product]


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
  """From (queried city id or None, OpenWeather JSON dict/bytes); invalid entries are skipped."""
  by_city: dict[int, Weather] = {}
  for city_id, payload in items:
    try:
      model = (OpenWeatherCurrent.model_validate_json(payload) if isinstance(payload, (bytes, str))
               else OpenWeatherCurrent.model_validate(payload))
    except ValidationError as e:
      _LOG.warning('Skipping an invalid weather entry for city %s: %d error(s)', city_id,
                   e.error_count())
      continue
    weather = weather_from_openweather(model, city_id)
    current = by_city.get(weather.city_id)
    if current is None or weather.observed_at >= current.observed_at:
      by_city[weather.city_id] = weather
  return WeatherSnapshot(loaded_at, by_city)


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


@dataclasses.dataclass(frozen=True)
class WeatherSnapshotFile:
  """Loader: a JSON file `{city_id: OpenWeather current-weather JSON}` (or a list of them).

  For offline runs and tests: saved OpenWeather responses keyed by the city id that was queried.
  """
  path: str
  clock: Callable[[], datetime.datetime] = utc_now

  def __call__(self) -> WeatherSnapshot:
    with open(self.path, encoding='utf-8') as f:
      data = json.load(f)
    items = ([(int(k), v) for k, v in data.items()] if isinstance(data, dict)
             else [(None, v) for v in data])
    return weather_snapshot(items, self.clock())


@dataclasses.dataclass(frozen=True)
class OpenWeatherLoader:
  """Loader: current weather for the eight cities from the OpenWeather API (connectors/openweather).

  A city that fails this round is left out (the record is then flagged weather_missing); the
  client does the retries, backoff and HTTP 429 handling.
  """
  api_key_ref: str
  clock: Callable[[], datetime.datetime] = utc_now

  def __call__(self) -> WeatherSnapshot:
    from connectors.http import ApiError
    from connectors.openweather import BD_CITIES, OpenWeatherClient, OpenWeatherConfig
    from connectors.secrets import SecretRef
    items = []
    with OpenWeatherClient(OpenWeatherConfig(api_key=SecretRef.parse(self.api_key_ref))) as client:
      for city in BD_CITIES:
        try:
          items.append((city.city_id, client.current(city)))
        except ApiError as e:
          _LOG.warning('No weather for city %s this round: %s', city.city_id, type(e).__name__)
    return weather_snapshot(items, self.clock())


@dataclasses.dataclass(frozen=True)
class ProductCatalogFile:
  """Loader: a catalog file, JSON list or JSON lines of context.products values."""
  path: str
  clock: Callable[[], datetime.datetime] = utc_now

  def __call__(self) -> ProductCatalog:
    with open(self.path, encoding='utf-8') as f:
      text = f.read()
    stripped = text.lstrip()
    items = json.loads(text) if stripped.startswith('[') else [
        line for line in text.splitlines() if line.strip()]
    return product_catalog(items, self.clock())


_NEVER = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


def empty_weather_snapshot() -> WeatherSnapshot:
  return WeatherSnapshot(_NEVER, {})


def empty_product_catalog() -> ProductCatalog:
  return ProductCatalog(_NEVER, {}, {})


class _LoadSnapshotFn(beam.DoFn):
  """Calls the loader. A failed refresh keeps the previous snapshot; a failed *first* load emits
  an empty snapshot (older than any real one), so records flow on, flagged, instead of waiting
  for a side input that never became ready."""

  def __init__(self, loader: Callable[[], object], empty: Callable[[], object], name: str):
    self._loader = loader
    self._empty = empty
    self._num_loaded = Metrics.counter(NAMESPACE, f'num_{name}_refreshes')
    self._num_failed = Metrics.counter(NAMESPACE, f'num_{name}_refresh_failures')

  def setup(self):
    self._loaded_once = False

  def process(self, unused_tick):
    snapshot = _try_load(self._loader, 'Side input', self._num_loaded, self._num_failed)
    if snapshot is None and self._loaded_once:
      return                        # keep the previous snapshot: emit nothing
    self._loaded_once = True
    yield snapshot if snapshot is not None else self._empty()


def _try_load(loader: Callable[[], object], what: str, num_loaded, num_failed) -> Optional[object]:
  """The loader's snapshot, counted; None (counted, logged) when loading failed."""
  try:
    snapshot = loader()
  except (OSError, ValueError, LookupError) as e:
    num_failed.inc()
    _LOG.warning('%s refresh failed (%s); keeping the previous snapshot', what, type(e).__name__)
    return None
  num_loaded.inc()
  return snapshot


class InProcessSnapshots:
  """A snapshot source held by the enrich DoFn itself: loaded in setup(), reloaded when older
  than refresh_interval_s (checked per bundle; None: never). Like _LoadSnapshotFn, a failed
  reload keeps the previous snapshot and a failed first load gives the empty one.

  `monotonic` is injectable for tests.
  """

  def __init__(self, loader: Callable[[], object], empty: Callable[[], object], name: str,
               refresh_interval_s: Optional[float] = None,
               monotonic: Callable[[], float] = time.monotonic):
    if refresh_interval_s is not None and refresh_interval_s <= 0:
      raise ValueError('refresh_interval_s must be positive (or None to load once)')
    self._loader = loader
    self._empty = empty
    self.name = name
    self._refresh_interval_s = refresh_interval_s
    self._monotonic = monotonic
    self._snapshot = None
    self._loaded_at = None

  def __getstate__(self):
    state = dict(self.__dict__)
    state.update(_snapshot=None, _loaded_at=None)   # each worker loads its own
    return state

  def current(self, num_loaded, num_failed):
    """The snapshot to use now, reloading first if it is due."""
    now = self._monotonic()
    due = self._loaded_at is None or (
        self._refresh_interval_s is not None and now - self._loaded_at >= self._refresh_interval_s)
    if due:
      self._loaded_at = now
      snapshot = _try_load(self._loader, self.name, num_loaded, num_failed)
      if snapshot is not None:
        self._snapshot = snapshot
      elif self._snapshot is None:
        self._snapshot = self._empty()
    return self._snapshot


def weather_in_process(loader: Callable[[], WeatherSnapshot],
                       refresh_interval_s: Optional[float] = None) -> InProcessSnapshots:
  return InProcessSnapshots(loader, empty_weather_snapshot, 'weather', refresh_interval_s)


def catalog_in_process(loader: Callable[[], ProductCatalog],
                       refresh_interval_s: Optional[float] = None) -> InProcessSnapshots:
  return InProcessSnapshots(loader, empty_product_catalog, 'catalog', refresh_interval_s)


class _SlowlyUpdatingSideInput(beam.PTransform):
  """PBegin → PCollection of snapshots. refresh_interval_s=None: load once (batch)."""

  def __init__(self, loader: Callable[[], object], empty: Callable[[], object], name: str,
               refresh_interval_s: Optional[float] = None, stop_after_s: Optional[float] = None):
    super().__init__()
    if refresh_interval_s is not None and refresh_interval_s <= 0:
      raise ValueError('refresh_interval_s must be positive (or None to load once)')
    if stop_after_s is not None and refresh_interval_s is None:
      raise ValueError('stop_after_s only applies with refresh_interval_s')
    self._loader = loader
    self._empty = empty
    self._name = name
    self._refresh_interval_s = refresh_interval_s
    self._stop_after_s = stop_after_s

  def expand(self, pbegin):
    if self._refresh_interval_s is None:
      ticks = pbegin | 'LoadOnce' >> beam.Create([None])
      return ticks | 'Load' >> beam.ParDo(_LoadSnapshotFn(self._loader, self._empty, self._name))
    impulse_args = {'fire_interval': self._refresh_interval_s}
    if self._stop_after_s is not None:  # bounded refreshing: tests and finite replays
      start = time.time()
      impulse_args.update(start_timestamp=start, stop_timestamp=start + self._stop_after_s)
    ticks = pbegin | 'PeriodicImpulse' >> PeriodicImpulse(**impulse_args)
    return (ticks
            | 'Load' >> beam.ParDo(_LoadSnapshotFn(self._loader, self._empty, self._name))
            | 'LatestPane' >> beam.WindowInto(
                window.GlobalWindows(), trigger=trigger.Repeatedly(trigger.AfterCount(1)),
                accumulation_mode=trigger.AccumulationMode.DISCARDING))


class WeatherSideInput(_SlowlyUpdatingSideInput):
  """PBegin → PCollection[WeatherSnapshot]; pass it to EnrichRecords(weather=...).

  loader: WeatherSnapshotFile(path) offline, OpenWeatherLoader(api_key_ref) live.
  refresh_interval_s: None in batch (load once); e.g. 600 in streaming.
  """

  def __init__(self, loader: Callable[[], WeatherSnapshot], refresh_interval_s: Optional[float] = None,
               stop_after_s: Optional[float] = None):
    super().__init__(loader, empty_weather_snapshot, 'weather', refresh_interval_s, stop_after_s)


class ProductSideInput(_SlowlyUpdatingSideInput):
  """PBegin → PCollection[ProductCatalog]; loader e.g. ProductCatalogFile(path)."""

  def __init__(self, loader: Callable[[], ProductCatalog], refresh_interval_s: Optional[float] = None,
               stop_after_s: Optional[float] = None):
    super().__init__(loader, empty_product_catalog, 'catalog', refresh_interval_s, stop_after_s)


def _newest(snapshots: Iterable) -> Optional[object]:
  newest = None
  for s in snapshots:
    if s is not None and (newest is None or s.loaded_at >= newest.loaded_at):
      newest = s
  return newest


class EnrichResult(NamedTuple):
  records: beam.PCollection       # of SocialPost | MarketOrder (weather/products/flags set)
  dead_letters: beam.PCollection  # of DeadLetter (only under MissingPolicy.FAIL)


class _EnrichFn(beam.DoFn):

  def __init__(self, config: EnrichConfig, weather: Optional[InProcessSnapshots] = None,
               catalog: Optional[InProcessSnapshots] = None):
    self._config = config
    self._weather_source = weather
    self._catalog_source = catalog
    self._max_age = datetime.timedelta(seconds=config.weather_max_age_s)
    c = lambda name: Metrics.counter(NAMESPACE, name)
    self._num_weather = c('num_weather_enriched')
    self._num_unknown_city = c('num_weather_unknown_city')
    self._num_stale = c('num_weather_stale')
    self._num_weather_missing = c('num_weather_missing')
    self._num_product = c('num_product_enriched')
    self._num_product_miss = c('num_product_miss')
    self._num_failed = c('num_enrich_failed')
    self._refresh_counters = {
        source.name: (c(f'num_{source.name}_refreshes'), c(f'num_{source.name}_refresh_failures'))
        for source in (weather, catalog) if source is not None}

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._config.dead_letter)
    self._in_process = {}

  def start_bundle(self):
    # In-process snapshots are (re)loaded between bundles, never in the middle of one.
    for key, source in (('weather', self._weather_source), ('catalog', self._catalog_source)):
      if source is not None:
        self._in_process[key] = source.current(*self._refresh_counters[source.name])

  def process(self, record, weather_snapshots=(), catalogs=()):
    weather_snapshot = self._in_process.get('weather') or _newest(weather_snapshots)
    catalog = self._in_process.get('catalog') or _newest(catalogs)
    misses: list[str] = []
    changes = {}
    weather, city_name, weather_flag = self._weather_for(record, weather_snapshot)
    if weather is not None:
      changes['weather'] = weather
    if city_name is not None and city_name != record.city:
      changes['city'] = city_name
    if weather_flag is not None:
      misses.append(weather_flag)
    if isinstance(record, MarketOrder) and record.lines:
      lines, product_miss = self._products_for(record, catalog)
      changes['lines'] = lines
      if product_miss:
        misses.append(Flag.PRODUCT_MISS)
    weather_policy, product_policy = self._config.missing_weather, self._config.missing_product
    failing = [m for m in misses if (m == Flag.PRODUCT_MISS and product_policy is MissingPolicy.FAIL)
               or (m != Flag.PRODUCT_MISS and weather_policy is MissingPolicy.FAIL)]
    if failing:
      self._num_failed.inc()
      yield beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, self._dead_letters.from_record(
          STAGE, record, MissingEnrichment(f'enrichment missing: {", ".join(failing)}')))
      return
    flags = [m for m in misses if (m == Flag.PRODUCT_MISS and product_policy is MissingPolicy.FLAG)
             or (m != Flag.PRODUCT_MISS and weather_policy is MissingPolicy.FLAG)]
    if flags:
      changes['flags'] = record.flags + tuple(f for f in flags if f not in record.flags)
    yield evolve(record, **changes) if changes else record

  def _weather_for(self, record, snapshot: Optional[WeatherSnapshot]):
    city = resolve_city([record.city]) if record.city else None
    if city is None and isinstance(record, SocialPost) and record.hashtags:
      city = resolve_city(record.hashtags)
    if city is None:
      self._num_unknown_city.inc()
      return None, None, Flag.WEATHER_UNKNOWN_CITY
    weather = snapshot.by_city.get(city.city_id) if snapshot is not None else None
    if weather is None:
      self._num_weather_missing.inc()
      return None, city.name, Flag.WEATHER_MISSING
    if abs(record.event_time - weather.observed_at) > self._max_age:
      self._num_stale.inc()
      return None, city.name, Flag.WEATHER_STALE
    self._num_weather.inc()
    return weather, city.name, None

  def _products_for(self, record: MarketOrder, catalog: Optional[ProductCatalog]):
    lines, miss = [], False
    for line in record.lines:
      product = None
      if catalog is not None:
        product = (catalog.by_sku.get(line.sku) if line.sku else None) or (
            catalog.by_product_id.get(line.product_id) if line.product_id else None)
      if product is None:
        miss = True
        self._num_product_miss.inc()
        lines.append(line)
      else:
        self._num_product.inc()
        lines.append(evolve(line, product=product))
    return tuple(lines), miss


class EnrichRecords(beam.PTransform):
  """PCollection[SocialPost | MarketOrder] → EnrichResult(records, dead_letters).

  weather: PCollection[WeatherSnapshot] (WeatherSideInput), products: PCollection[ProductCatalog]
  (ProductSideInput), or either as InProcessSnapshots (weather_in_process / catalog_in_process:
  loaded by the DoFn itself, for runners that cannot checkpoint side inputs); either may be None
  (then every record misses that enrichment).
  """

  def __init__(self, config: EnrichConfig, weather=None, products=None):
    super().__init__()
    self._config = config
    self._weather = weather
    self._products = products

  def expand(self, records) -> EnrichResult:
    side, in_process = {}, {}
    for arg, source in (('weather', self._weather), ('catalog', self._products)):
      if isinstance(source, InProcessSnapshots):
        in_process[arg] = source
      elif source is not None:
        side['weather_snapshots' if arg == 'weather' else 'catalogs'] = beam.pvalue.AsIter(source)
    outputs = records | 'AddWeatherAndProducts' >> beam.ParDo(
        _EnrichFn(self._config, **in_process), **side).with_outputs(DEAD_LETTER_TAG, main=VALID_TAG)
    return EnrichResult(outputs[VALID_TAG], outputs[DEAD_LETTER_TAG])
