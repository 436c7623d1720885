"""WriteToSnowflake and the migrations against the real local fakesnow server (over HTTP,
through the real snowflake-connector-python). Start it with `./run_local.sh start`."""
from __future__ import annotations

import datetime
import decimal
import time

import apache_beam as beam
from apache_beam.metrics import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from connectors.sink_results import WriteFailure
from connectors.snowflake import STAGE, WriteToSnowflake
from connectors.snowflake_migrate import migrate
from connectors.snowflake_tables import observation_id
from schemas.normalized import OrderLine, Product
from tests.integration import sink_helpers as h

TABLES = ('SOCIAL_POSTS', 'MARKET_ORDERS', 'WEATHER_OBSERVATIONS', 'PIPELINE_DEAD_LETTERS')


def _counts(config):
  return {table: h.count(config, table) for table in TABLES}


def _write(config, records, expect_written=None, expect_failed_ids=()):
  """Runs WriteToSnowflake over `records`; asserts its outputs; returns the pipeline result."""
  def build(pipeline):
    result = pipeline | 'Create' >> beam.Create(records) | 'Write' >> WriteToSnowflake(config)
    if expect_written is not None:
      assert_that(result.written | 'WrittenKeys' >> beam.Map(lambda w: (w.target, w.key)),
                  equal_to(expect_written), label='CheckWritten')
    assert_that(result.failures | 'FailedIds' >> beam.Map(
        lambda f: (f.stage, f.target, getattr(f.record, 'event_id', None), f.error_class)),
                equal_to(list(expect_failed_ids)), label='CheckFailures')
  return h.run_pipeline(build)


def _counter(result, name):
  counters = result.metrics().query(MetricsFilter().with_name(name))['counters']
  return sum(c.committed for c in counters)


def test_write_read_back_and_replay_changes_nothing():
  posts = [h.post(i) for i in range(6)]
  orders = [h.order(i) for i in range(4)]
  dead_letters = [h.dead_letter(i) for i in range(2)]
  records = posts + orders + dead_letters
  observation = observation_id(h.weather())
  expected = ([('SOCIAL_POSTS', p.event_id) for p in posts]
              + [('MARKET_ORDERS', o.event_id) for o in orders]
              + [('PIPELINE_DEAD_LETTERS', d.dead_letter_id) for d in dead_letters]
              + [('WEATHER_OBSERVATIONS', observation)])
  with h.snowflake_schema() as config:
    result = _write(config, records, expected)
    assert _counts(config) == {'SOCIAL_POSTS': 6, 'MARKET_ORDERS': 4,
                               'WEATHER_OBSERVATIONS': 1, 'PIPELINE_DEAD_LETTERS': 2}
    assert _counter(result, 'num_snowflake_rows_written') >= 13

    # Typed read-back: variant paths, money, timestamps, arrays.
    row = h.query(config, f'''
        SELECT TOTAL_PRICE, LINES[0]:sku::STRING, LINES[0]:product:title::STRING, EVENT_TIME,
               CUSTOMER_PSEUDONYM, WEATHER_CONDITION, KAFKA_OFFSET
        FROM {config.qualified('MARKET_ORDERS')} WHERE EVENT_ID = ?''', (orders[1].event_id,))[0]
    assert row[0] == decimal.Decimal('1200.00')
    assert row[1:3] == ('SKU-TEA', 'Premium Tea')
    assert row[3] == orders[1].event_time
    assert row[4] == orders[1].customer.value
    assert row[5:] == ('Rain', 1)
    tags = h.query(config, f'''SELECT HASHTAGS[1]::STRING, ARRAY_SIZE(HASHTAGS)
        FROM {config.qualified('SOCIAL_POSTS')} WHERE EVENT_ID = ?''', (posts[0].event_id,))
    assert tags == [('sale', 2)]
    sealed = h.query(config, f'''SELECT PAYLOAD_CIPHERTEXT_B64, PAYLOAD_KEY_ID
        FROM {config.qualified('PIPELINE_DEAD_LETTERS')} WHERE DEAD_LETTER_ID = ?''',
                     (dead_letters[0].dead_letter_id,))
    assert sealed == [('AXNlYWxlZAI=', 'k1')]

    loaded_before = h.query(config, f'SELECT EVENT_ID, LOADED_AT FROM {config.qualified("SOCIAL_POSTS")}')
    _write(config, records, expected)   # The replay: same records again.
    assert _counts(config) == {'SOCIAL_POSTS': 6, 'MARKET_ORDERS': 4,
                               'WEATHER_OBSERVATIONS': 1, 'PIPELINE_DEAD_LETTERS': 2}
    loaded_after = h.query(config, f'SELECT EVENT_ID, LOADED_AT FROM {config.qualified("SOCIAL_POSTS")}')
    assert sorted(loaded_after) == sorted(loaded_before), 'a replay must not touch unchanged rows'


def test_changed_record_updates_its_row():
  with h.snowflake_schema() as config:
    _write(config, [h.post(1, likes=10)])
    _write(config, [h.post(1, likes=99)])
    assert h.query(config, f'SELECT COUNT(*), MAX(LIKE_COUNT) FROM {config.qualified("SOCIAL_POSTS")}') == [(1, 99)]


def test_permanently_bad_row_goes_to_failures_and_the_rest_is_written():
  # NUMBER(18, 2) cannot hold this total: a data error (SQLSTATE 22xxx) for that row only.
  bad = h.order(7, total='123456789012345678901.00')
  good = [h.order(i) for i in range(6)]
  with h.snowflake_schema() as config:
    result = _write(config, good[:3] + [bad] + good[3:],
                    expect_failed_ids=[(STAGE, 'MARKET_ORDERS', bad.event_id, 'SnowflakeDataError')])
    assert h.count(config, 'MARKET_ORDERS') == 6
    assert _counter(result, 'num_snowflake_rows_failed') == 1


def test_failure_carries_the_record_without_its_vector_and_the_error():
  bad = h.order(7, total='123456789012345678901.00')
  with h.snowflake_schema() as config:
    def build(pipeline):
      result = pipeline | beam.Create([bad]) | WriteToSnowflake(config)
      assert_that(result.failures | beam.Map(_failure_summary),
                  equal_to([(bad.event_id, None, True)]), label='CheckFailure')
    h.run_pipeline(build)


def _failure_summary(failure: WriteFailure):
  return (failure.record.event_id, failure.record.embedding,
          'SnowflakeDataError' in failure.as_exception().args[0])


def test_server_restart_mid_run_is_retried_nothing_lost_nothing_doubled():
  records = [h.post(i, with_weather=False) for i in range(300)]
  with h.snowflake_schema() as config:
    config = h.snowflake_config(config.schema, batch_size=10)
    with h.server_outage('snowflake', down_s=3.0, after_s=1.5):
      result = _write(config, records)
    assert h.count(config, 'SOCIAL_POSTS') == 300
    assert h.query(config, f'SELECT COUNT(DISTINCT EVENT_ID) FROM {config.qualified("SOCIAL_POSTS")}') == [(300,)]
    assert _counter(result, 'num_snowflake_retries') >= 1, 'the outage should have been retried'


def test_migrations_are_idempotent():
  with h.snowflake_schema() as config:
    assert migrate(config, log=lambda _: None) == []
    scripts = h.query(config, f'SELECT SCRIPT FROM {config.qualified("SCHEMA_MIGRATIONS")} ORDER BY SCRIPT')
    assert scripts == [('R__analytics_views.sql',), ('V001__core_tables.sql',)]


def test_views_answer_right_on_known_data():
  day = h.DAY.date()
  tea = OrderLine(line_id='t', sku='SKU-TEA', product_id='p1', title='Tea', quantity=3,
                  unit_price=decimal.Decimal('100.00'), product=Product(sku='SKU-TEA', title='Premium Tea'))
  rice = OrderLine(line_id='r', sku='SKU-RICE', product_id='p2', title='Rice', quantity=1,
                   unit_price=decimal.Decimal('700.00'))
  orders = [
      h.order(1, city='Dhaka', total='300.00', lines=(tea,)),
      h.order(2, city='Dhaka', total='1000.00', lines=(tea, rice)),
      h.order(3, city='Chattogram', total='700.00', lines=(rice,),
              weather=h.weather('Chattogram', condition='Clear', temp_c=31.0)),
  ]
  posts = [h.post(1, hashtags=('Eid', 'sale'), likes=10),
           h.post(2, hashtags=('eid',), likes=20),
           h.post(3, source='facebook', hashtags=('sale',), likes=4)]
  dead_letters = [h.dead_letter(1, stage='validate', source='tiktok'),
                  h.dead_letter(2, stage='privacy', source='tiktok')]
  with h.snowflake_schema() as config:
    _write(config, orders + posts + dead_letters)

    def view(name, order_by):
      return h.query(config, f'SELECT * FROM {config.qualified(name)} ORDER BY {order_by}')

    assert view('V_DAILY_SALES_BY_CITY', 'CITY') == [
        (day, 'Chattogram', 'BDT', 1, decimal.Decimal('700.00'), 1, 700.0),
        (day, 'Dhaka', 'BDT', 2, decimal.Decimal('1300.00'), 7, 650.0)]
    top = [(r[1], r[2], r[3], r[4], r[6]) for r in view('V_TOP_PRODUCTS_BY_CITY_DAY', 'CITY, PRODUCT_RANK')]
    assert top == [('Chattogram', 'SKU-RICE', 'Rice', 1, 1),
                   ('Dhaka', 'SKU-TEA', 'Premium Tea', 6, 1),
                   ('Dhaka', 'SKU-RICE', 'Rice', 1, 2)]
    hashtags = [(r[1], r[2], r[3], r[4]) for r in view('V_HASHTAG_TRENDS', 'SOURCE, HASHTAG')]
    # post i: likes + 2 comments + 1 share.
    assert hashtags == [('facebook', 'sale', 1, 7), ('tiktok', 'eid', 2, 36), ('tiktok', 'sale', 1, 13)]
    engagement = [(r[1], r[2], r[3], r[4], r[7], r[8]) for r in view('V_ENGAGEMENT_BY_PLATFORM', 'PLATFORM')]
    assert engagement == [('facebook', 'video', 1, 4, 100, 7.0), ('tiktok', 'video', 2, 30, 200, 18.0)]
    weather = [(r[1], r[2], r[4], r[5], r[6]) for r in view('V_WEATHER_VS_SALES', 'CITY')]
    assert weather == [('Chattogram', 'Clear', 1, decimal.Decimal('700.00'), 31.0),
                       ('Dhaka', 'Rain', 2, decimal.Decimal('1300.00'), 27.5)]
    # tiktok: 2 posts written + 2 dead letters = 4 records; each stage 1 of 4.
    rates = [(r[1], r[2], r[3], r[4], r[5]) for r in view('V_DEAD_LETTER_RATE', 'STAGE')]
    assert rates == [('privacy', 'tiktok', 1, 4, 0.25), ('validate', 'tiktok', 1, 4, 0.25)]
    buckets = [(r[1], r[3]) for r in view('V_ORDER_VALUE_DISTRIBUTION', 'BUCKET_FROM')]
    assert buckets == [(0, 1), (500, 1), (1000, 1)]
    freshness = {(r[0], r[1]): r[2] for r in view('V_DATA_FRESHNESS', 'TABLE_NAME, SOURCE')}
    assert freshness == {('MARKET_ORDERS', 'shopify'): 3, ('PIPELINE_DEAD_LETTERS', 'tiktok'): 2,
                         ('SOCIAL_POSTS', 'facebook'): 1, ('SOCIAL_POSTS', 'tiktok'): 2,
                         ('WEATHER_OBSERVATIONS', 'openweather'): 2}
    lag = h.query(config, f'''SELECT EVENT_LAG_S FROM {config.qualified('V_DATA_FRESHNESS')}
                              WHERE TABLE_NAME = 'MARKET_ORDERS' ''')[0][0]
    expected_lag = (datetime.datetime.now(datetime.timezone.utc) - orders[2].event_time).total_seconds()
    assert abs(lag - expected_lag) < 3600


def test_a_replayed_older_order_version_never_overwrites_a_newer_one():
  # Issue 9: the MERGE is guarded on the source's updated_at, in the database and in a batch.
  older = h.order(5, status='paid', updated_at=h.DAY.replace(hour=14))
  newer = h.order(5, status='shipped', updated_at=h.DAY.replace(hour=15))
  status = lambda config: h.query(  # noqa: E731
      config, f'SELECT STATUS, UPDATED_AT FROM {config.qualified("MARKET_ORDERS")}')
  with h.snowflake_schema() as config:
    _write(config, [newer])
    _write(config, [older])                       # a replay of the older version, later
    assert status(config) == [('shipped', newer.updated_at)]
    _write(config, [newer, older])                # both in one batch, older last
    assert status(config) == [('shipped', newer.updated_at)]
    unversioned = h.order(5, status='pending', updated_at=None)
    _write(config, [unversioned])                 # no version: never replaces a versioned row
    assert status(config) == [('shipped', newer.updated_at)]
    _write(config, [h.order(5, status='delivered', updated_at=h.DAY.replace(hour=16))])
    assert status(config)[0][0] == 'delivered'


def test_a_replay_processed_at_another_time_changes_nothing():
  # Issue 9: INGEST_TIME (when this pipeline processed the record) is not part of RECORD_HASH.
  first = [h.post(1), h.order(1)]
  replayed = [h.post(1, ingest_time=h.DAY.replace(hour=23)),
              h.order(1, ingest_time=h.DAY.replace(hour=23))]
  loaded = lambda config, table: h.query(  # noqa: E731
      config, f'SELECT EVENT_ID, LOADED_AT, INGEST_TIME FROM {config.qualified(table)}')
  with h.snowflake_schema() as config:
    _write(config, first)
    before = {t: loaded(config, t) for t in ('SOCIAL_POSTS', 'MARKET_ORDERS')}
    _write(config, replayed)
    assert {t: loaded(config, t) for t in ('SOCIAL_POSTS', 'MARKET_ORDERS')} == before


def test_a_row_reaches_snowflake_within_the_flush_interval_while_the_bundle_is_open():
  # Issue 11: a slow stream's partial batch is MERGEd by time, not at the bundle's end.
  from apache_beam.transforms.window import GlobalWindow

  from connectors.snowflake import _MergeBatchesFn
  from connectors.snowflake_tables import rows_for
  with h.snowflake_schema() as config:
    config = h.snowflake_config(config.schema, max_buffering_s=1.0)
    fn = _MergeBatchesFn(config)
    fn.setup()
    try:
      fn.start_bundle()
      started = time.monotonic()
      for row in rows_for(h.post(1, with_weather=False)):
        assert list(fn.process(row, GlobalWindow())) == []
      while h.count(config, 'SOCIAL_POSTS') == 0 and time.monotonic() - started < 20:
        time.sleep(0.1)
      waited = time.monotonic() - started
      assert h.count(config, 'SOCIAL_POSTS') == 1, 'the row was not flushed by time'
      assert waited < 10, waited
      assert [w.value.key for w in fn.finish_bundle()] == [h.post(1).event_id]
    finally:
      fn.teardown()
