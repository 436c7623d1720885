"""The quality gate: the ONNX backends against torch fp32 on 2,000 demo texts (English and Bangla).

A backend passes with mean cosine ≥ 0.99 to SentenceTransformer.encode's vectors and a top-10
neighbour overlap ≥ 0.9 (for each text, the share of its 10 nearest texts under torch that the
backend's vectors also rank in its 10 nearest). The default backend must pass; it is the fastest
that does (benchmarks/bench_embed.py). ~1 minute on 2 shared cores: the torch reference dominates.
"""
import collections

import numpy as np
import pytest

from benchmarks import embed_data
from transforms.config import DEFAULT_EMBED_BACKEND, default_model_dir
from transforms.embed import load_encoder, load_sentence_transformer
from tests.unit import fakes

pytestmark = pytest.mark.slow

GATE_TEXTS = 2000
MIN_MEAN_COSINE = 0.99
MIN_TOP10_OVERLAP = 0.9


@pytest.fixture(scope='module')
def gate_texts():
  texts = embed_data.demo_texts(events=3000)[:GATE_TEXTS]
  assert len(texts) == GATE_TEXTS
  languages = collections.Counter(t.language for t in texts)
  assert languages['en'] > 500 and languages['bn'] > 300, languages   # both really in the set
  return [t.text for t in texts]


@pytest.fixture(scope='module')
def reference(gate_texts):
  model = load_sentence_transformer(default_model_dir())
  return model.encode(gate_texts, batch_size=64, normalize_embeddings=True,
                      show_progress_bar=False)


@pytest.mark.parametrize('backend', ['onnx', 'onnx-int8'])
def test_backend_passes_the_quality_gate_against_torch_fp32(backend, gate_texts, reference,
                                                             onnx_dir):
  encoder = load_encoder(fakes.embed_config(backend=backend, onnx_dir=onnx_dir, cache_size=0))
  vectors = np.array([v for i in range(0, len(gate_texts), 64)
                      for v in encoder.encode(gate_texts[i:i + 64])])   # RunInference's batches
  mean_cosine, min_cosine, overlap = embed_data.cosine_and_overlap(reference, vectors)
  print(f'{backend}: mean cosine {mean_cosine:.4f} (min {min_cosine:.4f}), '
        f'top-10 overlap {overlap:.3f}')
  assert mean_cosine >= MIN_MEAN_COSINE
  assert overlap >= MIN_TOP10_OVERLAP


def test_the_default_backend_is_one_the_gate_covers():
  assert DEFAULT_EMBED_BACKEND in ('onnx', 'onnx-int8')
