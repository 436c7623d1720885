"""Weather and product enrichment: weather as of the event (nearest observation of the city's
history), cities from location fields, hashtags and text, side inputs (batch, periodic,
TestStream windows) and in-process snapshots chosen by the config, flags, metrics, and the
last-resort dead letter."""
import datetime
import json

import apache_beam as beam
import pytest
from hypothesis import given, settings, strategies as st
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to, equal_to_per_window, is_empty
from apache_beam.transforms import window

from schemas.normalized import (Flag, Lineage, MarketOrder, OrderLine, SocialPost, Weather,
                                event_id)
from tests.unit import fakes
from transforms.cities import resolve_city
from transforms.config import MissingPolicy
from transforms.context import (InProcessSnapshots, ProductSideInput, WeatherSideInput,
                                WeatherSnapshot, WeatherSnapshotFile, empty_weather_snapshot,
                                product_catalog, weather_snapshot, weather_source)
from transforms.enrich import EnrichRecords
from transforms.metrics import NAMESPACE

T0 = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
DHAKA, CTG = 1185241, 1205733


@pytest.mark.parametrize('written,city', [
    ('Dhaka', 'Dhaka'), ('DACCA', 'Dhaka'), ('ঢাকা', 'Dhaka'), ('Dhaka-1207', 'Dhaka'),
    ('Mirpur, Dhaka', 'Dhaka'), ('Chittagong', 'Chattogram'), ('চট্টগ্রাম', 'Chattogram'),
    ('Barisal', 'Barishal'), ('বরিশাল', 'Barishal'), ('Sylet', 'Sylhet'), ('ময়মনসিংহ', 'Mymensingh'),
    ('Singapore-Central', None), ('', None)])
def test_city_aliases(written, city):
  found = resolve_city([written])
  assert (found.name if found else None) == city


def _post(n, city='Dhaka', at=T0, hashtags=()):
  return SocialPost(event_id=event_id('tiktok', 'video', str(n)), source='tiktok', kind='video',
                    native_id=str(n), event_time=at, ingest_time=T0,
                    lineage=Lineage('raw.tiktok.videos', 0, n, 0), text=f'post {n}', city=city,
                    hashtags=hashtags)


def _order(n, city='Chittagong', skus=('SKU-1',)):
  lines = tuple(OrderLine(line_id=str(i), sku=s, product_id=None, title=None, quantity=1,
                          unit_price=None) for i, s in enumerate(skus))
  return MarketOrder(event_id=event_id('daraz', 'order', str(n)), source='daraz', native_id=str(n),
                     event_time=T0, ingest_time=T0, lineage=Lineage('raw.daraz.orders', 0, n, 0),
                     lines=lines, city=city)


def _weather_file(tmp_path, observed=T0):
  data = fakes.load('openweather_current_dhaka.json')
  data['dt'] = int(observed.timestamp())
  ctg = dict(data, id=1205733, name='Chittagong')
  path = tmp_path / 'weather.json'
  path.write_text(json.dumps({str(DHAKA): data, str(CTG): ctg}))
  return str(path)


def _catalog_file(tmp_path):
  path = tmp_path / 'catalog.jsonl'
  path.write_text('\n'.join(json.dumps(p) for p in [
      {'sku': 'SKU-1', 'product_id': '77', 'title': 'Jamdani Saree', 'category': 'Fashion > Saree',
       'brand': 'Kashful', 'price_bdt': '4,500.00', 'updated_at': '2026-11-01T00:00:00Z'}]))
  return str(path)


def _counter(run, name):
  return sum(c.committed for c in run.metrics().query(
      MetricsFilter().with_namespace(NAMESPACE).with_name(name))['counters'])


def test_batch_enrichment_with_file_side_inputs(tmp_path):
  old = T0 - datetime.timedelta(days=2)
  records = [_post(1), _post(2, city=None, hashtags=('ঢাকা',)), _post(3, city=None),
             _post(4, at=old), _order(5), _order(6, skus=('SKU-1', 'NOPE'))]
  p = TestPipeline()
  config = fakes.enrich_config(weather_snapshot=_weather_file(tmp_path),
                               product_catalog=_catalog_file(tmp_path))   # side inputs
  result = p | beam.Create(records) | EnrichRecords(config, fakes.dead_letter_config())
  summary = result.records | beam.Map(lambda r: (
      r.native_id, r.city, r.weather.temp_c if r.weather else None, r.flags,
      tuple(l.product.title if l.product else None for l in getattr(r, 'lines', ()))))
  assert_that(summary, equal_to([
      ('1', 'Dhaka', 22.99, (), ()),
      ('2', 'Dhaka', 22.99, (), ()),
      ('3', None, None, (Flag.WEATHER_UNKNOWN_CITY,), ()),
      ('4', 'Dhaka', None, (Flag.WEATHER_STALE,), ()),
      ('5', 'Chattogram', 22.99, (), ('Jamdani Saree',)),
      ('6', 'Chattogram', 22.99, (Flag.PRODUCT_MISS,), ('Jamdani Saree', None)),
  ]), label='Enriched')
  assert_that(result.dead_letters, is_empty(), label='NoDeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_weather_enriched') == 4
  assert _counter(run, 'num_weather_unknown_city') == 1
  assert _counter(run, 'num_weather_stale') == 1
  assert _counter(run, 'num_product_miss') == 1
  assert _counter(run, 'num_weather_refreshes') == 1


def test_in_process_snapshots_enrich_like_the_side_inputs(tmp_path):
  """The Flink path: the DoFn loads the same files itself; same outputs as the batch test."""
  old = T0 - datetime.timedelta(days=2)
  records = [_post(1), _post(3, city=None), _post(4, at=old), _order(6, skus=('SKU-1', 'NOPE'))]
  p = TestPipeline()
  result = (p | beam.Create(records) | EnrichRecords(fakes.enrich_config(
      weather_snapshot=_weather_file(tmp_path), product_catalog=_catalog_file(tmp_path),
      weather_refresh_s=600, catalog_refresh_s=600, context_refresh='in_process'),
      fakes.dead_letter_config()))
  summary = result.records | beam.Map(lambda r: (
      r.native_id, r.city, r.weather.temp_c if r.weather else None, r.flags,
      tuple(l.product.title if l.product else None for l in getattr(r, 'lines', ()))))
  assert_that(summary, equal_to([
      ('1', 'Dhaka', 22.99, (), ()),
      ('3', None, None, (Flag.WEATHER_UNKNOWN_CITY,), ()),
      ('4', 'Dhaka', None, (Flag.WEATHER_STALE,), ()),
      ('6', 'Chattogram', 22.99, (Flag.PRODUCT_MISS,), ('Jamdani Saree', None)),
  ]), label='Enriched')
  assert_that(result.dead_letters, is_empty(), label='NoDeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_weather_enriched') == 2
  assert _counter(run, 'num_product_enriched') == 1
  assert _counter(run, 'num_weather_refreshes') >= 1
  assert _counter(run, 'num_catalog_refreshes') >= 1


class _Counter:
  def __init__(self):
    self.n = 0

  def inc(self, n=1):
    self.n += n


def _w(at, temp):
  return Weather(DHAKA, 'Dhaka', at, temp_c=temp)


def _temps(snapshot):
  return {city: w.temp_c for city, w in snapshot.by_city.items()}


def test_in_process_snapshots_refresh_on_their_interval_and_survive_failures():
  clock = [100.0]
  loads = []

  def loader():
    loads.append(clock[0])
    if len(loads) in (1, 4):
      raise OSError('weather file is being rewritten')
    return WeatherSnapshot(T0, {DHAKA: (_w(T0, len(loads)),)})

  source = InProcessSnapshots(weather_source(loader, 60), monotonic=lambda: clock[0])
  ok, failed = _Counter(), _Counter()
  assert source.current(ok, failed) == empty_weather_snapshot()   # failed first load: empty
  clock[0] += 30
  assert source.current(ok, failed) == empty_weather_snapshot()   # not due yet: no reload
  clock[0] += 30
  assert _temps(source.current(ok, failed)) == {DHAKA: 2}        # due: reloaded
  clock[0] += 59
  assert _temps(source.current(ok, failed)) == {DHAKA: 2}
  clock[0] += 1
  assert _temps(source.current(ok, failed)) == {DHAKA: 3}
  clock[0] += 60
  assert _temps(source.current(ok, failed)) == {DHAKA: 3}        # failed reload keeps the last
  assert (ok.n, failed.n, len(loads)) == (2, 2, 4)


class _SnapshotOfOne:
  def __call__(self):
    return WeatherSnapshot(T0, {DHAKA: (_w(T0, 1.0),)})


def test_in_process_snapshots_are_pickled_without_their_data():
  from apache_beam.internal import pickler   # how Beam ships the DoFn holding it
  source = InProcessSnapshots(weather_source(_SnapshotOfOne(), 600))
  source.current(_Counter(), _Counter())
  copy = pickler.loads(pickler.dumps(source))
  assert copy._snapshot is None and copy._loaded_at is None       # each worker loads its own
  assert _temps(copy.current(_Counter(), _Counter())) == {DHAKA: 1.0}


def test_fail_policy_sends_misses_to_the_dead_letter_queue():
  p = TestPipeline()
  result = p | beam.Create([_post(1, city=None), _post(2)]) | EnrichRecords(
      fakes.enrich_config(missing_weather=MissingPolicy.FAIL), fakes.dead_letter_config())
  assert_that(result.records, is_empty(), label='NothingEnriched')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.stage, d.error_class, d.offset,
                                                        d.payload_format)),
              equal_to([('enrich', 'MissingEnrichment', 1, 'normalized-json'),
                        ('enrich', 'MissingEnrichment', 2, 'normalized-json')]),
              label='DeadLetters')
  p.run().wait_until_finish()


def test_quiet_policy_counts_without_flags():
  p = TestPipeline()
  result = p | beam.Create([_post(1, city=None)]) | EnrichRecords(
      fakes.enrich_config(missing_weather='quiet'), fakes.dead_letter_config())
  assert_that(result.records | beam.Map(lambda r: r.flags), equal_to([()]), label='NoFlags')
  assert_that(result.dead_letters, is_empty(), label='NoDeadLetters')
  p.run().wait_until_finish()


def _snapshot(loaded_at, temp):
  return WeatherSnapshot(loaded_at, {DHAKA: (Weather(DHAKA, 'Dhaka', loaded_at, temp_c=temp),)})


def test_side_input_refreshes_per_window_with_test_stream():
  """Streaming: each window of records sees the snapshot loaded for that window."""
  options = PipelineOptions()
  options.view_as(StandardOptions).streaming = True
  base = T0.timestamp()
  p = TestPipeline(options=options)
  later = T0 + datetime.timedelta(minutes=10)
  stream = (p | TestStream()
            .advance_watermark_to(base, tag='side')
            .add_elements([window.TimestampedValue(_snapshot(T0, 20.0), base)], tag='side')
            .advance_watermark_to(base + 600, tag='side')
            .add_elements([window.TimestampedValue(_snapshot(later, 30.0), base + 600)], tag='side')
            .advance_watermark_to(base + 10, tag='main')
            .add_elements([window.TimestampedValue(_post(1), base + 10)], tag='main')
            .advance_watermark_to(base + 660, tag='main')
            .add_elements([window.TimestampedValue(
                _post(2, at=T0 + datetime.timedelta(minutes=11)), base + 660)], tag='main'))
  side = stream['side'] | 'SideWindows' >> beam.WindowInto(window.FixedWindows(600))
  main = stream['main'] | 'MainWindows' >> beam.WindowInto(window.FixedWindows(600))
  result = main | EnrichRecords(fakes.enrich_config(), fakes.dead_letter_config(), weather=side)
  temps = result.records | beam.Map(lambda r: (r.native_id, r.weather.temp_c if r.weather else None))
  assert_that(temps, equal_to_per_window({
      window.IntervalWindow(base, base + 600): [('1', 20.0)],
      window.IntervalWindow(base + 600, base + 1200): [('2', 30.0)]}), label='PerWindow')
  assert_that(result.dead_letters, is_empty(), label='NoDeadLetters')
  p.run().wait_until_finish()


class _CountingLoader:
  """Loader whose snapshots get newer on each call (the refresh)."""
  calls = 0

  def __call__(self):
    type(self).calls += 1
    return product_catalog([{'sku': 'SKU-1', 'title': f'v{type(self).calls}'}],
                           T0 + datetime.timedelta(seconds=type(self).calls))


def test_periodic_impulse_reloads_the_side_input():
  _CountingLoader.calls = 0
  p = TestPipeline()
  catalogs = p | ProductSideInput(_CountingLoader(), refresh_interval_s=1, stop_after_s=2.5)
  assert_that(catalogs | beam.Map(lambda c: 1) | beam.combiners.Count.Globally(),
              lambda counts: counts and counts[0] >= 2 or (_ for _ in ()).throw(
                  AssertionError(f'expected >= 2 refreshes, got {counts}')), label='Refreshes')
  p.run().wait_until_finish()
  assert _CountingLoader.calls >= 2


def test_live_weather_uses_the_connector_and_skips_failed_cities(monkeypatch):
  from connectors import openweather
  from connectors.http import RateLimited
  from transforms.context import LiveWeather
  monkeypatch.setenv('MILLIONX_TEST_OWM_KEY', 'not-a-real-key')
  dhaka = fakes.load('openweather_current_dhaka.json')

  def current(self, city):
    if city.city_id == DHAKA:
      return dhaka
    raise RateLimited('HTTP 429')
  monkeypatch.setattr(openweather.OpenWeatherClient, 'current', current)
  snapshot = LiveWeather('env:MILLIONX_TEST_OWM_KEY', clock=fakes.fixed_clock)()
  assert list(snapshot.by_city) == [DHAKA] and snapshot.loaded_at == fakes.FIXED_NOW
  assert snapshot.by_city[DHAKA].temp_c == 22.99


def _failing_loader():
  raise OSError('weather source unreachable')


def test_failed_first_load_lets_records_through_flagged():
  p = TestPipeline()
  weather = p | 'Weather' >> WeatherSideInput(_failing_loader)
  result = p | beam.Create([_post(1)]) | EnrichRecords(fakes.enrich_config(), fakes.dead_letter_config(),
                                                       weather=weather)
  assert_that(result.records | beam.Map(lambda r: (r.native_id, r.weather, r.flags)),
              equal_to([('1', None, (Flag.WEATHER_MISSING,))]), label='Flagged')
  assert_that(result.dead_letters, is_empty(), label='NoDeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_weather_refresh_failures') == 1


# --- weather as of the event, cities in text, the last resort -----------------------------------

def _history_file(tmp_path, hours=(-6, -3, 0)):
  """The weather topic's shape: one observation per city and hour, keyed `city:hour`."""
  data = fakes.load('openweather_current_dhaka.json')
  entries = {}
  for h in hours:
    at = T0 + datetime.timedelta(hours=h)
    entries[f'{DHAKA}:{at:%Y-%m-%dT%H}'] = dict(data, dt=int(at.timestamp()), main=dict(
        data['main'], temp=30.0 + h))
  path = tmp_path / 'history.json'
  path.write_text(json.dumps(entries))
  return str(path)


def test_each_record_gets_the_observation_nearest_its_event_time(tmp_path):
  hour = datetime.timedelta(hours=1)
  records = [_post(1, at=T0 - 5.8 * hour), _post(2, at=T0 - 4 * hour), _post(3, at=T0 - 1 * hour),
             _post(4, at=T0 + 2 * hour), _post(5, at=T0 - 9.5 * hour), _post(6, at=T0 - 4.5 * hour)]
  p = TestPipeline()
  result = p | beam.Create(records) | EnrichRecords(fakes.enrich_config(
      weather_snapshot=_history_file(tmp_path), weather_max_age_s=3 * 3600), fakes.dead_letter_config())
  assert_that(result.records | beam.Map(lambda r: (r.native_id, r.weather.temp_c if r.weather
                                                   else None, r.flags)), equal_to([
      ('1', 24.0, ()),                        # 5h48 before: the -6 h observation
      ('2', 27.0, ()),                        # 4 h before: the -3 h one
      ('3', 30.0, ()),                        # 1 h before: the latest
      ('4', 30.0, ()),                        # after the last one, within the max age
      ('5', None, (Flag.WEATHER_STALE,)),     # 3h30 before the first one: stale
      ('6', 24.0, ()),                        # half way: the earlier one
  ]), label='AsOfEvent')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_weather_enriched') == 5 and _counter(run, 'num_weather_stale') == 1


def test_weather_snapshot_history_from_files_and_items(tmp_path):
  snapshot = WeatherSnapshotFile(_history_file(tmp_path))()
  assert [w.temp_c for w in snapshot.history[DHAKA]] == [24.0, 27.0, 30.0]
  assert snapshot.by_city[DHAKA].temp_c == 30.0
  # A list per key, an old bare-id key, and the same observation twice: kept once.
  data = fakes.load('openweather_current_dhaka.json')
  path = tmp_path / 'mixed.json'
  path.write_text(json.dumps({str(CTG): [dict(data, dt=100), dict(data, dt=200)],
                              f'{CTG}:1970-01-01T00': dict(data, dt=200), 'junk': data}))
  mixed = WeatherSnapshotFile(str(path))()
  assert [int(w.observed_at.timestamp()) for w in mixed.history[CTG]] == [100, 200]
  assert mixed.nearest(CTG, datetime.datetime.fromtimestamp(149, datetime.timezone.utc)) \
      .observed_at.timestamp() == 100
  assert mixed.nearest(DHAKA, T0) is None
  assert weather_snapshot([], T0).nearest(DHAKA, T0) is None


def test_cities_are_found_in_the_scrubbed_text_unless_it_names_two(tmp_path):
  def post(n, text, city=None, hashtags=()):
    return SocialPost(event_id=event_id('facebook', 'post', str(n)), source='facebook',
                      kind='post', native_id=str(n), event_time=T0, ingest_time=T0,
                      lineage=Lineage('raw.facebook.posts', 0, n, 0), text=text, city=city,
                      hashtags=hashtags)
  records = [
      post(1, 'Eid offer! Free delivery in Dhaka today'),
      post(2, 'ঢাকায় আজ বিশাল ছাড় [PHONE:ab12]'),
      post(3, 'চট্টগ্রামের সেরা শুঁটকি'),
      post(4, 'Rajshahi silk sarees, delivery in Dhaka'),          # two cities: unresolved
      post(5, 'Dhakai jamdani, best price'),                         # not a city name
      post(6, 'ঢাকা থেকে চট্টগ্রাম কুরিয়ার', hashtags=('Khulna',)),  # hashtag first
      post(7, 'new arrivals in Sylhet', city='Chittagong'),          # location field first
  ]
  p = TestPipeline()
  result = p | beam.Create(records) | EnrichRecords(fakes.enrich_config(
      weather_snapshot=_weather_file(tmp_path)), fakes.dead_letter_config())
  assert_that(result.records | beam.Map(lambda r: (r.native_id, r.city, r.flags)), equal_to([
      ('1', 'Dhaka', ()), ('2', 'Dhaka', ()), ('3', 'Chattogram', ()),
      ('4', None, (Flag.WEATHER_UNKNOWN_CITY,)), ('5', None, (Flag.WEATHER_UNKNOWN_CITY,)),
      ('6', 'Khulna', (Flag.WEATHER_MISSING,)), ('7', 'Chattogram', ()),
  ]), label='Cities')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_city_from_text') == 3
  assert _counter(run, 'num_weather_ambiguous_city') == 1
  assert _counter(run, 'num_weather_unknown_city') == 2


def test_text_scan_is_capped_and_linear():
  import time as time_
  from transforms.cities import TEXT_SCAN_CHARS, city_in_text
  assert city_in_text('x ' * TEXT_SCAN_CHARS + ' Dhaka').city is None     # past the cap
  hostile = ('ঢাকা' * 50_000) + ('!' * 100_000) + ('a-' * 100_000)
  started = time_.perf_counter()
  city_in_text(hostile)
  assert time_.perf_counter() - started < 0.5


_CITY_WORDS = ['Dhaka', 'DHAKA', 'dacca', 'Ctg', 'chittagong', 'Khulna', 'Sylet', 'barisal',
               'Rangpur', 'Mymensingh', 'Rajshahi', 'dhakaiya', 'xctgx', 'sale', 'offer', 'ঢাকায়',
               'খুলনা', 'Ｄｈａｋａ', 'ﬁne', 'K', 'rajshahi-silk', 'Chattogram.', '#Dhaka']


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_CITY_WORDS), st.text(max_size=12)), max_size=12),
       st.sampled_from([' ', ', ', '-', '\n', '']))
def test_the_ascii_prefilter_never_changes_which_city_a_text_names(words, sep):
  from transforms.cities import _city_of_words, _fold, city_in_text
  text = sep.join(words)
  assert city_in_text(text) == (_city_of_words(_fold(text)) if text else city_in_text(text))


def test_city_in_text_is_unchanged_on_the_demo_texts():
  from agents import demo
  from transforms.cities import _city_of_words, _fold, city_in_text
  data = demo.generate(seed=11, events=400, malformed_share=0.0, now=demo.DEFAULT_NOW)
  texts = [v for e in data.events for k, v in json.loads(e.value).items()
           if isinstance(v, str) and k in ('video_description', 'message')]
  assert len(texts) > 100
  assert [city_in_text(t) for t in texts] == [_city_of_words(_fold(t)) for t in texts]


def test_an_unexpected_error_in_one_record_is_a_dead_letter_not_a_failed_bundle(tmp_path):
  broken = _post(2, at=None)            # no event time: the lookup raises AttributeError
  p = TestPipeline()
  result = p | beam.Create([_post(1), broken, _post(3)]) | EnrichRecords(fakes.enrich_config(
      weather_snapshot=_weather_file(tmp_path)), fakes.dead_letter_config())
  assert_that(result.records | beam.Map(lambda r: r.native_id), equal_to(['1', '3']),
              label='OthersEnriched')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.stage, d.error_class, d.offset)),
              equal_to([('enrich', 'AttributeError', 2)]), label='DeadLetter')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_unexpected_enrich') == 1


def test_the_config_chooses_the_context_sources():
  with pytest.raises(ValueError):
    fakes.enrich_config(weather_snapshot='/w.json', openweather_key_ref='env:K')
  with pytest.raises(ValueError):
    fakes.enrich_config(weather_refresh_s=0)
  with pytest.raises(ValueError):
    fakes.enrich_config(context_refresh='sometimes')
  from transforms.context import LiveWeather, sources_of
  weather, catalog = sources_of(fakes.enrich_config(openweather_key_ref='env:K',
                                                    weather_refresh_s=60))
  assert isinstance(weather.loader, LiveWeather) and weather.refresh_interval_s == 60
  assert catalog is None


@pytest.mark.parametrize('runner,refresh,expected_refresh_s', [
    ('DirectRunner', 'side_input', None), ('FlinkRunner', 'in_process', 60.0)])
def test_the_pipeline_options_land_in_the_enrich_config(runner, refresh, expected_refresh_s):
  """`python -m pipeline` chooses the context sources and their refresh once, in EnrichConfig."""
  from pipeline.config_from_options import build_graph_config
  from pipeline.runners import Plan
  argv = [f'--runner={runner}', '--weather_snapshot=/ctx/weather.json',
          '--product_catalog=/ctx/catalog.json', '--weather_refresh_seconds=60',
          '--catalog_refresh_seconds=60', '--weather_max_age_seconds=1800',
          f'--dlq_key_ref=env:{fakes.DLQ_KEY_ENV}', f'--pseudonym_key_ref=env:{fakes.HMAC_KEY_ENV}']
  options = PipelineOptions(argv)
  enrich = build_graph_config(options, Plan(options, argv)).process.enrich
  assert enrich.context_refresh.value == refresh
  assert (enrich.weather_snapshot, enrich.product_catalog) == ('/ctx/weather.json',
                                                               '/ctx/catalog.json')
  assert enrich.weather_refresh_s == enrich.catalog_refresh_s == expected_refresh_s
  assert enrich.weather_max_age_s == 1800
