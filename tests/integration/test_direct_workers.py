"""The DirectRunner with two worker threads and embeddings (issue 11 item 3): every record read
ends as a post, an order or a dead letter, each once, and every post and order with text has
its vector. Multi-threaded workers once failed here to decode the embedding stage's merged
output ("Unknown type tag"), with the cross-language Kafka read of that time; the bounded runs
now read with librdkafka in Python (connectors/kafka.py), and this holds the combination that
failed. The model is the deterministic fake: the decode path is the same, the run is short."""
from __future__ import annotations

import uuid

import pytest

from pipeline.__main__ import run
from tests.integration import pipeline_helpers as h
from tests.unit import fakes

SECRET_ENV = {'MILLIONX_DLQ_KEY': ''.join(f'{i:02x}' for i in range(140, 172)),
              'MILLIONX_PSEUDONYM_KEY': ''.join(f'{i:02x}' for i in range(101, 133))}
KEYS = ['--dlq_key_ref=env:MILLIONX_DLQ_KEY', '--pseudonym_key_ref=env:MILLIONX_PSEUDONYM_KEY']


@pytest.fixture()
def topics(tmp_path, monkeypatch):
  yield from h.keyed_topics(tmp_path, monkeypatch, SECRET_ENV)


@pytest.mark.parametrize('mode', ['multi_threading'])
def test_two_workers_with_embeddings_account_for_every_record(topics, mode):
  data = h.publish_demo(topics, seed=41, events=1500, malformed_share=0.05)
  expected = h.raw_coordinates(topics)
  summary = run([*topics.pipeline_args(f'g-{uuid.uuid4().hex[:6]}'), *KEYS,
                 '--direct_num_workers=2', f'--direct_running_mode={mode}'],
                model_handler=fakes.FakeEmbeddingModelHandler())
  assert summary.read == len(expected)
  assert summary.reconciled, summary.render()
  outputs = h.read_outputs(topics)
  h.assert_all_accounted(expected, outputs, malformed_count=len(data.malformed))
  ids = [r['event_id'] for r in outputs.posts + outputs.orders]
  assert len(ids) == len(set(ids)), 'a record was written twice'
  with_text = [r for r in outputs.posts + outputs.orders if 'empty_text' not in r['flags']]
  assert with_text and all(len(r['embedding'] or ()) == 384 for r in with_text)
  assert {r['embedding_model'] for r in with_text} == {'fake-minilm'}
