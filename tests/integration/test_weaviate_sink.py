"""WriteToWeaviate and the collections against the real local Weaviate (REST + gRPC).
Start it with `./run_local.sh start`."""
from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from connectors.weaviate import STAGE, VECTOR_NAME, WriteToWeaviate, ensure_collections, open_client
from tests.integration import sink_helpers as h


def _write(config, records, expect_written=None, expect_failed=()):
  def build(pipeline):
    result = pipeline | 'Create' >> beam.Create(records) | 'Write' >> WriteToWeaviate(config)
    if expect_written is not None:
      assert_that(result.written | 'WrittenKeys' >> beam.Map(lambda w: (w.target, w.key)),
                  equal_to(expect_written), label='CheckWritten')
    assert_that(result.failures | 'FailedIds' >> beam.Map(
        lambda f: (f.stage, f.target, f.record.event_id, f.error_class, f.record.embedding)),
                equal_to(list(expect_failed)), label='CheckFailures')
  return h.run_pipeline(build)


def _counter(result, name):
  counters = result.metrics().query(MetricsFilter().with_name(name))['counters']
  return sum(c.committed for c in counters)


def test_write_read_back_and_replay_changes_nothing():
  posts = [h.post(i) for i in range(8)]
  orders = [h.order(i) for i in range(3)]
  with h.weaviate_collections() as config:
    expected = ([(config.posts_collection, p.event_id) for p in posts]
                + [(config.orders_collection, o.event_id) for o in orders])
    result = _write(config, posts + orders, expected)
    assert _counter(result, 'num_weaviate_objects_written') == 11
    assert h.weaviate_count(config, config.posts_collection) == 8
    assert h.weaviate_count(config, config.orders_collection) == 3

    with open_client(config) as client:
      stored = client.collections.get(config.orders_collection).query.fetch_object_by_id(
          orders[1].event_id, include_vector=True)
    assert stored.properties['native_id'] == orders[1].native_id
    assert stored.properties['skus'] == ['SKU-TEA']
    assert stored.properties['product_titles'] == ['Premium Tea']
    assert stored.properties['total_price'] == 1200.0
    assert stored.vector[VECTOR_NAME] == list(orders[1].embedding)

    _write(config, posts + orders, expected)   # The replay overwrites, never adds.
    assert h.weaviate_count(config, config.posts_collection) == 8
    assert h.weaviate_count(config, config.orders_collection) == 3


def test_nearest_neighbour_is_the_expected_post():
  posts = [h.post(i) for i in range(20)]
  with h.weaviate_collections() as config:
    _write(config, posts)
    with open_client(config) as client:
      found = client.collections.get(config.posts_collection).query.near_vector(
          near_vector=list(h.unit_vector(7)), target_vector=VECTOR_NAME, limit=1,
          return_metadata=['distance'])
    assert [str(o.uuid) for o in found.objects] == [posts[7].event_id]
    assert found.objects[0].metadata.distance < 1e-4


def test_collections_are_created_idempotently():
  with h.weaviate_collections() as config:
    with open_client(config) as client:
      assert ensure_collections(client, config) == []
      posts = client.collections.get(config.posts_collection).config.get()
    assert posts.vector_config[VECTOR_NAME].vector_index_config.distance_metric.value == 'cosine'
    assert posts.vector_config[VECTOR_NAME].vectorizer.vectorizer.value == 'none'
    assert 'text' in {p.name for p in posts.properties}


def test_permanently_bad_object_goes_to_failures_and_the_rest_is_written():
  # A collection whose region_code is an INT: a post that carries one is refused by the
  # server object by object (the batch call itself succeeds, so only the per-object errors
  # tell). Posts without a region_code are fine.
  from weaviate.classes.config import Configure, DataType, Property, VectorDistances
  good = [h.post(i) for i in range(5)]
  bad = h.post(9, region_code='BD')
  with h.weaviate_collections() as config:
    with open_client(config) as client:
      client.collections.delete(config.posts_collection)
      client.collections.create(
          config.posts_collection,
          properties=[Property(name='region_code', data_type=DataType.INT)],
          vector_config=Configure.Vectors.self_provided(
              name=VECTOR_NAME,
              vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)))
    result = _write(config, good[:2] + [bad] + good[2:],
                    expect_failed=[(STAGE, config.posts_collection, bad.event_id,
                                    'WeaviateObjectError', None)])
    assert h.weaviate_count(config, config.posts_collection) == 5
    assert _counter(result, 'num_weaviate_objects_failed') == 1


def test_server_restart_mid_run_is_retried_nothing_lost_nothing_doubled():
  # The server is stopped once the first objects are stored, so the restart always lands in
  # the middle of the import (a fixed delay sometimes stopped it before the write had begun).
  # Whatever each batch meets (refused connections, a stopping or a starting server's object
  # errors), the outcome is exact: every object written once, nothing dead-lettered.
  posts = [h.post(i) for i in range(1500)]
  with h.weaviate_collections(batch_size=10) as config:
    expected = [(config.posts_collection, p.event_id) for p in posts]

    def import_started():
      return h.weaviate_count(config, config.posts_collection) > 0

    with h.server_outage('weaviate', down_s=3.0, when=import_started):
      result = _write(config, posts, expect_written=expected)
    assert h.weaviate_count(config, config.posts_collection) == 1500
    assert _counter(result, 'num_weaviate_objects_written') == 1500
    assert _counter(result, 'num_weaviate_objects_failed') == 0
    assert _counter(result, 'num_weaviate_retries') >= 1, 'the outage should have been retried'


def test_an_object_reaches_weaviate_within_the_flush_interval_while_the_bundle_is_open():
  # Issue 11: a slow stream's partial batch is imported by time, not at the bundle's end.
  import time

  from apache_beam.transforms.window import GlobalWindow

  from connectors.weaviate import _ImportBatchesFn, to_object
  with h.weaviate_collections(max_buffering_s=1.0) as config:
    fn = _ImportBatchesFn(config)
    fn.setup()
    try:
      fn.start_bundle()
      started = time.monotonic()
      assert list(fn.process(to_object(h.post(1), config), GlobalWindow())) == []
      while (h.weaviate_count(config, config.posts_collection) == 0
             and time.monotonic() - started < 20):
        time.sleep(0.1)
      waited = time.monotonic() - started
      assert h.weaviate_count(config, config.posts_collection) == 1, 'not flushed by time'
      assert waited < 10, waited
      assert [w.value.key for w in fn.finish_bundle()] == [h.post(1).event_id]
    finally:
      fn.teardown()
