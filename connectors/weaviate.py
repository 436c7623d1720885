"""WriteToWeaviate: idempotent batch imports of embedded posts and orders.

Each object's UUID is the record's `event_id` (itself a UUIDv5 of source, kind and native
id), so a replayed record overwrites its object instead of adding one. Batches go through the
v4 client's `insert_many` over gRPC, and every batch's per-object errors are checked: imports
have been reported to fail silently (weaviate-python-client #885, weaviate #1932, #7156), so
an object is reported written only when its batch came back without an error for it. Vectors
are sent as plain float lists (`insert_many` has dropped NumPy vectors: client #1002).

  records ─ ToObjects ─ WindowIntoBatches ─ ImportBatches ─▶ written
                └── not a post or order ──────┴───────────▶ failures

Batching, flushing, retries, the failure output and the rewindowing are
connectors/batching_sink.py's; this module says how a record becomes an object, which errors
are transient, and how one batch is imported and checked.

Collections (schema and command): connectors/weaviate_schema.py;
`python -m connectors.weaviate --local` creates them (idempotent).
"""
from __future__ import annotations

import dataclasses
import datetime
import functools
import logging
import sys
import uuid
from typing import Any, NamedTuple, Optional

from connectors.batching_sink import (BatchingConfig, BatchingWrite, BatchWriteFn, ToItemsFn,
                                      close_quietly)
from connectors.secrets import SecretRef
from connectors.sink_results import Clock, error_text, scrub_values, utc_now, without_embedding
from connectors.weaviate_schema import (ORDERS_COLLECTION, POSTS_COLLECTION, VECTOR_NAME,  # noqa: F401 (re-exported)
                                        ensure_collections)
from schemas.normalized import MarketOrder, SocialPost

_LOG = logging.getLogger(__name__)

SINK = 'weaviate'
STAGE = 'sink_weaviate'

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


@dataclasses.dataclass(frozen=True, kw_only=True)
class WeaviateConfig(BatchingConfig):
  """Where to write. `api_key_ref` (env:NAME / file:PATH) is optional and resolved in setup().
  Batching fields: BatchingConfig (objects per insert_many: batch_size)."""
  http_host: str = '127.0.0.1'
  http_port: int = 8080
  http_secure: bool = False
  grpc_host: str = '127.0.0.1'
  grpc_port: int = 50051
  grpc_secure: bool = False
  api_key_ref: Optional[str] = None
  posts_collection: str = POSTS_COLLECTION
  orders_collection: str = ORDERS_COLLECTION
  vector_dim: int = 384
  batch_size: int = 200
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
    if self.vector_dim < 1:
      raise ValueError('WeaviateConfig: vector_dim must be positive')
    super().__post_init__()

  def display_data(self) -> dict[str, Any]:
    return {'http': f'{self.http_host}:{self.http_port}', 'grpc': f'{self.grpc_host}:{self.grpc_port}',
            'auth': 'api_key' if self.api_key_ref else 'anonymous',
            'posts_collection': self.posts_collection, 'orders_collection': self.orders_collection,
            **self.batching_display_data()}


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


# ---- records → objects ---------------------------------------------------------------------

class WeaviateObject(NamedTuple):
  collection: str
  uuid: str
  properties: dict
  vector: Optional[list]       # plain floats, never NumPy
  source: str
  record: Any                  # without its embedding: what a WriteFailure carries

  # What the batching skeleton reads: target, key, version (None: the last copy wins).
  @property
  def target(self) -> str:
    return self.collection

  @property
  def key(self) -> str:
    return self.uuid

  @property
  def version(self) -> None:
    return None


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


class _ImportBatchesFn(BatchWriteFn):
  """Imports batches of one collection's objects with insert_many; checks every object's error."""
  SINK = SINK
  STAGE = STAGE
  UNIT = 'objects'

  def __init__(self, config: WeaviateConfig, clock: Clock = utc_now, **kwargs):
    super().__init__(config, clock, **kwargs)
    self._client = None

  def setup(self):
    # insert_many logs a failed batch's objects, properties included: never log element
    # contents. Object errors are counted and routed to the failures output instead.
    logging.getLogger('weaviate-client').setLevel(logging.ERROR)
    super().setup()

  def open(self) -> None:
    self._client = open_client(self._config)

  def close(self) -> None:
    client, self._client = self._client, None
    close_quietly(client)

  def is_transient(self, error: BaseException) -> bool:
    return _is_transient(error)

  def write_batch(self, collection: str, objects: list[WeaviateObject]) -> dict:
    failed: dict = {}
    self.retrying(collection, lambda pending: self._import(collection, pending, failed), objects)
    return failed

  def _import(self, collection: str, objects: list[WeaviateObject], failed: dict) -> list:
    """One insert_many. Records permanent object errors in `failed`; returns objects to retry."""
    from weaviate.classes.data import DataObject
    from weaviate.exceptions import WeaviateInsertManyAllFailedError

    if self._client is None:
      self.open()
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


def _objects(record, config: WeaviateConfig) -> list[WeaviateObject]:
  return [to_object(record, config)]


class WriteToWeaviate(BatchingWrite):
  """SocialPost | MarketOrder → SinkResult(written: Written, failures: WriteFailure).

  Collections must exist: `python -m connectors.weaviate --local` (or ensure_collections()).
  """
  TO_ITEMS_LABEL = 'ToObjects'
  ITEMS_TAG = 'objects'
  WRITE_LABEL = 'ImportBatches'

  def __init__(self, config: WeaviateConfig, clock: Clock = utc_now):
    super().__init__(config, clock)

  def to_items_fn(self) -> ToItemsFn:
    return ToItemsFn(SINK, STAGE, 'objects', functools.partial(_objects, config=self._config),
                     self._clock)

  def write_fn(self) -> BatchWriteFn:
    return _ImportBatchesFn(self._config, self._clock)


if __name__ == '__main__':
  from connectors.weaviate_schema import main
  sys.exit(main())
