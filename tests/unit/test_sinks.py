"""Sink logic that needs no server: configs, row and object mapping, SQL, migrations, backoff.
The writes themselves are tested against the real servers in tests/integration/."""
from __future__ import annotations

import random

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from connectors.sink_results import FAILED_TAG, WriteFailure, backoff_delays, scrub_values
from connectors.snowflake import SnowflakeConfig, _ToTableRowsFn
from connectors.snowflake_migrate import load_migrations, split_statements
from connectors.snowflake_tables import (MARKET_ORDERS, SOCIAL_POSTS, TABLES, WEATHER_OBSERVATIONS,
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
  with pytest.raises(ValueError, match='Bad secret reference'):
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
           | beam.ParDo(_ToTableRowsFn()).with_outputs(FAILED_TAG, main='rows'))
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
