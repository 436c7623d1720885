"""Integration-test helpers for the sinks: the real local fakesnow and Weaviate servers,
unique schemas and collections, test records, read-back, and restarting a server mid-run.

The servers are the ones `./run_local.sh start` (stack/stack.sh start snowflake weaviate)
runs; a missing server fails the test with that hint, it never skips it.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime
import decimal
import os
import pathlib
import subprocess
import threading
import time
import uuid
from typing import Any, Callable, Iterator, Optional

from connectors.snowflake import SnowflakeConfig, connect
from connectors.snowflake_migrate import local_config, migrate
from connectors.weaviate import WeaviateConfig, ensure_collections, open_client
from schemas.normalized import (DeadLetter, Lineage, MarketOrder, OrderLine, Product, Pseudonym,
                                SocialPost, Weather, event_id)

REPO = pathlib.Path(__file__).resolve().parents[2]
START_HINT = ('start the local stack first: ./run_local.sh start '
              '(or stack/stack.sh start snowflake weaviate)')
SNOWFLAKE_PORT = int(os.environ.get('MILLIONX_SNOWFLAKE_PORT', '8765'))
WEAVIATE_HTTP_PORT = int(os.environ.get('MILLIONX_WEAVIATE_HTTP_PORT', '8080'))
WEAVIATE_GRPC_PORT = int(os.environ.get('MILLIONX_WEAVIATE_GRPC_PORT', '50051'))
DAY = datetime.datetime(2026, 11, 20, tzinfo=datetime.timezone.utc)


# ---- servers ---------------------------------------------------------------------------------

def stack(command: str, service: str, timeout_s: float = 120) -> None:
  """Runs `stack/stack.sh COMMAND SERVICE` (start / stop), as CI does."""
  result = subprocess.run([str(REPO / 'stack' / 'stack.sh'), command, service], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout_s)
  if result.returncode != 0:
    raise AssertionError(f'stack.sh {command} {service} failed:\n{result.stderr[-2000:]}')


@contextlib.contextmanager
def server_outage(service: str, down_s: float, after_s: float = 0.0,
                  when: Optional[Callable[[], bool]] = None,
                  when_timeout_s: float = 120.0) -> Iterator[threading.Thread]:
  """Stops `service` after `after_s`, keeps it down `down_s`, starts it again, in a thread.

  With `when`, the stop waits (after `after_s`) until `when()` is true, so that the outage
  falls in the middle of the work instead of wherever a fixed delay lands on a busy machine.
  """
  errors: list[BaseException] = []

  def outage():
    try:
      time.sleep(after_s)
      deadline = time.monotonic() + when_timeout_s
      while when is not None and not when():
        if time.monotonic() > deadline:
          raise AssertionError(f'{service} outage never started: its condition stayed false')
        time.sleep(0.05)
      stack('stop', service)
      time.sleep(down_s)
      stack('start', service)
    except BaseException as e:  # Re-raised in the test's thread below.
      errors.append(e)

  thread = threading.Thread(target=outage, name=f'{service}-outage', daemon=True)
  thread.start()
  try:
    yield thread
  finally:
    thread.join(timeout=down_s + after_s + (when_timeout_s if when else 0) + 180)
    if errors:
      raise errors[0]


# ---- Snowflake -------------------------------------------------------------------------------

def snowflake_config(schema: str, **overrides) -> SnowflakeConfig:
  """The local server, a schema of the test's own; small windows and batches, quick retries."""
  values = dict(schema=schema, window_s=3600.0, batch_size=50, max_buffering_s=None,
                retry_base_s=0.5, retry_cap_s=4.0, max_retries=10, network_timeout_s=120,
                login_timeout_s=10)
  values.update(overrides)
  return local_config(**values)


def require_snowflake() -> None:
  import requests
  try:
    requests.get(f'http://127.0.0.1:{SNOWFLAKE_PORT}/health', timeout=3).raise_for_status()
  except requests.RequestException as e:
    raise AssertionError(f'No local Snowflake (fakesnow) server on port {SNOWFLAKE_PORT}: '
                         f'{START_HINT}') from e


@contextlib.contextmanager
def snowflake_schema() -> Iterator[SnowflakeConfig]:
  """A fresh schema with every migration applied; dropped afterwards."""
  require_snowflake()
  config = snowflake_config(f'T_{uuid.uuid4().hex[:10].upper()}')
  migrate(config, log=lambda _: None)
  try:
    yield config
  finally:
    conn = connect(config)
    try:
      conn.cursor().execute(f'DROP SCHEMA IF EXISTS {config.database}.{config.schema} CASCADE')
    finally:
      conn.close()


def query(config: SnowflakeConfig, sql: str, params: Any = None) -> list[tuple]:
  conn = connect(config)
  try:
    cursor = conn.cursor()
    cursor.execute(sql, params)
    return cursor.fetchall()
  finally:
    conn.close()


def count(config: SnowflakeConfig, table: str) -> int:
  return query(config, f'SELECT COUNT(*) FROM {config.qualified(table)}')[0][0]


# ---- Weaviate --------------------------------------------------------------------------------

def weaviate_config(**overrides) -> WeaviateConfig:
  suffix = uuid.uuid4().hex[:8]
  values = dict(http_host='127.0.0.1', http_port=WEAVIATE_HTTP_PORT,
                grpc_host='127.0.0.1', grpc_port=WEAVIATE_GRPC_PORT,
                posts_collection=f'TestPosts_{suffix}', orders_collection=f'TestOrders_{suffix}',
                window_s=3600.0, batch_size=50, max_buffering_s=None, retry_base_s=0.5,
                retry_cap_s=4.0, max_retries=10)
  values.update(overrides)
  return WeaviateConfig(**values)


def require_weaviate() -> None:
  import requests
  try:
    requests.get(f'http://127.0.0.1:{WEAVIATE_HTTP_PORT}/v1/.well-known/ready',
                 timeout=3).raise_for_status()
  except requests.RequestException as e:
    raise AssertionError(f'No local Weaviate on port {WEAVIATE_HTTP_PORT}: {START_HINT}') from e


@contextlib.contextmanager
def weaviate_collections(**overrides) -> Iterator[WeaviateConfig]:
  """Two fresh collections (posts, orders); deleted afterwards."""
  require_weaviate()
  config = weaviate_config(**overrides)
  with open_client(config) as client:
    ensure_collections(client, config)
  try:
    yield config
  finally:
    with open_client(config) as client:
      client.collections.delete([config.posts_collection, config.orders_collection])


def weaviate_count(config: WeaviateConfig, collection: str) -> int:
  with open_client(config) as client:
    return client.collections.get(collection).aggregate.over_all(total_count=True).total_count


# ---- records ---------------------------------------------------------------------------------

def unit_vector(index: int, dim: int = 384) -> tuple[float, ...]:
  """A distinct direction per index (cosine neighbours are predictable)."""
  vector = [0.0] * dim
  vector[index % dim] = 1.0
  vector[(index * 7 + 3) % dim] += 0.5
  return tuple(vector)


def lineage(topic: str, offset: int) -> Lineage:
  return Lineage(topic=topic, partition=0, offset=offset, kafka_timestamp_ms=1_763_600_000_000 + offset)


def weather(city: str = 'Dhaka', condition: str = 'Rain', temp_c: float = 27.5,
            hour: int = 9) -> Weather:
  return Weather(city_id={'Dhaka': 1185241, 'Chattogram': 1205733}.get(city, 1),
                 city=city, observed_at=DAY.replace(hour=hour), temp_c=temp_c,
                 humidity_pct=80.0, rain_1h_mm=2.5 if condition == 'Rain' else 0.0,
                 condition=condition, description=condition.lower())


def post(i: int, source: str = 'tiktok', hashtags: tuple[str, ...] = ('eid', 'sale'),
         likes: int = 10, with_weather: bool = True, **changes) -> SocialPost:
  native = f'{source}-{i}'
  record = SocialPost(
      event_id=event_id(source, 'video', native), source=source, kind='video', native_id=native,
      event_time=DAY.replace(hour=10, minute=i % 60), ingest_time=DAY.replace(hour=11),
      lineage=lineage(f'raw.{source}', i), text=f'post number {i} about #{hashtags[0] if hashtags else "x"}',
      hashtags=hashtags, author=Pseudonym(f'{i:064x}', 'k1'), city='Dhaka',
      like_count=likes, comment_count=2, share_count=1, view_count=100,
      weather=weather() if with_weather else None, embedding=unit_vector(i),
      embedding_model='all-MiniLM-L6-v2')
  return dataclasses.replace(record, **changes) if changes else record


def order(i: int, source: str = 'shopify', city: str = 'Dhaka', total: str = '1200.00',
          lines: Optional[tuple[OrderLine, ...]] = None, **changes) -> MarketOrder:
  native = f'{source}-order-{i}'
  lines = lines if lines is not None else (
      OrderLine(line_id=f'{i}-1', sku='SKU-TEA', product_id='p1', title='Tea', quantity=2,
                unit_price=decimal.Decimal('100.00'),
                product=Product(sku='SKU-TEA', title='Premium Tea', category='grocery')),
  )
  record = MarketOrder(
      event_id=event_id(source, 'order', native), source=source, native_id=native,
      event_time=DAY.replace(hour=12, minute=i % 60), ingest_time=DAY.replace(hour=13),
      lineage=lineage(f'raw.{source}.orders', i), order_number=f'#{1000 + i}',
      status='paid', currency='BDT', total_price=decimal.Decimal(total),
      item_count=sum(l.quantity for l in lines), lines=lines,
      customer=Pseudonym(f'{i:064x}', 'k1'), city=city, country='BD',
      weather=weather(city), embedding=unit_vector(1000 + i), embedding_model='all-MiniLM-L6-v2')
  return dataclasses.replace(record, **changes) if changes else record


def dead_letter(i: int, stage: str = 'validate', source: str = 'tiktok') -> DeadLetter:
  return DeadLetter(
      dead_letter_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f'dl-{stage}-{i}')), stage=stage,
      error_class='ValidationError', error_message='1 validation error: id: required',
      source=source, topic=f'raw.{source}', partition=0, offset=i,
      kafka_timestamp_ms=1_763_600_000_000, failed_at=DAY.replace(hour=11),
      payload_format='kafka-message', payload_key_id='k1', payload_ciphertext=b'\x01sealed\x02')


def run_pipeline(build: Callable[[Any], Any]) -> Any:
  """Runs a small DirectRunner pipeline; returns the result (for metrics) after it finishes."""
  import apache_beam as beam
  from apache_beam.options.pipeline_options import PipelineOptions
  pipeline = beam.Pipeline(options=PipelineOptions(['--runner=DirectRunner']))
  build(pipeline)
  result = pipeline.run()
  result.wait_until_finish()
  return result
