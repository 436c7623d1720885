"""EmbedRecords: RunInference with all-MiniLM-L6-v2, offline, keyed by record.

The text is built from fields PrivacyShield already scrubbed (caption, hashtags, product titles),
so no vector is ever computed from raw PII. The model runs on one of three backends
(transforms/embed_model.py: torch, ONNX Runtime fp32 or int8), one loaded model per worker
process (RunInference's shared handle). Repeated texts are embedded once per batch, and a
bounded LRU cache keyed by (model id, SHA-256 of the text), shared with the model in the
process, skips the model for repeats across batches. What is left of a batch is sorted by token
length and run in sub-batches (bucketing: short captions are not padded to the longest).

Last resort (STYLE rule 16): an exception while embedding one record makes that record a dead
letter with the exception's class, counted as `num_unexpected_embed`; the bundle goes on. A
batch that fails is retried text by text, so one bad text costs only its own record.
"""
from __future__ import annotations

import collections
import dataclasses
import hashlib
import math
import os
import threading
import time
from typing import Any, Iterable, NamedTuple, Optional, Sequence

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import (KeyedModelHandler, ModelHandler, PredictionResult,
                                           RunInference)

from schemas.normalized import Flag, MarketOrder, SocialPost, evolve
from transforms.config import DeadLetterConfig, EmbedConfig, default_model_dir
from transforms.dead_letter import DeadLetterFactory
from transforms.metrics import NAMESPACE, LatencyHistogram

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


class BucketedModel:
  """A backend plus the shared tokenizer: texts → normalized vectors, in token-length buckets.

  `bucket_size` texts per model call after sorting the call's texts by token count (0: all
  texts in one call, padded to the longest). Texts beyond max_seq_length are cut and counted.
  """

  def __init__(self, backend: Any, tokenizer: Any, bucket_size: int):
    self.backend = backend
    self.tokenizer = tokenizer
    self.bucket_size = bucket_size
    self.dimension = backend.dimension

  def encode_counting(self, texts: Sequence[str]):
    """(vectors as a float32 array in the order of `texts`, how many texts were truncated)."""
    import numpy as np
    tokenized = self.tokenizer(texts)
    ids = tokenized.ids
    out = np.empty((len(ids), self.dimension), dtype=np.float32)
    if not self.bucket_size:
      out[:] = self.backend.embed(ids)
      return out, tokenized.truncated
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    for start in range(0, len(order), self.bucket_size):
      chunk = order[start:start + self.bucket_size]
      out[chunk] = self.backend.embed([ids[i] for i in chunk])
    return out, tokenized.truncated

  def encode(self, texts: Sequence[str], **unused_kwargs):
    return self.encode_counting(texts)[0]


class EncodeCounts(NamedTuple):
  vectors: list           # one tuple of floats per text, in order
  hits: int               # from the cache or a twin in the same call
  misses: int             # computed by the model
  truncated: int          # computed texts cut to max_seq_length


class CachedEncoder:
  """The model plus its bounded cache; one per process (RunInference shares the loaded model).

  `model` is a BucketedModel, or anything with SentenceTransformer's `encode(texts, ...)`.
  """

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
    self.truncated = 0

  def _key(self, text: str) -> bytes:
    return hashlib.sha256(self.model_version.encode() + b'\x00' + text.encode('utf-8')).digest()

  def encode(self, texts: Sequence[str]) -> list[tuple[float, ...]]:
    return self.encode_with_counts(texts).vectors

  def _compute(self, texts: list[str]):
    encode_counting = getattr(self.model, 'encode_counting', None)
    if encode_counting is not None:
      return encode_counting(texts)
    return self.model.encode(texts, batch_size=max(1, len(texts)), normalize_embeddings=True,
                             convert_to_numpy=True, show_progress_bar=False), 0

  def encode_with_counts(self, texts: Sequence[str]) -> EncodeCounts:
    """Vectors and the counts of this call alone: the encoder is shared by worker threads, so
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
    hits, misses, truncated = len(keys) - len(todo), len(todo), 0
    if todo:
      with self._encode_lock:
        vectors, truncated = self._compute(list(todo.values()))
      computed = {k: tuple(v.tolist()) for k, v in zip(todo, vectors)}
      found.update(computed)
      if self._cache_size:
        with self._lock:
          for k, v in computed.items():
            self._cache[k] = v
          while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
    with self._lock:                        # counted once computed: a failed call counts nothing
      self.hits += hits
      self.misses += misses
      self.truncated += truncated
    return EncodeCounts([found[k] for k in keys], hits, misses, truncated)


def load_sentence_transformer(model_dir: str, device: str = 'cpu') -> Any:
  """Loads from a local directory only: the hub is never contacted."""
  os.environ['HF_HUB_OFFLINE'] = '1'
  os.environ['TRANSFORMERS_OFFLINE'] = '1'
  from sentence_transformers import SentenceTransformer  # heavy: import on the worker only
  return SentenceTransformer(model_dir, device=device, local_files_only=True)


def load_encoder(config: EmbedConfig) -> CachedEncoder:
  """The configured backend behind the tokenizer, bucketing and cache (call on the worker)."""
  from transforms.embed_model import WordPieceTokenizer, load_backend
  model_dir = config.model_dir or default_model_dir()
  backend = load_backend(config.backend, model_dir, config.onnx_dir, device=config.device,
                         threads=config.threads)
  if backend.dimension != config.dimension:
    raise ValueError(f'model in {model_dir} gives {backend.dimension}-dim vectors, '
                     f'expected {config.dimension}')
  tokenizer = WordPieceTokenizer(model_dir, config.max_seq_length)
  return CachedEncoder(BucketedModel(backend, tokenizer, config.bucket_size), config.model_id,
                       config.cache_size)


class EmbedFailure(NamedTuple):
  """In place of a vector: why this one text got none (its record becomes a dead letter)."""
  error_class: str
  message: str


def _failure(error: BaseException) -> EmbedFailure:
  return EmbedFailure(type(error).__name__, str(error)[:500])


class EmbeddingModelHandler(ModelHandler[str, PredictionResult, CachedEncoder]):
  """ModelHandler: str → PredictionResult(example=text, inference=384 floats, model_id).

  `inference` is an EmbedFailure instead of floats for a text that could not be embedded.
  """

  def __init__(self, config: EmbedConfig):
    super().__init__()
    self._config = config
    self._hits = Metrics.counter(NAMESPACE, 'num_embedding_cache_hits')
    self._misses = Metrics.counter(NAMESPACE, 'num_embeddings_computed')
    self._truncated = Metrics.counter(NAMESPACE, 'num_embed_truncated')
    # One model call (a RunInference batch, cache lookups included). The distribution is read
    # on the DirectRunner; the histogram (Beam counters per bucket) is what Flink's Prometheus
    # reporter can export: the dashboards' and alerts' millionx_embedding_batch_latency_seconds.
    self._batch_latency = Metrics.distribution(NAMESPACE, 'embedding_batch_latency_ms')
    self._batch_latency_histogram = LatencyHistogram('embedding_batch_latency')
    # Per text: a batch's model time shared by its texts, observed once per text, so that its p95
    # is the design's embedding-latency target (p95 < 100 ms per element).
    self._latency_histogram = LatencyHistogram('embedding_latency')

  def load_model(self) -> CachedEncoder:
    return load_encoder(self._config)

  def _embed(self, texts: Sequence[str], model: CachedEncoder) -> list:
    counts = model.encode_with_counts(texts)
    self._hits.inc(counts.hits)
    self._misses.inc(counts.misses)
    self._truncated.inc(counts.truncated)
    out = []
    for vector in counts.vectors:
      if len(vector) != self._config.dimension or not all(map(math.isfinite, vector)):
        out.append(EmbedFailure('InvalidVector', f'{len(vector)} values, not '
                                f'{self._config.dimension} finite ones'))
      else:
        out.append(vector)
    return out

  def run_inference(self, batch: Sequence[str], model: CachedEncoder,
                    inference_args: Optional[dict[str, Any]] = None) -> Iterable[PredictionResult]:
    started = time.perf_counter()
    try:
      inferences = self._embed(batch, model)
    except Exception:  # pylint: disable=broad-except
      # Last resort: find the text(s) that fail; the others are embedded one by one.
      inferences = []
      for text in batch:
        try:
          inferences.extend(self._embed([text], model))
        except Exception as e:  # pylint: disable=broad-except
          inferences.append(_failure(e))
    elapsed_s = time.perf_counter() - started
    self._batch_latency.update(int(round(elapsed_s * 1000)))
    self._batch_latency_histogram.observe(elapsed_s)
    self._batch_latency_histogram.flush()
    if batch:
      self._latency_histogram.observe(elapsed_s / len(batch), len(batch))
      self._latency_histogram.flush()
    model_id = self._config.model_id
    return [PredictionResult(text, inference, model_id) for text, inference in zip(batch, inferences)]

  def get_num_bytes(self, batch: Sequence[str]) -> int:
    return sum(len(t.encode('utf-8')) for t in batch)

  def share_model_across_processes(self) -> bool:
    return False   # one model per worker process (RunInference's per-process shared handle)

  def get_metrics_namespace(self) -> str:
    return f'{NAMESPACE}_run_inference'

  def batch_elements_kwargs(self) -> dict[str, Any]:
    kwargs = {'min_batch_size': self._config.min_batch_size,
              'max_batch_size': self._config.max_batch_size}
    if self._config.max_batch_duration_secs is not None:
      kwargs['max_batch_duration_secs'] = self._config.max_batch_duration_secs
    return kwargs


SentenceTransformerModelHandler = EmbeddingModelHandler   # the name before the ONNX backends


class EmbedResult(NamedTuple):
  records: beam.PCollection       # of SocialPost | MarketOrder, `embedding` set or EMPTY_TEXT flagged
  dead_letters: beam.PCollection  # of DeadLetter


_TO_EMBED = 'to_embed'
_DEAD = 'dead_letters'


class _UnexpectedEmbedError:
  """The last-resort catch of the embed DoFns: one record's surprise → one counted dead letter."""

  def __init__(self):
    self._num_unexpected = Metrics.counter(NAMESPACE, 'num_unexpected_embed')

  def count(self):
    self._num_unexpected.inc()

  def dead_letter(self, dead_letters: DeadLetterFactory, record: Any, error: BaseException):
    self.count()
    return beam.pvalue.TaggedOutput(_DEAD, dead_letters.from_record(STAGE, record, error))


class _SplitByTextFn(beam.DoFn):
  """(record, text) to embed, or the record flagged EMPTY_TEXT (no vector) on the main output."""

  def __init__(self, dead_letter: DeadLetterConfig):
    self._dead_letter_config = dead_letter
    self._num_empty = Metrics.counter(NAMESPACE, 'num_empty_text')
    self._unexpected = _UnexpectedEmbedError()

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._dead_letter_config)

  def process(self, record):
    try:
      text = embedding_text(record)
      if text:
        yield beam.pvalue.TaggedOutput(_TO_EMBED, (record, text))
        return
      flags = record.flags if Flag.EMPTY_TEXT in record.flags else record.flags + (Flag.EMPTY_TEXT,)
      empty = evolve(record, flags=flags)
    except Exception as e:  # pylint: disable=broad-except  (last resort, STYLE rule 16)
      yield self._unexpected.dead_letter(self._dead_letters, record, e)
      return
    self._num_empty.inc()
    yield empty


class _AttachEmbeddingFn(beam.DoFn):
  """(record, PredictionResult) → the record with its vector; an EmbedFailure → a dead letter."""

  def __init__(self, dead_letter: DeadLetterConfig):
    self._dead_letter_config = dead_letter
    self._num_failed = Metrics.counter(NAMESPACE, 'num_embedding_failed')
    self._unexpected = _UnexpectedEmbedError()

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._dead_letter_config)

  def process(self, keyed):
    record, result = keyed
    inference = result.inference
    if isinstance(inference, EmbedFailure):
      if inference.error_class == 'InvalidVector':
        self._num_failed.inc()
      else:                               # the model raised for this text alone
        self._unexpected.count()
      dead = self._dead_letters.from_record(STAGE, record, EmbeddingFailed(
          f'{inference.error_class}: {inference.message}'))
      yield beam.pvalue.TaggedOutput(_DEAD, dataclasses.replace(
          dead, error_class=inference.error_class))
      return
    try:
      embedded = evolve(record, embedding=tuple(inference), embedding_model=result.model_id)
    except Exception as e:  # pylint: disable=broad-except  (last resort, STYLE rule 16)
      yield self._unexpected.dead_letter(self._dead_letters, record, e)
      return
    yield embedded


class _FailedBatchToDeadLettersFn(beam.DoFn):
  """RunInference's failed batches → one dead letter per record."""

  def __init__(self, dead_letter: DeadLetterConfig):
    self._dead_letter_config = dead_letter
    self._num_failed = Metrics.counter(NAMESPACE, 'num_embedding_failed')

  def setup(self):
    self._dead_letters = DeadLetterFactory(self._dead_letter_config)

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
  no text pass through flagged EMPTY_TEXT; a record whose text could not be embedded, or that
  raised anything in these steps, becomes a dead letter (`error_class` says why).
  `model_handler` may be replaced (tests use a fake); it must accept keyed (record, text) input
  once wrapped in KeyedModelHandler.
  """

  def __init__(self, config: EmbedConfig, dead_letter: DeadLetterConfig,
               model_handler: Optional[ModelHandler] = None):
    super().__init__()
    self._config = config
    self._dead_letter = dead_letter
    self._model_handler = model_handler or EmbeddingModelHandler(config)

  def expand(self, records) -> EmbedResult:
    split = records | 'BuildScrubbedText' >> beam.ParDo(
        _SplitByTextFn(self._dead_letter)).with_outputs(_TO_EMBED, _DEAD, main='no_text')
    embedded, failures = (
        split[_TO_EMBED]
        | 'RunInference' >> RunInference(KeyedModelHandler(self._model_handler))
        .with_exception_handling())
    attached = embedded | 'AttachEmbedding' >> beam.ParDo(
        _AttachEmbeddingFn(self._dead_letter)).with_outputs(_DEAD, main='records')
    failed_batches = failures.failed_inferences | 'FailedBatchesToDeadLetters' >> beam.ParDo(
        _FailedBatchToDeadLettersFn(self._dead_letter))
    merged = (attached.records, split['no_text']) | 'MergeEmbeddedAndEmpty' >> beam.Flatten()
    dead_letters = ((split[_DEAD], attached[_DEAD], failed_batches)
                    | 'FlattenEmbedDeadLetters' >> beam.Flatten())
    return EmbedResult(merged, dead_letters)
