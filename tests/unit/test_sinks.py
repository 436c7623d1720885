"""Sink logic that needs no server: configs, row and object mapping, SQL, migrations, backoff.
The writes themselves are tested against the real servers in tests/integration/."""
from __future__ import annotations

import random
import re

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from connectors.batching_sink import backoff_delays
from connectors.sink_results import FAILED_TAG, WriteFailure, scrub_values
from connectors.snowflake import SnowflakeConfig, WriteToSnowflake
from connectors.snowflake_migrate import load_migrations, split_statements
from connectors.snowflake_tables import (FLOAT, INTEGER, JSON, MARKET_ORDERS, MONEY, SOCIAL_POSTS,
                                         TABLES, TEXT, TIMESTAMP, WEATHER_OBSERVATIONS,
                                         MissingRequiredValue, UnmappableRecord, rows_for)
from connectors.weaviate import WeaviateConfig, to_object
from tests.integration import sink_helpers as h


def _config(**changes):
  values = dict(account='acme', user='loader', database='MILLIONX', schema='CORE',
                password_ref='env:SNOWFLAKE_PASSWORD')
  values.update(changes)
  return SnowflakeConfig(**values)


def test_snowflake_config_needs_exactly_one_auth_and_valid_refs():
  with pytest.raises(ValueError, match='exactly one'):
    _config(password_ref=None)
  with pytest.raises(ValueError, match='exactly one'):
    _config(private_key_ref='file:/k.pem')
  with pytest.raises(ValueError, match='not a secret reference'):
    _config(password_ref='hunter2')
  assert _config(password_ref=None, private_key_ref='file:/k.pem',
                 private_key_passphrase_ref='env:PASS').display_data()['auth'] == 'key_pair'


def test_display_data_names_no_secret():
  shown = repr(_config().display_data()) + repr(WeaviateConfig(api_key_ref='env:WV_KEY').display_data())
  assert 'SNOWFLAKE_PASSWORD' not in shown and 'WV_KEY' not in shown


def test_a_post_becomes_its_row_and_its_weather_observation():
  post = h.post(3)
  rows = list(rows_for(post))
  assert [r.table for r in rows] == [SOCIAL_POSTS, WEATHER_OBSERVATIONS]
  row = dict(zip(TABLES[SOCIAL_POSTS].column_names, rows[0].values))
  assert row['EVENT_ID'] == post.event_id == rows[0].key
  assert row['HASHTAGS'] == '["eid","sale"]'
  assert row['EVENT_TIME'] == post.event_time.isoformat()
  assert row['AUTHOR_PSEUDONYM'] == post.author.value
  assert row['WEATHER_OBSERVATION_ID'] == rows[1].key
  assert all(v is None or isinstance(v, str) for v in rows[0].values)
  # Same record, same hash: what makes a replayed MERGE a no-op.
  assert list(rows_for(h.post(3)))[0].values == rows[0].values
  assert list(rows_for(h.post(3, likes=11)))[0].values[-1] != rows[0].values[-1]


def test_order_lines_are_json_and_money_is_exact():
  row = dict(zip(TABLES[MARKET_ORDERS].column_names, next(rows_for(h.order(1, total='0.10'))).values))
  assert row['TOTAL_PRICE'] == '0.10'
  assert '"sku":"SKU-TEA"' in row['LINES'] and '"unit_price":"100.00"' in row['LINES']


def test_missing_required_value_and_unknown_type_are_refused():
  with pytest.raises(MissingRequiredValue):
    list(rows_for(h.post(1, native_id=None)))
  with pytest.raises(UnmappableRecord):
    list(rows_for({'not': 'a record'}))


def test_sql_is_built_from_constants_with_placeholders_only():
  spec = TABLES[SOCIAL_POSTS]
  assert spec.insert_stage_sql().count('?') == 1   # the batch, as one JSON parameter
  merge = spec.merge_sql('DB.SCH.SOCIAL_POSTS')
  assert 'ON t.EVENT_ID = s.EVENT_ID' in merge
  assert 'WHEN MATCHED AND t.RECORD_HASH IS DISTINCT FROM s.RECORD_HASH' in merge


def test_unmappable_record_goes_to_failures():
  with TestPipeline() as p:
    out = (p | beam.Create([h.post(1, with_weather=False), 'junk'])
           | beam.ParDo(WriteToSnowflake(_config()).to_items_fn()).with_outputs(FAILED_TAG, main='rows'))
    assert_that(out.rows | 'Tables' >> beam.Map(lambda r: r.table), equal_to([SOCIAL_POSTS]),
                label='CheckRows')
    assert_that(out[FAILED_TAG] | 'Classes' >> beam.Map(lambda f: (f.target, f.error_class)),
                equal_to([('str', 'UnmappableRecord')]), label='CheckFailures')


def test_migrations_load_in_order_and_split():
  scripts = [m.script for m in load_migrations()]
  assert scripts == ['V001__core_tables.sql', 'V003__search_optimization.sql', 'R__analytics_views.sql']
  views = [m for m in load_migrations() if m.version is None][0]
  assert len(views.statements) == 8
  assert [m.requires_snowflake for m in load_migrations()] == [False, True, False]
  assert split_statements('-- c\nSELECT 1;\nSELECT\n 2;\n') == ['SELECT 1', 'SELECT\n 2']


def test_weaviate_object_uuid_is_the_event_id_and_vector_is_plain_floats():
  post = h.post(2)
  obj = to_object(post, WeaviateConfig())
  assert obj.uuid == post.event_id and obj.collection == 'SocialPost'
  assert type(obj.vector) is list and all(type(x) is float for x in obj.vector)
  assert obj.record.embedding is None          # failures do not carry the vector
  with pytest.raises(ValueError, match='dimensions'):
    to_object(h.post(2, embedding=(1.0, 2.0)), WeaviateConfig())


def test_backoff_grows_is_capped_and_outlasts_a_restart():
  delays = list(backoff_delays(8, 0.5, 20.0, random.Random(1)))
  assert len(delays) == 8 and max(delays) <= 20.0
  assert sum(delays) >= 30.0


def test_failure_as_exception_names_the_original_class():
  failure = WriteFailure('sink_snowflake', 'T', None, 'SnowflakeDataError', 'numeric overflow', None)
  assert str(failure.as_exception()) == 'SnowflakeDataError: numeric overflow'


def test_error_messages_lose_the_values_drivers_echo():
  assert (scrub_values('Could not convert string "1e21" to DECIMAL(18,2) when casting from source column TOTAL_PRICE')
          == 'Could not convert string "…" to DECIMAL(18,2) when casting from source column TOTAL_PRICE')
  assert scrub_values("Numeric value 'abc' is not recognized") == "Numeric value '…' is not recognized"
  assert (scrub_values("invalid integer property 'like_count' on class 'P': requires an integer, "
                       "the given value is 'x@y.z'", single_quotes=False)
          == "invalid integer property 'like_count' on class 'P': requires an integer, the given value is '…'")


def test_key_pair_auth_reads_an_encrypted_pem_from_secret_references(tmp_path, monkeypatch):
  from cryptography.hazmat.primitives import serialization
  from cryptography.hazmat.primitives.asymmetric import rsa

  from connectors.snowflake import _private_key_der
  key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
  pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                          serialization.BestAvailableEncryption(b'pass-phrase'))
  (tmp_path / 'rsa_key.p8').write_bytes(pem)
  monkeypatch.setenv('SF_KEY_PASSPHRASE', 'pass-phrase')
  config = _config(password_ref=None, private_key_ref=f'file:{tmp_path / "rsa_key.p8"}',
                   private_key_passphrase_ref='env:SF_KEY_PASSPHRASE')
  der = _private_key_der(config)
  assert serialization.load_der_private_key(der, password=None).private_numbers() == key.private_numbers()


def test_sink_flags_reach_the_configs():
  from apache_beam.options.pipeline_options import PipelineOptions

  from pipeline.sinks import sinks_from_options
  from transforms.config import DeadLetterConfig
  dead_letter = DeadLetterConfig(key_ref='env:DLQ_KEY')
  flags = ['--snowflake', '--snowflake_password_ref=env:X', '--weaviate',
           '--sink_flush_seconds=0.5', '--snowflake_batch_size=100', '--weaviate_batch_size=50']
  sinks = sinks_from_options(PipelineOptions(flags), dead_letter)
  assert (sinks.snowflake.batch_size, sinks.snowflake.max_buffering_s) == (100, 0.5)
  assert (sinks.weaviate.batch_size, sinks.weaviate.max_buffering_s) == (50, 0.5)
  defaults = sinks_from_options(PipelineOptions(flags[:3]), dead_letter)
  assert defaults.snowflake.max_buffering_s == defaults.weaviate.max_buffering_s == 2.0
  assert (defaults.snowflake.batch_size, defaults.weaviate.batch_size) == (500, 200)
  no_timer = sinks_from_options(PipelineOptions(flags[:3] + ['--sink_flush_seconds=0']), dead_letter)
  assert no_timer.snowflake.max_buffering_s is None


# ---- the SQL migrations and connectors/snowflake_tables.py hold the same columns -------------

_CREATE = re.compile(r'CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\)', re.S)
_ADD = re.compile(r'ALTER TABLE (\w+) ADD COLUMN (?:IF NOT EXISTS )?(\w+) ([^;]+);')
# How a staged text column is converted (snowflake_tables) against the SQL type it lands in.
_CONVERSION_TYPES = {
    TEXT: ('VARCHAR',), TIMESTAMP: ('TIMESTAMP_TZ',), INTEGER: ('NUMBER(38, 0)', 'NUMBER(10, 0)',
                                                                 'NUMBER(5, 0)'),
    MONEY: ('NUMBER(18, 2)',), FLOAT: ('FLOAT',), JSON: ('ARRAY', 'VARIANT', 'OBJECT'),
}


def _sql_columns() -> dict[str, list[tuple[str, str, bool]]]:
  """(name, type, NOT NULL) per table, in order, from every versioned migration."""
  tables: dict[str, list] = {}
  for migration in load_migrations():
    if migration.version is None:
      continue
    text = '\n'.join(migration.statements) + ';'
    for table, body in _CREATE.findall(text + '\n)'):
      columns = []
      for line in body.splitlines():
        line = line.strip().rstrip(',')
        if not line or line.startswith(('CONSTRAINT', '--')):
          continue
        name, rest = line.split(' ', 1)
        columns.append((name, rest.replace(' NOT NULL', '').strip(), 'NOT NULL' in rest))
      tables[table] = columns
    for table, name, rest in _ADD.findall(text):
      tables[table].append((name, rest.replace(' NOT NULL', '').strip(), 'NOT NULL' in rest))
  return tables


def test_sql_tables_and_python_table_specs_hold_the_same_columns():
  sql = _sql_columns()
  assert set(sql) == set(TABLES)
  for name, spec in TABLES.items():
    columns = [c for c in sql[name] if c[0] != 'LOADED_AT']   # set by the MERGE itself
    assert [c[0] for c in columns] == list(spec.column_names), name
    for (column, sql_type, not_null), python in zip(columns, spec.columns):
      assert not_null == python.required, f'{name}.{column}: NOT NULL vs required'
      assert sql_type.split('(')[0] in {t.split('(')[0] for t in _CONVERSION_TYPES[python.conversion]}, (
          f'{name}.{column}: {sql_type} vs {python.conversion}')
    assert ('LOADED_AT', 'TIMESTAMP_TZ', True) in sql[name]


def test_record_hash_leaves_out_when_the_pipeline_processed_the_record():
  # Issue 9: a replay is processed at another time; its row must hash the same.
  import datetime
  later = h.DAY.replace(hour=23)
  for record, replay in ((h.post(1), h.post(1, ingest_time=later)),
                         (h.order(1), h.order(1, ingest_time=later))):
    assert next(rows_for(record)).values[-1] == next(rows_for(replay)).values[-1]
  assert next(rows_for(h.order(1, status='shipped'))).values[-1] != next(rows_for(h.order(1))).values[-1]
  assert next(rows_for(h.order(1, updated_at=datetime.datetime(2026, 1, 1)))).version == (
      datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc))


def test_order_merge_never_replaces_a_newer_version():
  merge = TABLES[MARKET_ORDERS].merge_sql('DB.SCH.MARKET_ORDERS')
  assert 'AND (t.UPDATED_AT IS NULL OR s.UPDATED_AT >= t.UPDATED_AT) THEN UPDATE' in merge
  assert 'UPDATED_AT >=' not in TABLES[SOCIAL_POSTS].merge_sql('DB.SCH.SOCIAL_POSTS')


def test_weaviate_objects_carry_only_properties_of_their_collection():
  from connectors.weaviate_schema import ORDER_PROPERTIES, POST_PROPERTIES
  post, order = to_object(h.post(1), WeaviateConfig()), to_object(h.order(1), WeaviateConfig())
  assert set(post.properties) <= {name for name, _, _ in POST_PROPERTIES}
  assert set(order.properties) <= {name for name, _, _ in ORDER_PROPERTIES}
  assert 'text' in post.properties and 'skus' in order.properties
