"""EmbedRecords: keyed RunInference, empty text flagged, failures to the DLQ, dedupe + cache."""
import datetime
import math

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_empty

from schemas.normalized import Flag, Lineage, MarketOrder, OrderLine, Product, SocialPost, event_id
from tests.unit import fakes
from transforms.embed import CachedEncoder, EmbedRecords, embedding_text
from transforms.metrics import NAMESPACE

T0 = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)


def _post(n, text, hashtags=()):
  return SocialPost(event_id=event_id('tiktok', 'video', str(n)), source='tiktok', kind='video',
                    native_id=str(n), event_time=T0, ingest_time=T0,
                    lineage=Lineage('raw.tiktok.videos', 0, n, 0), text=text, hashtags=hashtags)


def test_embedding_text_uses_scrubbed_fields_and_product_titles():
  assert embedding_text(_post(1, 'Eid sale #offer', ('offer', 'dhaka'))) == 'Eid sale #offer #dhaka'
  line = OrderLine('1', 'S', None, 'raw title', 1, None,
                   product=Product('S', title='Jamdani Saree', category='Fashion > Saree'))
  order = MarketOrder(event_id='e', source='daraz', native_id='1', event_time=T0, ingest_time=T0,
                      lineage=Lineage('t', 0, 1, 0), lines=(line, line), note='call 01712345678')
  assert embedding_text(order) == 'Jamdani Saree (Fashion > Saree)'


def test_vectors_attached_empty_text_flagged_failures_dead_lettered():
  records = [_post(1, 'hello'), _post(2, 'hello'), _post(3, ''), _post(4, 'please FAIL me')]
  p = TestPipeline()
  result = p | beam.Create(records) | EmbedRecords(
      fakes.embed_config(), model_handler=fakes.FakeEmbeddingModelHandler(fail_if_contains='FAIL'))
  assert_that(result.records | beam.Map(lambda r: (r.native_id, r.embedding == fakes.fake_vector('hello')
                                                   if r.embedding else None, r.flags)),
              equal_to([('1', True, ()), ('2', True, ()), ('3', None, (Flag.EMPTY_TEXT,))]),
              label='Records')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.stage, d.error_class, d.offset)),
              equal_to([('embed', 'EmbeddingFailed', 4)]), label='DeadLetters')
  run = p.run()
  run.wait_until_finish()
  empty = run.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name('num_empty_text'))
  assert sum(c.committed for c in empty['counters']) == 1


class _CountingModel:

  def __init__(self):
    self.seen = []

  def encode(self, texts, **kwargs):
    import numpy as np
    self.seen.append(list(texts))
    return np.array([fakes.fake_vector(t, 4) for t in texts], dtype='float32')


def test_in_batch_dedupe_and_bounded_cache():
  model = _CountingModel()
  encoder = CachedEncoder(model, 'v1', cache_size=2)
  first = encoder.encode(['a', 'b', 'a'])
  assert model.seen == [['a', 'b']] and first[0] == first[2]
  encoder.encode(['a', 'c'])                        # a from cache; c computed, b evicted
  assert model.seen[-1] == ['c'] and (encoder.hits, encoder.misses) == (2, 3)
  encoder.encode(['b'])
  assert model.seen[-1] == ['b']
  other_version = CachedEncoder(model, 'v2', cache_size=10)
  other_version.encode(['a'])
  assert model.seen[-1] == ['a']                    # cache keys include the model version


@pytest.fixture(scope='module')
def real_model_handler():
  from transforms.embed import SentenceTransformerModelHandler
  return SentenceTransformerModelHandler(fakes.embed_config())


def test_real_minilm_offline_384_dim_normalized(real_model_handler, monkeypatch):
  monkeypatch.setenv('HF_HUB_OFFLINE', '1')
  model = real_model_handler.load_model()
  texts = ['Jamdani Saree', 'Rice Cooker 1.8L', 'Jamdani Saree']
  results = list(real_model_handler.run_inference(texts, model))
  assert [len(r.inference) for r in results] == [384, 384, 384]
  assert all(abs(math.sqrt(sum(v * v for v in r.inference)) - 1.0) < 1e-4 for r in results)
  assert results[0].inference == results[2].inference
  assert results[0].model_id == 'all-MiniLM-L6-v2@gt-0.1.0'
  assert model.misses == 2 and model.hits == 1
