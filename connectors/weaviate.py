"""WriteToWeaviate: idempotent batch imports of embedded posts and orders, and their collections.

Each object's UUID is the record's `event_id` (itself a UUIDv5 of source, kind and native
id), so a replayed record overwrites its object instead of adding one. Batches go through the
v4 client's `insert_many` over gRPC, and every batch's per-object errors are checked: imports
have been reported to fail silently (weaviate-python-client #885, weaviate #1932, #7156), so
an object is reported written only when its batch came back without an error for it. Vectors
are sent as plain float lists (`insert_many` has dropped NumPy vectors: client #1002).

  records ─ ToObjects ─ WindowIntoBatches ─ ImportBatches ─▶ written
                └── not a post or order ──────┴───────────▶ failures

Batches are cut in the write DoFn per collection and window, as in connectors/snowflake.py
(which says why not GroupIntoBatches).

Collections: `python -m connectors.weaviate --local` creates them (idempotent).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime
import logging
import sys
import time
import uuid
from typing import Any, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import FixedWindows
from apache_beam.utils.windowed_value import WindowedValue

from connectors.secrets import SecretRef
from connectors.sink_results import (FAILED_TAG, METRICS_NAMESPACE, WRITTEN_TAG, Buffer, Clock,
                                     SinkResult, WriteFailure, Written, backoff_delays,
                                     error_text, scrub_values, sink_result, utc_now,
                                     without_embedding)
from schemas.normalized import MarketOrder, SocialPost

_LOG = logging.getLogger(__name__)

SINK = 'weaviate'
STAGE = 'sink_weaviate'
VECTOR_NAME = 'default'

# Object-level error messages that mean "try again", not "this object is bad". A restarting
# Weaviate answers a batch with object errors, not a failed call: while it stops, "already shut
# or dropped" / "shard shutdown in progress" (shard.go); while it starts, "could not find index"
# (shards still loading) and "resolve node name ... to host" (its own node not yet in the
# cluster membership, so the shard looks remote; seen in the restart test). A collection that is
# really gone exhausts the retries and fails loudly instead of dead-lettering every record.
_TRANSIENT_OBJECT_ERRORS = ('deadline exceeded', 'timeout', 'unavailable', 'connection',
                            'read-only', 'readonly', 'too many requests', 'context canceled',
                            'could not find index', 'resolve node name', 'shut or dropped',
                            'shutdown in progress', 'shutting down', 'has shutdown')


@dataclasses.dataclass(frozen=True)
class WeaviateConfig:
  """Where to write. `api_key_ref` (env:NAME / file:PATH) is optional and resolved in setup()."""
  http_host: str = '127.0.0.1'
  http_port: int = 8080
  http_secure: bool = False
  grpc_host: str = '127.0.0.1'
  grpc_port: int = 50051
  grpc_secure: bool = False
  api_key_ref: Optional[str] = None
  posts_collection: str = 'SocialPost'
  orders_collection: str = 'MarketOrder'
  vector_dim: int = 384
  window_s: float = 60.0
  batch_size: int = 200
  # A partial batch is flushed when its oldest item is older than this (checked as items
  # arrive); None: at the end of the bundle only (every bundle's end flushes all batches).
  max_buffering_s: Optional[float] = 10.0
  max_retries: int = 8
  retry_base_s: float = 0.5
  retry_cap_s: float = 20.0
  timeout_s: float = 60.0

  def __post_init__(self):
    if self.api_key_ref:
      SecretRef.parse(self.api_key_ref)
    for name in ('posts_collection', 'orders_collection'):
      value = getattr(self, name)
      if not value or not value[0].isupper() or not value.replace('_', '').isalnum():
        raise ValueError(f'WeaviateConfig.{name} must be a class name like "SocialPost"')
    if self.posts_collection == self.orders_collection:
      raise ValueError('WeaviateConfig: posts and orders collections must differ')
    if self.batch_size < 1 or self.window_s <= 0 or (
        self.max_buffering_s is not None and self.max_buffering_s <= 0) or self.vector_dim < 1:
      raise ValueError('WeaviateConfig: batch_size, window_s, max_buffering_s, vector_dim must be positive')
    if self.max_retries < 0 or self.retry_base_s <= 0 or self.retry_cap_s < self.retry_base_s:
      raise ValueError('WeaviateConfig: retries must be >= 0 and 0 < retry_base_s <= retry_cap_s')

  def display_data(self) -> dict[str, Any]:
    return {'http': f'{self.http_host}:{self.http_port}', 'grpc': f'{self.grpc_host}:{self.grpc_port}',
            'auth': 'api_key' if self.api_key_ref else 'anonymous',
            'posts_collection': self.posts_collection, 'orders_collection': self.orders_collection,
            'window_s': self.window_s, 'batch_size': self.batch_size,
            'max_buffering_s': self.max_buffering_s}


def open_client(config: WeaviateConfig):
  """A connected v4 client (a context manager). Resolves the API key: call on the worker."""
  import weaviate
  from weaviate.classes.init import AdditionalConfig, Auth, Timeout

  auth = Auth.api_key(SecretRef.parse(config.api_key_ref).resolve()) if config.api_key_ref else None
  return weaviate.connect_to_custom(
      http_host=config.http_host, http_port=config.http_port, http_secure=config.http_secure,
      grpc_host=config.grpc_host, grpc_port=config.grpc_port, grpc_secure=config.grpc_secure,
      auth_credentials=auth,
      additional_config=AdditionalConfig(timeout=Timeout(
          init=min(30, config.timeout_s), query=config.timeout_s, insert=config.timeout_s)))


# ---- collections ---------------------------------------------------------------------------

def _post_properties():
  from weaviate.classes.config import DataType, Property, Tokenization
  field = dict(tokenization=Tokenization.FIELD)
  return [
      Property(name='event_id', data_type=DataType.TEXT, **field),
      Property(name='source', data_type=DataType.TEXT, **field),
      Property(name='kind', data_type=DataType.TEXT, **field),
      Property(name='native_id', data_type=DataType.TEXT, **field),
      Property(name='event_time', data_type=DataType.DATE),
      Property(name='text', data_type=DataType.TEXT),
      Property(name='hashtags', data_type=DataType.TEXT_ARRAY, **field),
      Property(name='city', data_type=DataType.TEXT, **field),
      Property(name='region_code', data_type=DataType.TEXT, **field),
      Property(name='like_count', data_type=DataType.INT),
      Property(name='comment_count', data_type=DataType.INT),
      Property(name='share_count', data_type=DataType.INT),
      Property(name='view_count', data_type=DataType.INT),
      Property(name='weather_condition', data_type=DataType.TEXT, **field),
      Property(name='embedding_model', data_type=DataType.TEXT, **field),
      Property(name='kafka_topic', data_type=DataType.TEXT, **field),
      Property(name='kafka_partition', data_type=DataType.INT),
      Property(name='kafka_offset', data_type=DataType.INT),
  ]


def _order_properties():
  from weaviate.classes.config import DataType, Property, Tokenization
  field = dict(tokenization=Tokenization.FIELD)
  return [
      Property(name='event_id', data_type=DataType.TEXT, **field),
      Property(name='source', data_type=DataType.TEXT, **field),
      Property(name='native_id', data_type=DataType.TEXT, **field),
      Property(name='order_number', data_type=DataType.TEXT, **field),
      Property(name='event_time', data_type=DataType.DATE),
      Property(name='status', data_type=DataType.TEXT, **field),
      Property(name='currency', data_type=DataType.TEXT, **field),
      Property(name='total_price', data_type=DataType.NUMBER),
      Property(name='item_count', data_type=DataType.INT),
      Property(name='product_titles', data_type=DataType.TEXT_ARRAY),
      Property(name='skus', data_type=DataType.TEXT_ARRAY, **field),
      Property(name='categories', data_type=DataType.TEXT_ARRAY, **field),
      Property(name='city', data_type=DataType.TEXT, **field),
      Property(name='country', data_type=DataType.TEXT, **field),
      Property(name='note', data_type=DataType.TEXT),
      Property(name='weather_condition', data_type=DataType.TEXT, **field),
      Property(name='embedding_model', data_type=DataType.TEXT, **field),
      Property(name='kafka_topic', data_type=DataType.TEXT, **field),
      Property(name='kafka_partition', data_type=DataType.INT),
      Property(name='kafka_offset', data_type=DataType.INT),
  ]


def ensure_collections(client, config: WeaviateConfig, log=lambda _: None) -> list[str]:
  """Creates the posts and orders collections if missing: explicit properties, no vectorizer
  (we bring the vectors), HNSW with cosine distance. Returns the names it created."""
  from weaviate.classes.config import Configure, VectorDistances

  created = []
  for name, properties in ((config.posts_collection, _post_properties()),
                           (config.orders_collection, _order_properties())):
    if client.collections.exists(name):
      log(f'exists  {name}')
      continue
    client.collections.create(
        name, properties=properties,
        vector_config=Configure.Vectors.self_provided(
            name=VECTOR_NAME,
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)))
    created.append(name)
    log(f'created {name}')
  return created


# ---- records → objects ---------------------------------------------------------------------

class WeaviateObject(NamedTuple):
  collection: str
  uuid: str
  properties: dict
  vector: Optional[list]       # plain floats, never NumPy
  source: str
  record: Any                  # without its embedding: what a WriteFailure carries


def _date(value: Optional[datetime.datetime]) -> Optional[str]:
  if value is None:
    return None
  if value.tzinfo is None:
    value = value.replace(tzinfo=datetime.timezone.utc)
  return value.isoformat()


def _vector(record: Any, dim: int) -> Optional[list]:
  if record.embedding is None:
    return None
  vector = [float(x) for x in record.embedding]
  if len(vector) != dim:
    raise ValueError(f'embedding has {len(vector)} dimensions, the collection {dim}')
  return vector


def _post_object(post: SocialPost, config: WeaviateConfig) -> WeaviateObject:
  properties = {
      'event_id': post.event_id, 'source': post.source, 'kind': post.kind,
      'native_id': post.native_id, 'event_time': _date(post.event_time), 'text': post.text,
      'hashtags': list(post.hashtags), 'city': post.city, 'region_code': post.region_code,
      'like_count': post.like_count, 'comment_count': post.comment_count,
      'share_count': post.share_count, 'view_count': post.view_count,
      'weather_condition': post.weather.condition if post.weather else None,
      'embedding_model': post.embedding_model, 'kafka_topic': post.lineage.topic,
      'kafka_partition': post.lineage.partition, 'kafka_offset': post.lineage.offset}
  return WeaviateObject(config.posts_collection, str(uuid.UUID(post.event_id)),
                        {k: v for k, v in properties.items() if v is not None},
                        _vector(post, config.vector_dim), post.source, without_embedding(post))


def _order_object(order: MarketOrder, config: WeaviateConfig) -> WeaviateObject:
  titles, skus, categories = [], [], []
  for line in order.lines:
    title = (line.product.title if line.product and line.product.title else line.title)
    if title:
      titles.append(title)
    if line.sku:
      skus.append(line.sku)
    if line.product and line.product.category:
      categories.append(line.product.category)
  properties = {
      'event_id': order.event_id, 'source': order.source, 'native_id': order.native_id,
      'order_number': order.order_number, 'event_time': _date(order.event_time),
      'status': order.status, 'currency': order.currency,
      'total_price': float(order.total_price) if order.total_price is not None else None,
      'item_count': order.item_count, 'product_titles': titles, 'skus': skus,
      'categories': sorted(set(categories)), 'city': order.city, 'country': order.country,
      'note': order.note, 'weather_condition': order.weather.condition if order.weather else None,
      'embedding_model': order.embedding_model, 'kafka_topic': order.lineage.topic,
      'kafka_partition': order.lineage.partition, 'kafka_offset': order.lineage.offset}
  return WeaviateObject(config.orders_collection, str(uuid.UUID(order.event_id)),
                        {k: v for k, v in properties.items() if v is not None},
                        _vector(order, config.vector_dim), order.source, without_embedding(order))


def to_object(record: Any, config: WeaviateConfig) -> WeaviateObject:
  if isinstance(record, SocialPost):
    return _post_object(record, config)
  if isinstance(record, MarketOrder):
    return _order_object(record, config)
  raise TypeError(f'the Weaviate sink cannot write a {type(record).__name__}')


# ---- the write DoFn ------------------------------------------------------------------------

class _Transient(Exception):
  """Retry on a fresh client."""


def _is_transient(error: BaseException) -> bool:
  from weaviate import exceptions as wx
  if isinstance(error, (wx.WeaviateConnectionError, wx.WeaviateGRPCUnavailableError,
                        wx.WeaviateTimeoutError, wx.WeaviateClosedClientError,
                        wx.WeaviateStartUpError, wx.WeaviateRetryError, wx.WeaviateBatchError,
                        wx.WeaviateQueryError, OSError, TimeoutError)):
    return True
  if isinstance(error, wx.UnexpectedStatusCodeError):
    return error.status_code in (429, 500, 502, 503, 504)
  # httpx / grpc errors surface as their own types when the server is gone.
  return type(error).__module__.split('.')[0] in ('httpx', 'httpcore', 'grpc')


class _ImportStats(NamedTuple):
  """What one batch's import did, counted by the DoFn's thread (metrics are thread-bound)."""
  failed: dict            # uuid -> (error_class, message)
  calls: int
  retries: int
  latency_ms: int


class _ImportBatchesFn(beam.DoFn):
  """Imports (collection, objects) batches with insert_many; checks every object's error.

  Objects are buffered per collection and window and flushed when a buffer is full or old,
  and in finish_bundle(), so a bundle is never committed with objects still buffered. One
  batch is in flight on a background thread while the next one fills (the client's own
  batch import overlaps the same way); its results are emitted from the DoFn's thread.
  """

  def __init__(self, config: WeaviateConfig, clock: Clock = utc_now, sleep=time.sleep):
    self._config = config
    self._clock = clock
    self._sleep = sleep
    self._client = None
    self._executor = None
    self._in_flight = None
    self._buffers: dict[tuple[str, Any], Buffer] = {}

  def display_data(self):
    return self._config.display_data()

  def setup(self):
    # insert_many logs a failed batch's objects, properties included: never log element
    # contents. Object errors are counted and routed to the failures output instead.
    logging.getLogger('weaviate-client').setLevel(logging.ERROR)
    self._written = Metrics.counter(METRICS_NAMESPACE, 'num_weaviate_objects_written')
    self._failed = Metrics.counter(METRICS_NAMESPACE, 'num_weaviate_objects_failed')
    self._retries = Metrics.counter(METRICS_NAMESPACE, 'num_weaviate_retries')
    self._batches = Metrics.counter(METRICS_NAMESPACE, 'num_weaviate_batches')
    self._latency = Metrics.distribution(METRICS_NAMESPACE, 'weaviate_batch_latency_ms')
    self._executor = concurrent.futures.ThreadPoolExecutor(
        max_workers=1, thread_name_prefix='weaviate-import')
    try:
      self._open()
    except Exception as e:  # Unreachable now: the first import reconnects, with retries.
      if not _is_transient(e):
        raise
      _LOG.warning('Weaviate unreachable at setup (%s); will connect on first import',
                   type(e).__name__)

  def teardown(self):
    if self._executor is not None:
      self._executor.shutdown(wait=True)
      self._executor = None
    self._close()

  def start_bundle(self):
    self._buffers = {}
    self._in_flight = None

  def process(self, obj: WeaviateObject, window=beam.DoFn.WindowParam):
    key = (obj.collection, window)
    buffer = self._buffers.get(key)
    if buffer is None:
      buffer = self._buffers[key] = Buffer(time.monotonic(), [])
    buffer.items.append(obj)
    if (len(buffer.items) >= self._config.batch_size or
        self._config.max_buffering_s is not None and
        time.monotonic() - buffer.started > self._config.max_buffering_s):
      del self._buffers[key]
      yield from self._submit(obj.collection, window, buffer.items)

  def finish_bundle(self):
    buffers, self._buffers = self._buffers, {}
    for (collection, window), buffer in buffers.items():
      yield from self._submit(collection, window, buffer.items)
    yield from self._drain()

  def _submit(self, collection: str, window, objects: list[WeaviateObject]):
    """Starts importing `objects`, after emitting the results of the batch before it."""
    yield from self._drain()
    unique = list({o.uuid: o for o in objects}.values())  # last wins, as the server would
    future = self._executor.submit(self._import_with_retries, collection, unique)
    self._in_flight = (future, collection, window, unique)

  def _drain(self):
    """Waits for the batch in flight; emits its written and failed objects in its window."""
    if self._in_flight is None:
      return
    (future, collection, window, objects), self._in_flight = self._in_flight, None
    stats = future.result()   # Raises what the import raised: the bundle fails and is retried.
    self._batches.inc(stats.calls)
    self._retries.inc(stats.retries)
    self._latency.update(stats.latency_ms)
    self._written.inc(len(objects) - len(stats.failed))
    self._failed.inc(len(stats.failed))
    now = self._clock()
    for obj in objects:
      reason = stats.failed.get(obj.uuid)
      if reason is None:
        value = Written(SINK, collection, obj.uuid, obj.source)
        yield WindowedValue(value, window.max_timestamp(), [window])
      else:
        value = WriteFailure(STAGE, collection, obj.record, reason[0], reason[1], now)
        yield beam.pvalue.TaggedOutput(
            FAILED_TAG, WindowedValue(value, window.max_timestamp(), [window]))

  def _import_with_retries(self, collection: str, objects: list[WeaviateObject]) -> _ImportStats:
    """Runs on the import thread. Returns the permanent failures and what it took."""
    config = self._config
    delays = backoff_delays(config.max_retries, config.retry_base_s, config.retry_cap_s)
    pending, failed, calls, retries = objects, {}, 0, 0
    start = time.monotonic()
    while True:
      try:
        calls += 1
        retry = self._import(collection, pending, failed)
      except Exception as e:  # Transient: retried below; anything else is raised.
        if not _is_transient(e):
          raise
        retry, reason = pending, f'{type(e).__name__}: {error_text(e)}'
        self._close()
      else:
        if not retry:
          return _ImportStats(failed, calls, retries, int((time.monotonic() - start) * 1000))
        reason = 'transient object errors'
      delay = next(delays, None)
      if delay is None:
        raise RuntimeError(f'Weaviate import into {collection} failed after '
                           f'{config.max_retries} retries: {reason}')
      retries += 1
      _LOG.warning('Weaviate import into %s: %d objects to retry (%s); retry in %.1f s',
                   collection, len(retry), reason[:200], delay)
      self._sleep(delay)
      pending = retry

  def _import(self, collection: str, objects: list[WeaviateObject], failed: dict) -> list:
    """One insert_many. Records permanent object errors in `failed`; returns objects to retry."""
    from weaviate.classes.data import DataObject
    from weaviate.exceptions import WeaviateInsertManyAllFailedError

    if self._client is None:
      self._open()
    data = [DataObject(properties=o.properties, uuid=o.uuid,
                       vector={VECTOR_NAME: o.vector} if o.vector is not None else None)
            for o in objects]
    try:
      result = self._client.collections.get(collection).data.insert_many(data)
    except WeaviateInsertManyAllFailedError as e:
      message = scrub_values(error_text(e), single_quotes=False)
      if any(marker in message.lower() for marker in _TRANSIENT_OBJECT_ERRORS):
        return list(objects)
      for o in objects:
        failed[o.uuid] = ('WeaviateObjectError', message)
      return []
    retry = []
    for index, error in (result.errors or {}).items():
      message = scrub_values(error_text(Exception(error.message)), single_quotes=False)
      if any(marker in message.lower() for marker in _TRANSIENT_OBJECT_ERRORS):
        retry.append(objects[index])
      else:
        failed[objects[index].uuid] = ('WeaviateObjectError', message)
    # Trust but verify: every object not in errors must be acknowledged with its UUID.
    acknowledged = {str(u) for u in (result.uuids or {}).values()}
    for index, o in enumerate(objects):
      if o.uuid not in acknowledged and index not in (result.errors or {}):
        failed[o.uuid] = ('WeaviateObjectError', 'not acknowledged by the batch (silent failure)')
    return retry

  def _open(self):
    self._client = open_client(self._config)

  def _close(self):
    client, self._client = self._client, None
    if client is not None:
      try:
        client.close()
      except Exception:  # A client whose server is gone may fail to close; it is dropped anyway.
        pass


class _ToObjectsFn(beam.DoFn):
  def __init__(self, config: WeaviateConfig, clock: Clock = utc_now):
    self._config = config
    self._clock = clock

  def setup(self):
    self._unmappable = Metrics.counter(METRICS_NAMESPACE, 'num_weaviate_objects_unmappable')

  def process(self, record):
    try:
      yield to_object(record, self._config)
    except (TypeError, ValueError) as e:
      self._unmappable.inc()
      yield beam.pvalue.TaggedOutput(FAILED_TAG, WriteFailure(
          STAGE, type(record).__name__, without_embedding(record), type(e).__name__,
          error_text(e), self._clock()))



class WriteToWeaviate(beam.PTransform):
  """SocialPost | MarketOrder → SinkResult(written: Written, failures: WriteFailure).

  Collections must exist: `python -m connectors.weaviate --local` (or ensure_collections()).
  """

  def __init__(self, config: WeaviateConfig, clock: Clock = utc_now):
    super().__init__()
    self._config = config
    self._clock = clock

  def display_data(self):
    return self._config.display_data()

  def expand(self, records) -> SinkResult:
    config = self._config
    objects = records | 'ToObjects' >> beam.ParDo(
        _ToObjectsFn(config, self._clock)).with_outputs(FAILED_TAG, main='objects')
    imported = (
        objects.objects
        | 'WindowIntoBatches' >> beam.WindowInto(FixedWindows(config.window_s))
        | 'ImportBatches' >> beam.ParDo(
            _ImportBatchesFn(config, self._clock)).with_outputs(FAILED_TAG, main=WRITTEN_TAG))
    return sink_result(records, objects[FAILED_TAG], imported)


# ---- command -------------------------------------------------------------------------------

def main(argv: Optional[Sequence[str]] = None) -> int:
  """python -m connectors.weaviate [--local | --http-host ...]: create the collections."""
  import os
  parser = argparse.ArgumentParser(description='Create the Weaviate collections (idempotent).')
  parser.add_argument('--local', action='store_true',
                      help='The local stack (MILLIONX_WEAVIATE_HTTP_PORT / _GRPC_PORT, 8080 / 50051).')
  parser.add_argument('--http-host', default='127.0.0.1', help='REST host.')
  parser.add_argument('--http-port', type=int, help='REST port (default 8080).')
  parser.add_argument('--http-secure', action='store_true', help='Use https for REST.')
  parser.add_argument('--grpc-host', default='127.0.0.1', help='gRPC host.')
  parser.add_argument('--grpc-port', type=int, help='gRPC port (default 50051).')
  parser.add_argument('--grpc-secure', action='store_true', help='Use TLS for gRPC.')
  parser.add_argument('--api-key-ref', help='Secret reference to the API key (env:NAME or file:PATH).')
  parser.add_argument('--posts-collection', default='SocialPost', help='Posts collection name.')
  parser.add_argument('--orders-collection', default='MarketOrder', help='Orders collection name.')
  args = parser.parse_args(argv)
  http_port = args.http_port or int(os.environ.get('MILLIONX_WEAVIATE_HTTP_PORT', '8080'))
  grpc_port = args.grpc_port or int(os.environ.get('MILLIONX_WEAVIATE_GRPC_PORT', '50051'))
  config = WeaviateConfig(
      http_host=args.http_host, http_port=http_port, http_secure=args.http_secure,
      grpc_host=args.grpc_host, grpc_port=grpc_port, grpc_secure=args.grpc_secure,
      api_key_ref=args.api_key_ref, posts_collection=args.posts_collection,
      orders_collection=args.orders_collection)
  with open_client(config) as client:
    ensure_collections(client, config, log=print)
  return 0


if __name__ == '__main__':
  sys.exit(main())
