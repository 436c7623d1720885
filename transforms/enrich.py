"""EnrichRecords: weather as of each record's event time, and product metadata per order line.

The city of a record is found where it is written: its location fields, then (posts) its
hashtags, then (posts) its scrubbed text, which must name exactly one city (two: unresolved,
counted as num_weather_ambiguous_city). The record gets that city's observation nearest to its
event time from the weather snapshot's history, if it lies within EnrichConfig.weather_max_age_s;
otherwise the record is flagged.

A miss (unknown city, no observation within the max age, unknown SKU) follows the configured
MissingPolicy: flagged and counted by default, never silently dropped. Anything else a record
raises goes to the dead-letter output with its error class, counted as num_unexpected_enrich:
one record's surprise never fails the bundle.

The snapshots come from transforms/context.py; where from and how they refresh is the enrich
config's choice (EnrichConfig.context_refresh), made once for the graph.
"""
from __future__ import annotations

import datetime
from typing import NamedTuple, Optional

import apache_beam as beam

from schemas.normalized import Flag, MarketOrder, SocialPost, evolve, fill
from transforms.cities import city_in_text, resolve_city
from transforms.config import ContextRefresh, DeadLetterConfig, EnrichConfig, MissingPolicy
from transforms.context import (InProcessSnapshots, ProductCatalog, SnapshotSideInput,
                                WeatherSnapshot, newest, sources_of)
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG, DeadLetterFactory
from transforms.tally import CounterTally

STAGE = 'enrich'
NUM_WEATHER, NUM_UNKNOWN_CITY = 'num_weather_enriched', 'num_weather_unknown_city'
NUM_AMBIGUOUS_CITY, NUM_TEXT_CITY = 'num_weather_ambiguous_city', 'num_city_from_text'
NUM_STALE, NUM_WEATHER_MISSING = 'num_weather_stale', 'num_weather_missing'
NUM_PRODUCT, NUM_PRODUCT_MISS = 'num_product_enriched', 'num_product_miss'
NUM_FAILED, NUM_UNEXPECTED = 'num_enrich_failed', f'num_unexpected_{STAGE}'
_COUNTERS = (NUM_WEATHER, NUM_UNKNOWN_CITY, NUM_AMBIGUOUS_CITY, NUM_TEXT_CITY, NUM_STALE,
             NUM_WEATHER_MISSING, NUM_PRODUCT, NUM_PRODUCT_MISS, NUM_FAILED, NUM_UNEXPECTED)


class MissingEnrichment(LookupError):
  """Raised into the DLQ only under MissingPolicy.FAIL."""


class EnrichResult(NamedTuple):
  records: beam.PCollection       # of SocialPost | MarketOrder (weather/products/flags set)
  dead_letters: beam.PCollection  # of DeadLetter (MissingPolicy.FAIL, unexpected errors)


class _EnrichFn(beam.DoFn):

  def __init__(self, config: EnrichConfig, dead_letter: DeadLetterConfig,
               weather: Optional[InProcessSnapshots] = None,
               catalog: Optional[InProcessSnapshots] = None):
    self._config = config
    self._dead_letter_config = dead_letter
    self._in_process_sources = {k: v for k, v in (('weather', weather), ('catalog', catalog))
                                if v is not None}
    self._max_age = datetime.timedelta(seconds=config.weather_max_age_s)
    self._tally = CounterTally(_COUNTERS)
    self._counts = self._tally.counts
    self._refresh_counters = {key: source.source.counters()
                              for key, source in self._in_process_sources.items()}

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._dead_letter_config)
    self._in_process = {}

  def start_bundle(self):
    # In-process snapshots are (re)loaded between bundles, never in the middle of one.
    for key, source in self._in_process_sources.items():
      self._in_process[key] = source.current(*self._refresh_counters[key])

  def process(self, record, weather_snapshots=(), catalogs=()):
    return self.enriched(record, weather_snapshots, catalogs)

  def finish_bundle(self):
    self._tally.flush()

  def enriched(self, record, weather_snapshots=(), catalogs=(), owned: bool = False):
    """The record enriched, or its dead letter (tagged). owned: the caller built the record and
    nobody else holds it yet (the fused chain, transforms/process.py), so its fields are filled
    in place instead of copying it; otherwise a record is never changed, an enriched copy made."""
    try:
      weather = self._in_process.get('weather') or newest(weather_snapshots)
      catalog = self._in_process.get('catalog') or newest(catalogs)
      enriched, failing = self._enrich(record, weather, catalog, owned)
    except Exception as e:  # pylint: disable=broad-except
      # The deliberate last resort (STYLE 16): one record's surprise becomes a counted dead
      # letter with its error class instead of failing the bundle (and every record in it).
      self._counts[NUM_UNEXPECTED] += 1
      return (beam.pvalue.TaggedOutput(DEAD_LETTER_TAG,
                                       self._dead_letters.from_record(STAGE, record, e)),)
    if failing:
      self._counts[NUM_FAILED] += 1
      return (beam.pvalue.TaggedOutput(DEAD_LETTER_TAG, self._dead_letters.from_record(
          STAGE, record, MissingEnrichment(f'enrichment missing: {", ".join(failing)}'))),)
    return (enriched,)

  def _enrich(self, record, weather_snapshot: Optional[WeatherSnapshot],
              catalog: Optional[ProductCatalog], owned: bool = False):
    """(the enriched record, the misses that fail it under MissingPolicy.FAIL)."""
    misses: list[str] = []
    changes = {}
    weather, city_name, weather_flag = self._weather_for(record, weather_snapshot)
    if weather is not None:
      changes['weather'] = weather
    if city_name is not None and city_name != record.city:
      changes['city'] = city_name
    if weather_flag is not None:
      misses.append(weather_flag)
    products = None
    if isinstance(record, MarketOrder) and record.lines:
      products, product_miss = self._products_for(record, catalog)
      if product_miss:
        misses.append(Flag.PRODUCT_MISS)
    if misses:
      weather_policy, product_policy = self._config.missing_weather, self._config.missing_product
      policy = lambda miss: product_policy if miss == Flag.PRODUCT_MISS else weather_policy
      failing = [m for m in misses if policy(m) is MissingPolicy.FAIL]
      if failing:
        return None, failing
      flags = [m for m in misses if policy(m) is MissingPolicy.FLAG]
      if flags:
        changes['flags'] = record.flags + tuple(f for f in flags if f not in record.flags)
    if products is not None:
      if owned:
        for line, product in zip(record.lines, products):
          if product is not None:
            fill(line, product=product)
      elif any(p is not None for p in products):
        changes['lines'] = tuple(line if product is None else evolve(line, product=product)
                                 for line, product in zip(record.lines, products))
    if not changes:
      return record, []
    if owned:
      return fill(record, **changes), []
    return evolve(record, **changes), []

  def _city_of(self, record):
    city = resolve_city([record.city]) if record.city else None
    if city is None and isinstance(record, SocialPost):
      if record.hashtags:
        city = resolve_city(record.hashtags)
      if city is None and record.text:
        found = city_in_text(record.text)
        if found.ambiguous:
          self._counts[NUM_AMBIGUOUS_CITY] += 1
        elif found.city is not None:
          self._counts[NUM_TEXT_CITY] += 1
        city = found.city
    return city

  def _weather_for(self, record, snapshot: Optional[WeatherSnapshot]):
    city = self._city_of(record)
    if city is None:
      self._counts[NUM_UNKNOWN_CITY] += 1
      return None, None, Flag.WEATHER_UNKNOWN_CITY
    weather = snapshot.nearest(city.city_id, record.event_time) if snapshot is not None else None
    if weather is None:
      self._counts[NUM_WEATHER_MISSING] += 1
      return None, city.name, Flag.WEATHER_MISSING
    if abs(record.event_time - weather.observed_at) > self._max_age:
      self._counts[NUM_STALE] += 1
      return None, city.name, Flag.WEATHER_STALE
    self._counts[NUM_WEATHER] += 1
    return weather, city.name, None

  def _products_for(self, record: MarketOrder, catalog: Optional[ProductCatalog]):
    """(the product of each line or None, whether any line missed)."""
    products = []
    if catalog is not None:
      by_sku, by_product_id = catalog.by_sku, catalog.by_product_id
      for line in record.lines:
        products.append((by_sku.get(line.sku) if line.sku else None) or (
            by_product_id.get(line.product_id) if line.product_id else None))
    else:
      products = [None] * len(record.lines)
    misses = products.count(None)
    if misses:
      self._counts[NUM_PRODUCT_MISS] += misses
    if misses < len(products):
      self._counts[NUM_PRODUCT] += len(products) - misses
    return products, misses > 0


class EnrichRecords(beam.PTransform):
  """PCollection[SocialPost | MarketOrder] → EnrichResult(records, dead_letters).

  The snapshots come from the config (EnrichConfig: files or live weather, refreshed as side
  inputs or in the DoFn). `weather` / `products` pass side-input PCollections of snapshots
  instead (tests, TestStream windows); a kind of context with neither is missed by every record.
  """

  def __init__(self, config: EnrichConfig, dead_letter: DeadLetterConfig,
               weather: Optional[beam.PCollection] = None,
               products: Optional[beam.PCollection] = None):
    super().__init__()
    self._config = config
    self._dead_letter = dead_letter
    self._weather = weather
    self._products = products

  def expand(self, records) -> EnrichResult:
    fn, side = enrich_fn_and_side_inputs(self._config, self._dead_letter, records.pipeline,
                                         self._weather, self._products)
    outputs = records | 'AddWeatherAndProducts' >> beam.ParDo(fn, **side).with_outputs(
        DEAD_LETTER_TAG, main=VALID_TAG)
    return EnrichResult(outputs[VALID_TAG], outputs[DEAD_LETTER_TAG])


def enrich_fn_and_side_inputs(config: EnrichConfig, dead_letter: DeadLetterConfig,
                              pipeline: beam.Pipeline,
                              weather: Optional[beam.PCollection] = None,
                              products: Optional[beam.PCollection] = None):
  """(the enrich DoFn, the side-input kwargs of its ParDo), as the config's context_refresh
  chooses: in-process snapshots held by the DoFn, or side-input snapshots loaded by the graph
  (WeatherSideInput / ProductSideInput, applied in the caller's scope) unless `weather` /
  `products` pass them. For EnrichRecords and the fused chain in ProcessRecords alike."""
  weather_source, catalog_source = sources_of(config)
  side, in_process = {}, {}
  if config.context_refresh is ContextRefresh.IN_PROCESS:
    in_process = {'weather': InProcessSnapshots(weather_source) if weather_source else None,
                  'catalog': InProcessSnapshots(catalog_source) if catalog_source else None}
  if config.context_refresh is ContextRefresh.SIDE_INPUT:
    root = beam.pvalue.PBegin(pipeline)
    if weather is None and weather_source is not None:
      weather = root | 'WeatherSideInput' >> SnapshotSideInput(weather_source)
    if products is None and catalog_source is not None:
      products = root | 'ProductSideInput' >> SnapshotSideInput(catalog_source)
  if weather is not None:
    side['weather_snapshots'] = beam.pvalue.AsIter(weather)
  if products is not None:
    side['catalogs'] = beam.pvalue.AsIter(products)
  return _EnrichFn(config, dead_letter, **in_process), side
