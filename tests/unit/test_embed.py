"""EmbedRecords: keyed RunInference, empty text flagged, failures to the DLQ, dedupe + cache,
token-length bucketing, truncation, the last-resort catch, the backends and their ONNX export."""
import datetime
import json
import math

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.normalized import Flag, Lineage, MarketOrder, OrderLine, Product, SocialPost, event_id
from tests.unit import fakes
from transforms.config import DEFAULT_EMBED_BACKEND, default_model_dir
from transforms.embed import (BucketedModel, CachedEncoder, EmbeddingModelHandler, EmbedRecords,
                              embedding_text)
from transforms.embed_model import (MANIFEST, ModelFilesMissing, WordPieceTokenizer,
                                    export_problem, load_backend)
from transforms.metrics import NAMESPACE

T0 = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)


def _post(n, text, hashtags=()):
  return SocialPost(event_id=event_id('tiktok', 'video', str(n)), source='tiktok', kind='video',
                    native_id=str(n), event_time=T0, ingest_time=T0,
                    lineage=Lineage('raw.tiktok.videos', 0, n, 0), text=text, hashtags=hashtags)


def _counter(run, name):
  found = run.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(name))
  return sum(c.committed for c in found['counters'])


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
      fakes.embed_config(), fakes.dead_letter_config(),
      model_handler=fakes.FakeEmbeddingModelHandler(fail_if_contains='FAIL'))
  assert_that(result.records | beam.Map(lambda r: (r.native_id, r.embedding == fakes.fake_vector('hello')
                                                   if r.embedding else None, r.flags)),
              equal_to([('1', True, ()), ('2', True, ()), ('3', None, (Flag.EMPTY_TEXT,))]),
              label='Records')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.stage, d.error_class, d.offset)),
              equal_to([('embed', 'EmbeddingFailed', 4)]), label='DeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_empty_text') == 1


class _CountingModel:

  def __init__(self):
    self.seen = []

  def encode(self, texts, **kwargs):
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


# ---- tokenizer, bucketing, truncation ------------------------------------------------------------

class _ShapeBackend:
  """Records the padded shape of every model call; a text's vector encodes its first token id
  and length, so a test sees which text each vector belongs to."""
  dimension = 4

  def __init__(self, fail_on_token=None, nan_on_token=None):
    self.shapes = []
    self._fail_on = fail_on_token
    self._nan_on = nan_on_token

  def embed(self, batch):
    width = max(len(ids) for ids in batch)
    self.shapes.append((len(batch), width))
    out = []
    for ids in batch:
      if self._fail_on is not None and self._fail_on in ids:
        raise ValueError('this text breaks the model')
      value = float('nan') if self._nan_on is not None and self._nan_on in ids else 1.0
      v = np.array([ids[1], len(ids), value, 1.0], dtype=np.float32)
      out.append(v / np.linalg.norm(v) if value == 1.0 else v)
    return np.array(out)


@pytest.fixture(scope='module')
def tokenizer():
  return WordPieceTokenizer(default_model_dir(), 256)


def test_tokenizer_cuts_long_texts_like_the_model_tokenizer_and_counts_them():
  from transformers import AutoTokenizer
  hf = AutoTokenizer.from_pretrained(default_model_dir(), local_files_only=True)
  short = WordPieceTokenizer(default_model_dir(), 12)
  texts = ['Jamdani Saree', 'Eid collection is here with free delivery in Dhaka for every order',
           'নতুন শাড়ি এসেছে! দাম মাত্র ৳১,২০০ অর্ডার করতে কল করুন', '']
  tokenized = short(texts)
  expected = hf(texts, truncation=True, max_length=12)['input_ids']
  assert tokenized.ids == expected
  assert tokenized.truncated == 2 and [len(i) for i in tokenized.ids] == [7, 12, 12, 2]
  assert tokenized.ids[1][-1] == hf.sep_token_id


def test_bucketing_sorts_by_token_length_pads_less_and_keeps_the_order(tokenizer):
  texts = ['a b c d e f g h i j k l m n o p', 'x', 'p q r s t u v w', 'y', 'z z z z', 'w']
  plain_backend, bucketed_backend = _ShapeBackend(), _ShapeBackend()
  plain = BucketedModel(plain_backend, tokenizer, 0).encode(texts)
  bucketed = BucketedModel(bucketed_backend, tokenizer, 2).encode(texts)
  np.testing.assert_allclose(plain, bucketed, rtol=1e-6)      # same vectors, same order
  lengths = [len(ids) for ids in tokenizer(texts).ids]
  assert [round(v[1] / v[3]) for v in bucketed] == lengths  # each row is its own text's
  assert plain_backend.shapes == [(6, 18)]
  assert bucketed_backend.shapes == [(2, 3), (2, 6), (2, 18)]  # shortest first, pairs
  padded = sum(n * w for n, w in bucketed_backend.shapes)
  assert padded == 54 < 6 * 18                             # half the padded tokens


def test_truncations_counted_in_the_encoder_and_the_pipeline_metric():
  handler = _FakeBackendHandler(max_seq_length=8)
  long_text = ' '.join(['saree'] * 30)
  records = [_post(1, long_text), _post(2, 'short one'), _post(3, long_text + ' again')]
  p = TestPipeline()
  result = p | beam.Create(records) | EmbedRecords(handler.config, fakes.dead_letter_config(),
                                                   model_handler=handler)
  assert_that(result.records | beam.Map(lambda r: len(r.embedding)), equal_to([4, 4, 4]),
              label='Records')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_embed_truncated') == 2
  assert _counter(run, 'num_embeddings_computed') == 3
  latency = run.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(
      'embedding_batch_latency_ms'))['distributions']
  assert sum(d.committed.count for d in latency) >= 1      # one per model call


class _FakeBackendHandler(EmbeddingModelHandler):
  """The real handler (tokenizer, bucketing, cache, per-text fallback) over a fake network."""

  def __init__(self, max_seq_length=256, fail_on_word=None, nan_on_word=None):
    self.config = fakes.embed_config(dimension=4, max_seq_length=max_seq_length, bucket_size=2,
                                     max_batch_duration_secs=None)
    super().__init__(self.config)
    self._fail_on_word = fail_on_word
    self._nan_on_word = nan_on_word

  def load_model(self):
    tokenizer = WordPieceTokenizer(default_model_dir(), self.config.max_seq_length)
    token = lambda w: tokenizer([w]).ids[0][1] if w else None  # noqa: E731
    backend = _ShapeBackend(token(self._fail_on_word), token(self._nan_on_word))
    return CachedEncoder(BucketedModel(backend, tokenizer, 2), self.config.model_id, 100)


def test_one_bad_record_is_a_counted_dead_letter_and_the_bundle_goes_on():
  """The last-resort catch: an exception from one record (building its text, or the model on
  its text alone) makes that record a dead letter with the exception's class; a vector with a
  NaN is refused; every other record of the batch is embedded."""
  handler = _FakeBackendHandler(fail_on_word='boom', nan_on_word='nan')
  broken = _post(5, 'x')
  object.__setattr__(broken, 'text', None)            # embedding_text raises AttributeError
  records = [_post(1, 'saree offer'), _post(2, 'boom goes this one'), _post(3, 'rice cooker'),
             _post(4, 'nan here'), broken, _post(6, 'panjabi')]
  p = TestPipeline()
  result = p | beam.Create(records) | EmbedRecords(handler.config, fakes.dead_letter_config(),
                                                   model_handler=handler)
  assert_that(result.records | beam.Map(lambda r: (r.native_id, len(r.embedding))),
              equal_to([('1', 4), ('3', 4), ('6', 4)]), label='Records')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.offset, d.stage, d.error_class)),
              equal_to([(2, 'embed', 'ValueError'), (4, 'embed', 'InvalidVector'),
                        (5, 'embed', 'AttributeError')]), label='DeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_unexpected_embed') == 2
  assert _counter(run, 'num_embedding_failed') == 1


# ---- configuration, export files ---------------------------------------------------------------

@pytest.mark.parametrize('kwargs', [dict(backend='tensorflow'), dict(max_seq_length=4),
                                    dict(max_seq_length=513), dict(bucket_size=-1),
                                    dict(threads=0), dict(backend='onnx', device='cuda')])
def test_embed_config_refuses_bad_settings(kwargs):
  with pytest.raises(ValueError):
    fakes.embed_config(**kwargs)


def test_model_id_names_the_backend_unless_torch():
  assert fakes.embed_config(backend='torch').model_id == 'all-MiniLM-L6-v2@gt-0.1.0'
  assert fakes.embed_config(backend='onnx-int8').model_id == 'all-MiniLM-L6-v2@gt-0.1.0+onnx-int8'
  assert fakes.embed_config().backend == DEFAULT_EMBED_BACKEND


def test_onnx_backend_without_a_current_export_says_how_to_make_one(tmp_path):
  with pytest.raises(ModelFilesMissing, match='stack/stack.sh setup embed_model'):
    load_backend('onnx', default_model_dir(), str(tmp_path))
  (tmp_path / MANIFEST).write_text(json.dumps({'format': 0}))
  assert export_problem(default_model_dir(), str(tmp_path)).startswith('stale export')


# ---- the real model ------------------------------------------------------------------------------

@pytest.mark.parametrize('backend', ['torch', 'onnx', 'onnx-int8'])
def test_real_minilm_offline_384_dim_normalized(backend, onnx_dir, monkeypatch):
  monkeypatch.setenv('HF_HUB_OFFLINE', '1')
  config = fakes.embed_config(backend=backend, onnx_dir=onnx_dir)
  handler = EmbeddingModelHandler(config)
  model = handler.load_model()
  texts = ['Jamdani Saree', 'Rice Cooker 1.8L', 'Jamdani Saree', 'ঈদের নতুন শাড়ি']
  results = list(handler.run_inference(texts, model))
  assert [len(r.inference) for r in results] == [384] * 4
  assert all(abs(math.sqrt(sum(v * v for v in r.inference)) - 1.0) < 1e-4 for r in results)
  assert results[0].inference == results[2].inference
  assert results[0].model_id == config.model_id
  assert model.misses == 3 and model.hits == 1
  reference = model_reference(texts)
  cosines = (np.array([r.inference for r in results]) * reference).sum(axis=1)
  assert cosines.min() > (0.99999 if backend != 'onnx-int8' else 0.98), cosines


_REFERENCE = {}


def model_reference(texts):
  """SentenceTransformer.encode, fp32: what every backend is compared with."""
  from transforms.embed import load_sentence_transformer
  if 'model' not in _REFERENCE:
    _REFERENCE['model'] = load_sentence_transformer(default_model_dir())
  return _REFERENCE['model'].encode(list(texts), normalize_embeddings=True)
