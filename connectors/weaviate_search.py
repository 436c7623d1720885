"""Semantic search over the posts WriteToWeaviate stores: near-vector, hybrid (BM25 + vector), by example.

Queries use the one named vector the sink writes (VECTOR_NAME, HNSW, cosine distance): a hit's
score is its cosine similarity to the query vector (1 - distance); in hybrid search it is
Weaviate's fused score of the vector and BM25 rankings (alpha weights the vector side). Filters
are on the stored properties (source, city, event_time, hashtags).

Failures are typed, each with a message a person can act on: WeaviateUnavailable (not reachable:
start it), CollectionMissing / CollectionEmpty (nothing written yet: run the pipeline with
--weaviate), ObjectNotFound (no post with that event id), SearchFailed (anything else).
"""
from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any, NamedTuple, Optional, Sequence

from connectors.sink_results import error_text
from connectors.weaviate import VECTOR_NAME, WeaviateConfig, open_client

_RETURNED = ('event_id', 'source', 'kind', 'city', 'event_time', 'text', 'hashtags',
             'embedding_model')
_BM25_PROPERTIES = ['text', 'hashtags']
MAX_LIMIT = 100


class SearchError(Exception):
  """A search could not be answered; the message says why and what to do."""


class WeaviateUnavailable(SearchError):
  pass


class CollectionMissing(SearchError):
  pass


class CollectionEmpty(SearchError):
  pass


class ObjectNotFound(SearchError):
  pass


class SearchFailed(SearchError):
  pass


@dataclasses.dataclass(frozen=True)
class SearchFilters:
  """Conditions every hit meets; None / () = no condition. Times are aware datetimes."""
  source: Optional[str] = None
  city: Optional[str] = None
  since: Optional[datetime.datetime] = None       # event_time >= since
  until: Optional[datetime.datetime] = None       # event_time < until
  hashtags: tuple[str, ...] = ()                  # any of them (stored without '#', exact)

  def __post_init__(self):
    for name in ('since', 'until'):
      value = getattr(self, name)
      if value is not None and value.tzinfo is None:
        raise ValueError(f'SearchFilters.{name} must be timezone-aware')
    if self.since and self.until and self.since >= self.until:
      raise ValueError('SearchFilters: since must be before until')
    object.__setattr__(self, 'hashtags', tuple(h.lstrip('#') for h in self.hashtags if h.lstrip('#')))


class SearchHit(NamedTuple):
  event_id: str
  score: float                      # cosine similarity (near-vector) or fused score (hybrid)
  source: Optional[str]
  kind: Optional[str]
  city: Optional[str]
  event_time: Optional[datetime.datetime]
  text: str                         # as stored: scrubbed by the pipeline
  hashtags: tuple[str, ...]
  embedding_model: Optional[str]

  def as_json(self) -> dict[str, Any]:
    out = self._asdict()
    out['event_time'] = self.event_time.isoformat() if self.event_time else None
    out['hashtags'] = list(self.hashtags)
    return out


def _filters(filters: SearchFilters, exclude_event_id: Optional[str] = None):
  from weaviate.classes.query import Filter
  conditions = []
  if filters.source:
    conditions.append(Filter.by_property('source').equal(filters.source))
  if filters.city:
    conditions.append(Filter.by_property('city').equal(filters.city))
  if filters.since:
    conditions.append(Filter.by_property('event_time').greater_or_equal(filters.since))
  if filters.until:
    conditions.append(Filter.by_property('event_time').less_than(filters.until))
  if filters.hashtags:
    conditions.append(Filter.by_property('hashtags').contains_any(list(filters.hashtags)))
  if exclude_event_id:
    conditions.append(Filter.by_id().not_equal(exclude_event_id))
  if not conditions:
    return None
  return conditions[0] if len(conditions) == 1 else Filter.all_of(conditions)


def _hit(obj, hybrid: bool) -> SearchHit:
  p = obj.properties
  if hybrid:
    score = obj.metadata.score
  else:
    score = None if obj.metadata.distance is None else 1.0 - obj.metadata.distance
  event_time = p.get('event_time')
  if isinstance(event_time, str):
    event_time = datetime.datetime.fromisoformat(event_time)
  return SearchHit(event_id=p.get('event_id') or str(obj.uuid),
                   score=float(score) if score is not None else float('nan'),
                   source=p.get('source'), kind=p.get('kind'), city=p.get('city'),
                   event_time=event_time, text=p.get('text') or '',
                   hashtags=tuple(p.get('hashtags') or ()),
                   embedding_model=p.get('embedding_model'))


class WeaviateSearch:
  """A connected searcher over one posts collection; use as a context manager.

    with WeaviateSearch(config) as search:
      hits = search.near_vector(vector, SearchFilters(city='Dhaka'), limit=10)
  """

  def __init__(self, config: WeaviateConfig, collection: Optional[str] = None):
    self._config = config
    self.collection_name = collection or config.posts_collection
    self._client = None

  def _where(self) -> str:
    c = self._config
    return f'{c.http_host}:{c.http_port} (gRPC {c.grpc_host}:{c.grpc_port})'

  def __enter__(self) -> 'WeaviateSearch':
    from weaviate.exceptions import WeaviateBaseError
    try:
      self._client = open_client(self._config)
    except (WeaviateBaseError, OSError) as e:
      raise WeaviateUnavailable(
          f'Weaviate is not reachable at {self._where()}: {error_text(e)[:300]}. Start the '
          'local one with `stack/stack.sh start weaviate`, or pass --weaviate_http_host/'
          '--weaviate_http_port/--weaviate_grpc_port.') from e
    return self

  def __exit__(self, *exc) -> None:
    if self._client is not None:
      self._client.close()
      self._client = None

  def _call(self, what: str, fn):
    from weaviate.exceptions import WeaviateBaseError
    try:
      return fn()
    except WeaviateBaseError as e:
      message = error_text(e)
      if any(m in message.lower() for m in ('unavailable', 'connection refused', 'connect')):
        raise WeaviateUnavailable(f'Weaviate at {self._where()} stopped answering while '
                                  f'{what}: {message[:300]}') from e
      raise SearchFailed(f'Weaviate refused {what}: {message[:300]}') from e

  @property
  def _collection(self):
    return self._client.collections.get(self.collection_name)

  def count(self) -> int:
    """How many posts are stored; CollectionMissing / CollectionEmpty when none can be searched."""
    exists = self._call('looking up the collection',
                        lambda: self._client.collections.exists(self.collection_name))
    if not exists:
      raise CollectionMissing(
          f'Weaviate has no collection {self.collection_name!r}: nothing was written yet. Create '
          'it with `python -m connectors.weaviate --local` and run the pipeline with --weaviate.')
    total = self._call('counting the posts',
                       lambda: self._collection.aggregate.over_all(total_count=True).total_count)
    if not total:
      raise CollectionEmpty(
          f'the collection {self.collection_name!r} is empty: run the pipeline with --weaviate '
          '(and embeddings on) to fill it.')
    return total

  def vector_of(self, event_id: str) -> list[float]:
    """The stored vector of one post (for search by example)."""
    try:
      object_id = str(uuid.UUID(event_id))
    except ValueError:
      raise ObjectNotFound(f'{event_id[:60]!r} is not an event id (a UUID)') from None
    obj = self._call('fetching the post', lambda: self._collection.query.fetch_object_by_id(
        object_id, include_vector=True))
    if obj is None:
      raise ObjectNotFound(f'no post with event id {object_id} in {self.collection_name!r}')
    vector = obj.vector.get(VECTOR_NAME) if isinstance(obj.vector, dict) else obj.vector
    if not vector:
      raise ObjectNotFound(f'the post {object_id} has no vector (stored with embeddings off)')
    return list(vector)

  def near_vector(self, vector: Sequence[float], filters: SearchFilters = SearchFilters(),
                  limit: int = 10, exclude_event_id: Optional[str] = None) -> list[SearchHit]:
    from weaviate.classes.query import MetadataQuery
    _check_limit(limit)
    result = self._call('the near-vector query', lambda: self._collection.query.near_vector(
        near_vector=[float(v) for v in vector], target_vector=VECTOR_NAME, limit=limit,
        filters=_filters(filters, exclude_event_id), return_properties=list(_RETURNED),
        return_metadata=MetadataQuery(distance=True)))
    return [_hit(o, hybrid=False) for o in result.objects]

  def hybrid(self, text: str, vector: Sequence[float], alpha: float = 0.5,
             filters: SearchFilters = SearchFilters(), limit: int = 10) -> list[SearchHit]:
    from weaviate.classes.query import MetadataQuery
    _check_limit(limit)
    if not 0.0 <= alpha <= 1.0:
      raise ValueError('alpha must be within 0..1')
    result = self._call('the hybrid query', lambda: self._collection.query.hybrid(
        query=text, vector=[float(v) for v in vector], alpha=alpha, target_vector=VECTOR_NAME,
        query_properties=_BM25_PROPERTIES, limit=limit, filters=_filters(filters),
        return_properties=list(_RETURNED), return_metadata=MetadataQuery(score=True)))
    return [_hit(o, hybrid=True) for o in result.objects]


def _check_limit(limit: int) -> None:
  if not 1 <= limit <= MAX_LIMIT:
    raise ValueError(f'limit must be within 1..{MAX_LIMIT}')
