"""Publishes raw API payloads to Kafka: one message per API object, keyed by the source's native id.

Every message carries the headers the pipeline reads (`source`, `schema_version`, `fetched_at`),
is sent with acks=all and retries (idempotent producer, so retries add no duplicates), and is
batched with linger and compression, because the agents and the demo generator both publish in
bursts. Delivery failures are counted and raised at `flush()`: an agent must not advance its
checkpoint past records the broker never took.

Two clients behind one interface: `KafkaPublisher` (kafka-python, what the agents use) and
`BulkPublisher` (librdkafka through confluent-kafka, for the demo generator's bulk loads only),
configured from the same `PublisherConfig` with the same guarantees.
"""
from __future__ import annotations

import abc
import base64
import collections
import dataclasses
import datetime
import json
import logging
import threading
from typing import Callable, Iterable, Mapping, Optional, Sequence

import confluent_kafka
import kafka
from kafka.errors import KafkaError

from connectors.secrets import (DLQ_DIGEST_LABEL, DLQ_INGEST_FERNET_LABEL, SecretError, SecretRef,
                                derive_key, keyed_digest)

_LOG = logging.getLogger(__name__)

SCHEMA_VERSION = '1'
Headers = Sequence[tuple[str, bytes]]


class PublishError(RuntimeError):
  """The broker did not acknowledge some records (after the producer's own retries)."""


def utc_iso(ts: datetime.datetime) -> str:
  """ISO-8601 in UTC with a `Z`, second precision plus milliseconds: the `fetched_at` format."""
  return ts.astimezone(datetime.timezone.utc).isoformat(timespec='milliseconds').replace(
      '+00:00', 'Z')


def standard_headers(source: str, fetched_at: datetime.datetime, *,
                     synthetic: bool = False) -> list[tuple[str, bytes]]:
  """The headers every raw message carries; `synthetic` marks demo data without touching the payload."""
  headers = [('source', source.encode()), ('schema_version', SCHEMA_VERSION.encode()),
             ('fetched_at', utc_iso(fetched_at).encode())]
  if synthetic:
    headers.append(('synthetic', b'true'))
  return headers


def _compression_available(codec: str) -> bool:
  try:
    if codec == 'zstd':
      import zstandard  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    elif codec == 'lz4':
      import lz4.frame  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    elif codec == 'snappy':
      import snappy  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
  except ImportError:
    return False
  return True


def best_compression() -> str:
  """zstd if its library is installed (best ratio for JSON at low CPU), else gzip (always there)."""
  for codec in ('zstd', 'lz4'):
    if _compression_available(codec):
      return codec
  return 'gzip'


@dataclasses.dataclass(frozen=True)
class PublisherConfig:
  """Producer settings; the defaults favour throughput with no loss (acks=all, idempotence)."""
  bootstrap_servers: str = '127.0.0.1:9092'
  client_id: str = 'millionx-agent'
  linger_ms: int = 20
  batch_size: int = 512 * 1024
  compression: str = 'auto'           # 'auto' = best_compression(); or zstd|lz4|gzip|snappy|none
  delivery_timeout_ms: int = 120_000
  max_request_size: int = 4 * 1024 * 1024

  def __post_init__(self):
    if not self.bootstrap_servers:
      raise ValueError('bootstrap_servers is empty: give host:port[,host:port]')
    if self.linger_ms < 0 or self.batch_size <= 0:
      raise ValueError('linger_ms must be >= 0 and batch_size > 0')
    if self.compression not in ('auto', 'zstd', 'lz4', 'gzip', 'snappy', 'none'):
      raise ValueError(f'Unknown compression {self.compression!r}')
    if self.compression not in ('auto', 'none', 'gzip') and not _compression_available(
        self.compression):
      raise ValueError(f'Compression {self.compression} needs its Python library installed')

  def producer_kwargs(self) -> dict:
    codec = best_compression() if self.compression == 'auto' else self.compression
    return dict(
        bootstrap_servers=self.bootstrap_servers.split(','), client_id=self.client_id,
        acks='all', enable_idempotence=True, retries=2**31 - 1,
        delivery_timeout_ms=self.delivery_timeout_ms, linger_ms=self.linger_ms,
        batch_size=self.batch_size, max_request_size=self.max_request_size,
        compression_type=None if codec == 'none' else codec)

  def librdkafka_config(self) -> dict:
    """The same settings for librdkafka (confluent-kafka), for BulkPublisher."""
    codec = best_compression() if self.compression == 'auto' else self.compression
    return {
        'bootstrap.servers': self.bootstrap_servers, 'client.id': self.client_id,
        'acks': 'all', 'enable.idempotence': True, 'retries': 2**31 - 1,
        'delivery.timeout.ms': self.delivery_timeout_ms, 'linger.ms': self.linger_ms,
        'batch.size': self.batch_size, 'message.max.bytes': self.max_request_size,
        'compression.type': codec,
        # The Java client's murmur2 on the key, as kafka-python's default partitioner: a key
        # lands on the partition an agent would have picked (librdkafka's default is CRC32).
        'partitioner': 'murmur2_random',
        # Only failures are reported back, as KafkaPublisher registers only errbacks: a
        # per-record success report would cost more Python than the send itself.
        'delivery.report.only.error': True,
    }


class _CountingPublisher(abc.ABC):
  """What both clients share: the producer's life cycle (opened by `with`, flushed and closed on
  exit), per-topic counts of sent and failed records, and flush raising PublishError for
  failures since the last flush, so callers checkpoint only after it succeeds.
  """

  def __init__(self, config: PublisherConfig, producer_factory: Callable):
    self._config = config
    self._factory = producer_factory
    self._producer = None
    self._lock = threading.Lock()
    self.sent: collections.Counter[str] = collections.Counter()
    self.failed: collections.Counter[str] = collections.Counter()
    # Failures since the last flush that reported them: a count and the first few messages.
    self._new_failures = 0
    self._failures: list[tuple[str, str]] = []

  def __enter__(self):
    self.open()
    return self

  def __exit__(self, exc_type, exc, tb) -> None:
    self.close(flush=exc_type is None)

  def open(self) -> None:
    if self._producer is None:
      self._producer = self._new_producer()

  def close(self, flush: bool = True) -> None:
    """Flushes (unless `flush` is False, as after an error) and closes the producer."""
    producer = self._producer
    if producer is None:
      return
    try:
      if flush:
        self.flush()
    finally:
      self._producer = None
      self._close_producer(producer)

  @abc.abstractmethod
  def _new_producer(self):
    """The client's producer, built with self._factory from self._config."""

  @abc.abstractmethod
  def _close_producer(self, producer) -> None:
    """Closes the client's producer (after a flush when there was no error)."""

  @abc.abstractmethod
  def send(self, topic: str, key: Optional[bytes], value: Optional[bytes],
           headers: Headers = ()) -> None:
    """Queues one record; PublishError if the client refuses it."""

  @abc.abstractmethod
  def _flush_client(self, timeout_s: Optional[float]) -> None:
    """Waits until every queued record is acknowledged or failed."""

  @property
  def acked(self) -> collections.Counter[str]:
    """Records the broker acknowledged, per topic; exact after a flush (sent minus failed)."""
    with self._lock:
      return self.sent - self.failed

  def _on_error(self, topic: str, exc: BaseException) -> None:
    with self._lock:
      self.failed[topic] += 1
      self._new_failures += 1
      if len(self._failures) < 5:
        self._failures.append((topic, f'{type(exc).__name__}: {exc}'))

  def send_json(self, topic: str, key: str, payload, headers: Headers = ()) -> None:
    """One API object as JSON (UTF-8, non-ASCII kept as is: Bangla stays readable)."""
    self.send(topic, key.encode('utf-8') if key is not None else None,
              json.dumps(payload, ensure_ascii=False, separators=(',', ':')).encode('utf-8'),
              headers)

  def flush(self, timeout_s: Optional[float] = None) -> None:
    self._flush_client(timeout_s)
    with self._lock:
      count, failures = self._new_failures, self._failures
      self._new_failures, self._failures = 0, []
    if count:
      raise PublishError(f'{count} record(s) were not acknowledged by Kafka since the last flush; '
                         f'first: {failures}')

  def publish_many(self, records: Iterable[tuple[str, Optional[bytes], Optional[bytes], Headers]],
                   progress: Optional[Callable[[int], None]] = None,
                   progress_every: int = 10_000) -> int:
    """Sends (topic, key, value, headers) tuples, flushes, and returns how many were sent."""
    n = 0
    for topic, key, value, headers in records:
      self.send(topic, key, value, headers)
      n += 1
      if progress is not None and n % progress_every == 0:
        progress(n)
    self.flush()
    return n


class KafkaPublisher(_CountingPublisher):
  """Context-managed kafka-python producer that counts what the broker acknowledged, per topic.

  `send()` is asynchronous; `flush()` waits for every outstanding record and raises PublishError
  if any was lost, so callers checkpoint only after a successful flush.
  """

  def __init__(self, config: PublisherConfig, *,
               producer_factory: Callable[..., kafka.KafkaProducer] = kafka.KafkaProducer):
    super().__init__(config, producer_factory)

  def __enter__(self) -> 'KafkaPublisher':
    return super().__enter__()

  def _new_producer(self) -> kafka.KafkaProducer:
    return self._factory(**self._config.producer_kwargs())

  def _close_producer(self, producer: kafka.KafkaProducer) -> None:
    producer.close(timeout=10)

  def send(self, topic: str, key: Optional[bytes], value: Optional[bytes],
           headers: Headers = ()) -> None:
    """Queues one record; raises PublishError at once if the producer refuses it (buffer, size)."""
    if self._producer is None:
      raise RuntimeError('KafkaPublisher used outside its `with` block')
    try:
      future = self._producer.send(topic, key=key, value=value, headers=list(headers))
    except KafkaError as e:
      raise PublishError(f'Kafka refused a record for {topic}: {type(e).__name__}: {e}') from e
    self.sent[topic] += 1
    # Only failures call back: a per-record success callback costs more than the send itself
    # at demo rates, and success is what remains after flush.
    future.add_errback(self._on_error, topic)

  def _flush_client(self, timeout_s: Optional[float]) -> None:
    if self._producer is None:
      raise RuntimeError('KafkaPublisher used outside its `with` block')
    try:
      self._producer.flush(timeout=timeout_s)
    except KafkaError as e:
      raise PublishError(f'Flush did not complete: {type(e).__name__}: {e}') from e


class BulkPublisher(_CountingPublisher):
  """The demo generator's bulk path: KafkaPublisher's records and guarantees through librdkafka.

  kafka-python spends ~90 µs of Python per record in `send()`; librdkafka (confluent-kafka)
  ~20 µs, so one process publishes several times more demo records per second
  (benchmarks/bench_generator.py measures both side by side). Same `PublisherConfig`, same
  acks=all, idempotence, retries, linger, batching, compression, headers and key partitioning
  (`PublisherConfig.librdkafka_config`). The source agents keep kafka-python (issue 5).
  """

  # Serve delivery reports (failures only) every this many records, so they are counted early.
  POLL_EVERY = 1000

  def __init__(self, config: PublisherConfig, *,
               producer_factory: Callable[[dict], confluent_kafka.Producer] = (
                   confluent_kafka.Producer)):
    super().__init__(config, producer_factory)
    self._unpolled = 0

  def __enter__(self) -> 'BulkPublisher':
    return super().__enter__()

  def _new_producer(self) -> confluent_kafka.Producer:
    return self._factory(dict(self._config.librdkafka_config(), on_delivery=self._on_delivery))

  def _close_producer(self, producer: confluent_kafka.Producer) -> None:
    # Nothing is left after a successful flush; otherwise drop what is queued rather than
    # let close() wait for it (purged records are reported, and counted, as failed).
    producer.purge()
    producer.poll(0)
    producer.close()

  def _on_delivery(self, err, msg) -> None:
    if err is not None:
      self._on_error(msg.topic(), confluent_kafka.KafkaException(err))

  def send(self, topic: str, key: Optional[bytes], value: Optional[bytes],
           headers: Headers = ()) -> None:
    """Queues one record; waits while librdkafka's queue is full; PublishError if it refuses one."""
    producer = self._producer
    if producer is None:
      raise RuntimeError('BulkPublisher used outside its `with` block')
    while True:
      try:
        producer.produce(topic, value, key, headers=list(headers))
        break
      except BufferError:  # queue.buffering.max.messages/kbytes reached: let batches drain
        producer.poll(0.05)
      except confluent_kafka.KafkaException as e:
        raise PublishError(f'Kafka refused a record for {topic}: {e}') from e
    self.sent[topic] += 1
    self._unpolled += 1
    if self._unpolled >= self.POLL_EVERY:
      self._unpolled = 0
      producer.poll(0)

  def _flush_client(self, timeout_s: Optional[float]) -> None:
    if self._producer is None:
      raise RuntimeError('BulkPublisher used outside its `with` block')
    left = self._producer.flush() if timeout_s is None else self._producer.flush(timeout_s)
    if left:
      raise PublishError(f'Flush did not complete: {left} record(s) still queued after '
                         f'{timeout_s} s')


class DeadLetterCodec:
  """Builds ingest dead letters: the reason in clear, the original payload encrypted.

  Payloads hold PII, so the payload travels only Fernet-encrypted. The Fernet key is derived
  (connectors.secrets.derive_key, its own label) from the project's DLQ key, the same hex or
  base64 key of at least 32 random bytes the pipeline's dead letters are sealed with (what
  run_local.sh makes); it is resolved and checked when the codec is made, so a wrong key stops
  an agent before its first fetch, not at its first dead letter. The payload's digest is keyed
  (`payload_hmac_sha256`, connectors.secrets.keyed_digest under the DLQ key's digest key, the
  pipeline's dead letters' digest): a plain hash would let anyone reading the topic confirm a
  guessed payload. Without a key the payload is left out and only its size is kept: the record
  still says what failed and why, and the raw topic's retention is not extended.
  """

  def __init__(self, key_ref: Optional[SecretRef] = None):
    self.key_ref = key_ref
    self._fernet = self._digest_key = None
    if key_ref is not None:
      from cryptography.fernet import Fernet  # pylint: disable=import-outside-toplevel
      key = key_ref.resolve_key()   # SecretError naming the reference, never the key
      self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(key, DLQ_INGEST_FERNET_LABEL)))
      self._digest_key = derive_key(key, DLQ_DIGEST_LABEL)

  def encode(self, *, source: str, intended_topic: str, key: Optional[str], reason: str,
             error_class: str, payload: Optional[bytes], now: datetime.datetime) -> bytes:
    letter = {
        'stage': 'ingest', 'source': source, 'intended_topic': intended_topic, 'key': key,
        'error_class': error_class, 'reason': reason, 'time': utc_iso(now),
        'payload_size': len(payload) if payload is not None else 0,
        'payload_hmac_sha256': (keyed_digest(self._digest_key, payload)
                                if payload is not None and self._digest_key else None),
    }
    if self._fernet is not None and payload is not None:
      letter['payload_fernet'] = self._fernet.encrypt(payload).decode()
    return json.dumps(letter, ensure_ascii=False, separators=(',', ':')).encode('utf-8')

  def open(self, letter: dict) -> bytes:
    """The payload of an ingest dead letter (its JSON, parsed), for whoever holds the key.
    Raises cryptography.fernet.InvalidToken when it was sealed under another key."""
    if self._fernet is None:
      raise SecretError('opening an ingest dead letter needs the DLQ key')
    if not letter.get('payload_fernet'):
      raise LookupError('this ingest dead letter kept no payload')
    return self._fernet.decrypt(letter['payload_fernet'].encode('ascii'))


def dead_letter_headers(source: str, reason: str, now: datetime.datetime) -> list[tuple[str, bytes]]:
  return standard_headers(source, now) + [('dlq_reason', reason[:200].encode('utf-8'))]


def topic_counts(counter: Mapping[str, int]) -> dict[str, int]:
  return {topic: counter[topic] for topic in sorted(counter)}


__all__ = ['KafkaPublisher', 'BulkPublisher', 'PublisherConfig', 'PublishError', 'DeadLetterCodec',
           'standard_headers', 'dead_letter_headers', 'utc_iso', 'SCHEMA_VERSION',
           'best_compression', 'topic_counts']
