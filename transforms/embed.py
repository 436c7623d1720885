"""EmbedRecords: RunInference with all-MiniLM-L6-v2 (SentenceTransformer), offline, keyed by record.

The text is built from fields PrivacyShield already scrubbed (caption, hashtags, product titles),
so no vector is ever computed from raw PII. Repeated texts are embedded once per batch, and a
bounded LRU cache keyed by (model version, SHA-256 of the text), shared with the model in the
process, skips the model for repeats across batches.
"""
from __future__ import annotations

import collections
import hashlib
import os
import threading
from typing import Any, Iterable, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import (KeyedModelHandler, ModelHandler, PredictionResult,
                                           RunInference)

from schemas.normalized import Flag, MarketOrder, SocialPost, evolve
from transforms.config import EmbedConfig, default_model_dir
from transforms.dead_letter import DeadLetterFactory
from transforms.metrics import NAMESPACE

STAGE = 'embed'
_MAX_TEXT_CHARS = 2000   # the model reads 256 word pieces at most; longer text only costs time


class EmbeddingFailed(RuntimeError):
  """RunInference reported a failed batch for this record."""


def embedding_text(record: Any) -> str:
  """The text to embed, from already-scrubbed fields only."""
  if isinstance(record, SocialPost):
    text = record.text.strip()
    missing = [f'#{h}' for h in record.hashtags if h and f'#{h}'.casefold() not in text.casefold()]
    return ' '.join([text] + missing).strip()[:_MAX_TEXT_CHARS]
  if isinstance(record, MarketOrder):
    parts = []
    for line in record.lines:
      title = (line.product.title if line.product and line.product.title else None) or line.title
      category = line.product.category if line.product else None
      if title:
        parts.append(f'{title} ({category})' if category else title)
    return ' | '.join(dict.fromkeys(parts))[:_MAX_TEXT_CHARS]
  raise TypeError(f'cannot embed a {type(record).__name__}')


class CachedEncoder:
  """The model plus its bounded cache; one per process (RunInference shares the loaded model)."""

  def __init__(self, model: Any, model_version: str, cache_size: int):
    self.model = model
    self.model_version = model_version
    self._cache: collections.OrderedDict[bytes, tuple[float, ...]] = collections.OrderedDict()
    self._cache_size = cache_size
    self._lock = threading.Lock()
    # One encode at a time: the DirectRunner's multi-threaded workers share this object, and
    # the tokenizer and model are not safe to call from several threads at once.
    self._encode_lock = threading.Lock()
    self.hits = 0
    self.misses = 0

  def _key(self, text: str) -> bytes:
    return hashlib.sha256(self.model_version.encode() + b'\x00' + text.encode('utf-8')).digest()

  def encode(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
    return self.encode_with_counts(texts)[0]

  def encode_with_counts(self, texts: Sequence[str]) -> tuple[list[tuple[float, ...]], int, int]:
    """(vectors, hits, misses) of this call alone: the encoder is shared by worker threads, so
    differences of the running totals would count other threads' calls too."""
    keys = [self._key(t) for t in texts]
    found: dict[bytes, tuple[float, ...]] = {}
    with self._lock:
      for k in keys:
        vector = self._cache.get(k)
        if vector is not None:
          self._cache.move_to_end(k)
          found[k] = vector
    todo: dict[bytes, str] = {}
    for k, t in zip(keys, texts):           # in-batch dedupe: each distinct text once
      if k not in found and k not in todo:
        todo[k] = t
    hits, misses = len(keys) - len(todo), len(todo)   # cache or a twin in this batch; computed
    with self._lock:
      self.hits += hits
      self.misses += misses
    if todo:
      with self._encode_lock:
        vectors = self.model.encode(list(todo.values()), batch_size=max(1, len(todo)),
                                    normalize_embeddings=True, convert_to_numpy=True,
                                    show_progress_bar=False)
      computed = {k: tuple(v.tolist()) for k, v in zip(todo, vectors)}
      found.update(computed)
      if self._cache_size:
        with self._lock:
          for k, v in computed.items():
            self._cache[k] = v
          while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
    return [found[k] for k in keys], hits, misses


def load_sentence_transformer(model_dir: str, device: str = 'cpu') -> Any:
  """Loads from a local directory only: the hub is never contacted."""
  os.environ['HF_HUB_OFFLINE'] = '1'
  os.environ['TRANSFORMERS_OFFLINE'] = '1'
  from sentence_transformers import SentenceTransformer  # heavy: import on the worker only
  return SentenceTransformer(model_dir, device=device, local_files_only=True)


class SentenceTransformerModelHandler(ModelHandler[str, PredictionResult, CachedEncoder]):
  """ModelHandler: str → PredictionResult(example=text, inference=384 floats, model_id=version)."""

  def __init__(self, config: EmbedConfig):
    super().__init__()
    self._config = config
    self._hits = Metrics.counter(NAMESPACE, 'num_embedding_cache_hits')
    self._misses = Metrics.counter(NAMESPACE, 'num_embeddings_computed')

  def load_model(self) -> CachedEncoder:
    model_dir = self._config.model_dir or default_model_dir()
    model = load_sentence_transformer(model_dir, self._config.device)
    dimension = model.get_embedding_dimension()
    if dimension != self._config.dimension:
      raise ValueError(f'model in {model_dir} gives {dimension}-dim vectors, '
                       f'expected {self._config.dimension}')
    return CachedEncoder(model, self._config.model_version, self._config.cache_size)

  def run_inference(self, batch: Sequence[str], model: CachedEncoder,
                    inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
    vectors, hits, misses = model.encode_with_counts(batch)
    self._hits.inc(hits)
    self._misses.inc(misses)
    return [PredictionResult(text, vector, self._config.model_version)
            for text, vector in zip(batch, vectors)]

  def get_num_bytes(self, batch: Sequence[str]) -> int:
    return sum(len(t.encode('utf-8')) for t in batch)

  def get_metrics_namespace(self) -> str:
    return f'{NAMESPACE}_run_inference'

  def batch_elements_kwargs(self) -> dict[str, Any]:
    kwargs = {'min_batch_size': self._config.min_batch_size,
              'max_batch_size': self._config.max_batch_size}
    if self._config.max_batch_duration_secs is not None:
      kwargs['max_batch_duration_secs'] = self._config.max_batch_duration_secs
    return kwargs


class EmbedResult(NamedTuple):
  records: beam.PCollection       # of SocialPost | MarketOrder, `embedding` set or EMPTY_TEXT flagged
  dead_letters: beam.PCollection  # of DeadLetter


_TO_EMBED = 'to_embed'


class _SplitByTextFn(beam.DoFn):
  """(record, text) to embed, or the record flagged EMPTY_TEXT (no vector) on the main output."""

  def __init__(self):
    self._num_empty = Metrics.counter(NAMESPACE, 'num_empty_text')

  def process(self, record):
    text = embedding_text(record)
    if text:
      yield beam.pvalue.TaggedOutput(_TO_EMBED, (record, text))
    else:
      self._num_empty.inc()
      flags = record.flags if Flag.EMPTY_TEXT in record.flags else record.flags + (Flag.EMPTY_TEXT,)
      yield evolve(record, flags=flags)


def _attach(keyed: tuple[Any, PredictionResult]):
  record, result = keyed
  return evolve(record, embedding=tuple(result.inference),
                             embedding_model=result.model_id)


class _FailedBatchToDeadLettersFn(beam.DoFn):
  """RunInference's failed batches → one dead letter per record."""

  def __init__(self, config: EmbedConfig):
    self._config = config
    self._num_failed = Metrics.counter(NAMESPACE, 'num_embedding_failed')

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._config.dead_letter)

  def process(self, failure):
    batch, error = failure[0], failure[1]
    if isinstance(error, BaseException):
      cause = EmbeddingFailed(f'{type(error).__name__}: {error}')
    else:  # (exception type, repr, traceback) from ParDo.with_exception_handling
      exc_type = error[0] if isinstance(error, tuple) and error else None
      name = getattr(exc_type, '__name__', str(exc_type))
      detail = error[1] if isinstance(error, tuple) and len(error) > 1 else ''
      cause = EmbeddingFailed(f'{name}: {detail}')
    for record, _text in (batch if isinstance(batch, list) else [batch]):
      self._num_failed.inc()
      yield self._dead_letters.from_record(STAGE, record, cause)


class EmbedRecords(beam.PTransform):
  """PCollection[SocialPost | MarketOrder] → EmbedResult(records, dead_letters).

  Records with text get `embedding` (384 normalized floats) and `embedding_model`; records with
  no text pass through flagged EMPTY_TEXT; records of a failed batch become dead letters.
  `model_handler` may be replaced (tests use a fake); it must accept keyed (record, text) input
  once wrapped in KeyedModelHandler.
  """

  def __init__(self, config: EmbedConfig, model_handler: Optional[ModelHandler] = None):
    super().__init__()
    self._config = config
    self._model_handler = model_handler or SentenceTransformerModelHandler(config)

  def expand(self, records) -> EmbedResult:
    split = records | 'BuildScrubbedText' >> beam.ParDo(_SplitByTextFn()).with_outputs(
        _TO_EMBED, main='no_text')
    embedded, failures = (
        split[_TO_EMBED]
        | 'RunInference' >> RunInference(KeyedModelHandler(self._model_handler))
        .with_exception_handling())
    with_vectors = embedded | 'AttachEmbedding' >> beam.Map(_attach)
    dead_letters = failures.failed_inferences | 'FailedBatchesToDeadLetters' >> beam.ParDo(
        _FailedBatchToDeadLettersFn(self._config))
    merged = (with_vectors, split['no_text']) | 'MergeEmbeddedAndEmpty' >> beam.Flatten()
    return EmbedResult(merged, dead_letters)
