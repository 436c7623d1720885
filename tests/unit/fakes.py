"""Fakes and builders shared by the transform tests: clock, keys, raw records, model handler."""
from __future__ import annotations

import datetime
import json
import os
import pathlib
from typing import Any, Iterable, Optional

from schemas.envelope import RawRecord

DATA = pathlib.Path(__file__).parent / 'data'

HMAC_KEY_ENV = 'MILLIONX_TEST_HMAC_KEY'
DLQ_KEY_ENV = 'MILLIONX_TEST_DLQ_KEY'
# Test-only keys (32 bytes as hex, as a real key must be), set for the in-process DirectRunner.
# Fixed values: the golden outputs' pseudonyms and key ids depend on them.
TEST_HMAC_KEY = '5f7e94957310158b6243b9dcdb0b38f689f2e58375646f9b6271c6d2e0655e8b'
TEST_DLQ_KEY = '69150964f3a5237959f9475da8d285d457a4cbd4a8098027303eca7819466a28'
os.environ.setdefault(HMAC_KEY_ENV, TEST_HMAC_KEY)
os.environ.setdefault(DLQ_KEY_ENV, TEST_DLQ_KEY)

FIXED_NOW = datetime.datetime(2026, 11, 28, 12, 0, 0, tzinfo=datetime.timezone.utc)

TOPICS = {'tiktok': 'raw.tiktok.videos', 'facebook': 'raw.facebook.posts',
          'shopify': 'raw.shopify.orders', 'daraz': 'raw.daraz.orders'}


def fixed_clock() -> datetime.datetime:
  """A picklable clock for configs: always FIXED_NOW."""
  return FIXED_NOW


def load(name: str) -> Any:
  return json.loads((DATA / name).read_text(encoding='utf-8'))


def raw_record(source: str, payload: Any, offset: int = 0, *, partition: int = 0,
               headers: Optional[Iterable[tuple[str, bytes]]] = None,
               timestamp_ms: int = 1_764_000_000_000) -> RawRecord:
  """A RawRecord as the Kafka read yields it; dict payloads are JSON-encoded."""
  value = payload if isinstance(payload, (bytes, type(None))) else json.dumps(payload).encode()
  if headers is None:
    headers = (('source', source.encode()), ('schema_version', b'1'),
               ('fetched_at', b'2026-11-28T11:59:00+00:00'))
  return RawRecord(source=source, topic=TOPICS.get(source, f'raw.{source}'), partition=partition,
                   offset=offset, timestamp_ms=timestamp_ms, key=b'k', value=value,
                   headers=tuple(headers))


def fixture_payloads() -> list[tuple[str, dict]]:
  """(source, payload) for every source object in the test data, one Kafka message each."""
  out = [('tiktok', v) for v in load('tiktok_videos_example.json')['data']['videos']]
  for name in ('facebook_page_posts.json', 'facebook_page_posts_shares.json'):
    out += [('facebook', p) for p in load(name)['data']]
  out += [('facebook', load('facebook_post_with_comments_summary.json')),
          ('facebook', load('facebook_post_with_reactions.json'))]
  out += [('shopify', load('shopify_order.json')['order']),
          ('shopify', load('shopify_order_2024-04.json')['order']),
          ('shopify', load('shopify_webhook_orders_create.json'))]
  out += [('shopify', o) for o in load('shopify_orders_page.json')['orders']]
  out += [('shopify', o) for o in load('shopify_orders_page_2024-04.json')['orders']]
  daraz = dict(load('daraz_get_orders.json')['data']['orders'][0])
  daraz['order_items'] = load('daraz_get_order_items.json')['data']
  single = dict(load('daraz_get_order.json')['data'])
  single['order_items'] = load('daraz_get_multiple_order_items.json')['data'][0]['order_items']
  out += [('daraz', daraz), ('daraz', single)]
  return out


def fixture_records() -> list[RawRecord]:
  return [raw_record(source, payload, offset=i) for i, (source, payload) in
          enumerate(fixture_payloads())]


def dead_letter_config(clock=fixed_clock):
  from transforms.config import DeadLetterConfig
  return DeadLetterConfig(key_ref=f'env:{DLQ_KEY_ENV}', key_id='test-dlq-1', clock=clock)


def privacy_config():
  from transforms.config import PrivacyConfig
  return PrivacyConfig(hmac_key_ref=f'env:{HMAC_KEY_ENV}', hmac_key_id='test-hmac-1',
                       clock=fixed_clock)


def validation_config(**kwargs):
  from transforms.config import ValidationConfig
  return ValidationConfig(**kwargs)


def test_cipher():
  from transforms.dead_letter import PayloadCipher
  return PayloadCipher.from_ref(f'env:{DLQ_KEY_ENV}', 'test-dlq-1')


def test_shield():
  from transforms.privacy import Shield
  return Shield(os.environ[HMAC_KEY_ENV].encode(), 'test-hmac-1')


def fake_vector(text: str, dim: int = 384) -> tuple[float, ...]:
  """A deterministic unit vector for a text (no model needed)."""
  import hashlib
  import math
  seed = hashlib.sha256(text.encode()).digest()
  raw = [((seed[i % 32] + i * 7) % 251) / 251.0 - 0.5 for i in range(dim)]
  norm = math.sqrt(sum(v * v for v in raw)) or 1.0
  return tuple(v / norm for v in raw)


class FakeEmbeddingModelHandler:
  """Stands in for SentenceTransformerModelHandler: deterministic vectors, optional failures.

  Built lazily as a ModelHandler subclass so importing fakes stays cheap.
  """

  def __new__(cls, fail_if_contains: Optional[str] = None, model_id: str = 'fake-minilm'):
    from apache_beam.ml.inference.base import ModelHandler, PredictionResult

    class _Model:
      """Weak-referenceable stand-in (RunInference's Shared handle needs that)."""

    class _Handler(ModelHandler):

      def load_model(self):
        return _Model()

      def run_inference(self, batch, model, inference_args=None):
        if fail_if_contains and any(fail_if_contains in t for t in batch):
          raise RuntimeError('fake model failure')
        return [PredictionResult(t, fake_vector(t), model_id) for t in batch]

      def batch_elements_kwargs(self):
        return {'min_batch_size': 1, 'max_batch_size': 8}

    return _Handler()


def enrich_config(**kwargs):
  from transforms.config import EnrichConfig
  return EnrichConfig(**kwargs)


def embed_config(**kwargs):
  from transforms.config import EmbedConfig
  return EmbedConfig(**kwargs)


def process_config(embed: bool = True, **enrich_kwargs):
  from transforms.config import ProcessConfig
  return ProcessConfig(dead_letter=dead_letter_config(), validation=validation_config(),
                       privacy=privacy_config(),
                       enrich=enrich_config(**enrich_kwargs),
                       embed=embed_config() if embed else None)
