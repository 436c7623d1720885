"""Kafka for the graph: read raw records, write the outputs and dead letters.

Flink (unbounded) uses Beam's cross-language KafkaIO: `ReadFromKafka`/`WriteToKafka` expanded by
a Java expansion service and run in a Java environment chosen per runner (see
`KafkaIOConfig.expansion_service`): the Flink job server's own Beam version, with
`defaultEnvironmentType=EMBEDDED`, so KafkaIO runs inside the Flink JVMs, and
`use_deprecated_read` so Flink translates the unbounded read natively (checkpointed, with offsets
committed when a checkpoint completes).

The bounded runners (DirectRunner, Prism) start no JVM: they read and write with librdkafka
(confluent-kafka) in Python DoFns. KafkaIO's cross-language read takes topics, not offsets:
bounded by `max_num_records` it splits the count evenly over its splits (a split short of its
share polls for `max_read_time`, one with more stops at its share, leaving records behind),
bounded by `stop_read_time` it stops at a record timestamp (producer clocks decide), and it
commits offsets when Beam finalizes a bundle, before the later stages and the sinks have run.
Instead the driver plans the exact offset range of every partition
(connectors.kafka_client.partition_ranges), `ReadRawRecords` reads exactly those ranges
(`ReadKafkaRanges`: no split shares, no waiting, nothing left behind), `WriteKeyedBytesToKafka`
produces each output in the same fused stage (`_ProduceKeyedBytesFn`: the Java writer's settings
in librdkafka's names; a bundle fails unless Kafka acknowledged every message), and the driver
commits the ranges' ends only after the run has succeeded, its outputs flushed. The Java write
cost a bounded run half its time: the JVM start and three expansions, and a write stage that
ran only after the whole Python stage (BENCHMARKS.md).

The Flink job server available here is Beam 2.62 while the Python SDK is 2.73 (no newer Flink
runner is served, see stack/versions.sh). Java 2.62's KafkaIO expansion rejects the read fields
that Python 2.73 added, so `_ReadFromKafkaLegacyPayload` sends the field set 2.62 knows: same URN,
same transform, an older payload schema.
"""
from __future__ import annotations

import dataclasses
import time
import typing
from typing import Optional, Sequence

import apache_beam as beam
import numpy as np
from apache_beam.io.kafka import ReadFromKafka
from apache_beam.io.kafka import WriteToKafka
from apache_beam.transforms.external import ExternalTransform
from apache_beam.transforms.external import JavaJarExpansionService
from apache_beam.transforms.external import NamedTupleBasedPayloadBuilder

from connectors.kafka_client import PartitionRange
from connectors.sink_results import METRICS_NAMESPACE
from schemas.envelope import RawRecord

# Environments of the Java side. See the module docstring.
JAVA_ENV_LOOPBACK = 'loopback'
JAVA_ENV_EMBEDDED = 'embedded'

# How long a producer may try to deliver a message before it counts as failed: the Java
# producer's default, set explicitly so that both writers (Java on Flink, librdkafka on the
# bounded runners) give up alike, e.g. while a broker restarts.
DELIVERY_TIMEOUT_MS = 120_000

# The read configuration as Beam 2.62's KafkaIO.Read.External.Configuration accepts it.
_LegacyReadSchema = typing.NamedTuple(
    '_LegacyReadSchema',
    [('consumer_config', typing.Mapping[str, str]), ('topics', typing.List[str]),
     ('key_deserializer', str), ('value_deserializer', str),
     ('start_read_time', typing.Optional[int]), ('max_num_records', typing.Optional[int]),
     ('max_read_time', typing.Optional[int]), ('commit_offset_in_finalize', bool),
     ('timestamp_policy', str), ('consumer_polling_timeout', typing.Optional[int]),
     ('redistribute', typing.Optional[bool]),
     ('redistribute_num_keys', typing.Optional[np.int32]),
     ('allow_duplicates', typing.Optional[bool])])


class _ReadFromKafkaLegacyPayload(ReadFromKafka):
  """Beam's ReadFromKafka (same URN, same Java transform) with a payload a 2.62 expansion
  service accepts. Only the fields both versions share are configurable."""
  def __init__(
      self,
      consumer_config,
      topics,
      max_num_records=None,
      max_read_time=None,
      commit_offset_in_finalize=False,
      expansion_service=None):
    # Deliberately skips ReadFromKafka.__init__, whose payload has 2.73-only fields.
    ExternalTransform.__init__(  # pylint: disable=non-parent-init-called
        self,
        self.URN_WITH_METADATA,
        NamedTupleBasedPayloadBuilder(
            _LegacyReadSchema(
                consumer_config=consumer_config,
                topics=list(topics),
                key_deserializer=self.byte_array_deserializer,
                value_deserializer=self.byte_array_deserializer,
                start_read_time=None,
                max_num_records=max_num_records,
                max_read_time=max_read_time,
                commit_offset_in_finalize=commit_offset_in_finalize,
                timestamp_policy=self.create_time_policy,
                consumer_polling_timeout=2,
                redistribute=False,
                redistribute_num_keys=np.int32(0),
                allow_duplicates=False)),
        expansion_service)


@dataclasses.dataclass(frozen=True)
class KafkaIOConfig:
  """How the pipeline reaches Kafka and which Java environment runs KafkaIO.

  `expansion_jar` is a runnable jar of the Kafka expansion service (stack/stack.sh builds one
  per Beam version); `legacy_payload` is set when that jar is older than the Python SDK.
  """
  bootstrap_servers: str
  group_id: str
  expansion_jar: str
  java_env: str = JAVA_ENV_LOOPBACK
  legacy_payload: bool = False
  auto_offset_reset: str = 'earliest'
  # The producers' max.request.size: the largest message the graph writes, a dead letter as
  # large as the DLQ topic's max.message.bytes (pipeline/topics.yaml). None: Kafka's ~1 MiB.
  max_request_bytes: Optional[int] = None
  # Bounded runs: the exact offsets [start, stop) of each raw partition to read, planned by the
  # driver before the run (empty: read the topics with KafkaIO, unbounded, as on Flink).
  read_ranges: tuple[PartitionRange, ...] = ()

  def __post_init__(self):
    if not self.bootstrap_servers:
      raise ValueError('bootstrap_servers is empty: pass --bootstrap_servers=HOST:PORT')
    if not self.group_id:
      raise ValueError('group_id is empty: pass --consumer_group=NAME')
    if self.java_env not in (JAVA_ENV_LOOPBACK, JAVA_ENV_EMBEDDED):
      raise ValueError(f'java_env must be {JAVA_ENV_LOOPBACK!r} or {JAVA_ENV_EMBEDDED!r}')
    if self.auto_offset_reset not in ('earliest', 'latest'):
      raise ValueError('auto_offset_reset must be "earliest" or "latest"')
    if self.max_request_bytes is not None and self.max_request_bytes < 1024:
      raise ValueError('max_request_bytes must be >= 1024')
    object.__setattr__(self, 'read_ranges', tuple(self.read_ranges))

  @property
  def uses_java(self) -> bool:
    """Whether the graph reads and writes with Beam's cross-language KafkaIO (Java): only
    without planned ranges (Flink, unbounded). A run with read ranges (DirectRunner, Prism)
    reads and writes with librdkafka in Python and starts no JVM."""
    return not self.read_ranges

  def expansion_service(self) -> JavaJarExpansionService:
    """One expansion service object, shared by every Kafka transform of a pipeline (separate
    services for the read and the writes have been reported to hang)."""
    if not self.uses_java:
      raise RuntimeError('a run with planned read ranges uses no KafkaIO: it needs no expansion '
                         'service (and no JVM)')
    append_args = []
    if self.java_env == JAVA_ENV_EMBEDDED:
      append_args = ['--defaultEnvironmentType=EMBEDDED', '--experiments=use_deprecated_read']
    return JavaJarExpansionService(self.expansion_jar, append_args=append_args)

  def consumer_config(self) -> dict[str, str]:
    # Offsets are committed only when Beam finalizes what it read (a finished bundle on the
    # DirectRunner, a completed checkpoint on Flink), never by the consumer's auto-commit, so a
    # restarted job with the same group resumes after the last record that was processed.
    return {
        'bootstrap.servers': self.bootstrap_servers,
        'group.id': self.group_id,
        'auto.offset.reset': self.auto_offset_reset,
        'enable.auto.commit': 'false',
    }

  def producer_config(self) -> dict[str, str]:
    """The output producers' settings, in the Java client's names (WriteToKafka); the bounded
    runners' librdkafka writer takes the same, renamed (`librdkafka_producer_config`)."""
    config = {
        'bootstrap.servers': self.bootstrap_servers,
        'acks': 'all',
        'enable.idempotence': 'true',
        'linger.ms': '20',
        'delivery.timeout.ms': str(DELIVERY_TIMEOUT_MS),
    }
    if self.max_request_bytes is not None:
      config['max.request.size'] = str(self.max_request_bytes)
    return config


def _to_raw_record(kafka_record, source_by_topic: dict[str, str]) -> RawRecord:
  headers = tuple(
      (h.key, h.value) for h in (getattr(kafka_record, 'headers', None) or ()))
  return RawRecord(
      source=source_by_topic.get(kafka_record.topic, 'unknown'),
      topic=kafka_record.topic,
      partition=int(kafka_record.partition),
      offset=int(kafka_record.offset),
      timestamp_ms=int(kafka_record.timestamp),
      key=kafka_record.key,
      value=kafka_record.value,
      headers=headers)


class ReadRawRecords(beam.PTransform):
  """Reads the raw topics and yields `RawRecord`s that keep their topic, partition, offset and
  timestamp, and the source their topic stands for.

  With `config.read_ranges` (bounded runs): exactly those offset ranges, see `ReadKafkaRanges`;
  `max_read_seconds` is then how long a partition may yield nothing before the read fails.
  Otherwise Beam's ReadFromKafka (with metadata), unbounded for streaming; `max_num_records` /
  `max_read_seconds` would bound it Beam's way (even split shares, see the module docstring).
  """
  def __init__(
      self,
      config: KafkaIOConfig,
      source_by_topic: dict[str, str],
      expansion_service,
      max_num_records: Optional[int] = None,
      max_read_seconds: Optional[int] = None):
    super().__init__()
    if not source_by_topic:
      raise ValueError('no topics to read')
    unknown = {r.topic for r in config.read_ranges} - set(source_by_topic)
    if unknown:
      raise ValueError(f'read ranges of topics that are not read: {sorted(unknown)}')
    if config.uses_java and expansion_service is None:
      raise ValueError('reading with KafkaIO (no planned ranges) needs an expansion service')
    self._config = config
    self._source_by_topic = dict(source_by_topic)
    self._expansion_service = expansion_service
    self._max_num_records = max_num_records
    self._max_read_seconds = max_read_seconds

  def expand(self, pbegin):
    source_by_topic = self._source_by_topic
    if not self._config.uses_java:
      return pbegin | 'ReadKafkaRanges' >> ReadKafkaRanges(
          self._config, source_by_topic, self._config.read_ranges,
          idle_timeout_s=self._max_read_seconds or DEFAULT_IDLE_TIMEOUT_S)
    read_cls = _ReadFromKafkaLegacyPayload if self._config.legacy_payload else _read_from_kafka
    return (
        pbegin
        | 'ReadFromKafka' >> read_cls(
            consumer_config=self._config.consumer_config(),
            topics=sorted(source_by_topic),
            max_num_records=self._max_num_records,
            max_read_time=self._max_read_seconds,
            commit_offset_in_finalize=True,
            expansion_service=self._expansion_service)
        | 'ToRawRecord' >> beam.Map(_to_raw_record, source_by_topic).with_output_types(RawRecord))


DEFAULT_IDLE_TIMEOUT_S = 30
# A range is read in pieces of at most this many offsets, so that several workers can share a
# large partition (--direct_num_workers) and a retried piece re-reads little.
_PIECE_OFFSETS = 20_000
_CONSUME_BATCH = 1000


class KafkaRangeReadError(RuntimeError):
  """A planned range could not be read (broker gone for too long, or a fatal client error)."""


def split_ranges(ranges: Sequence[PartitionRange], piece: int = _PIECE_OFFSETS) -> list[PartitionRange]:
  """The non-empty ranges cut into pieces of at most `piece` offsets."""
  out = []
  for r in ranges:
    for start in range(r.start, r.stop, piece):
      out.append(PartitionRange(r.topic, r.partition, start, min(r.stop, start + piece)))
  return out


class _ReadRangesFn(beam.DoFn):
  """PartitionRange → the RawRecords at offsets [start, stop), timestamped with the record's
  Kafka timestamp. Commits nothing: the driver commits after the run."""

  def __init__(self, config: KafkaIOConfig, source_by_topic: dict[str, str],
               idle_timeout_s: float):
    self._config = config
    self._source_by_topic = dict(source_by_topic)
    self._idle_timeout_s = idle_timeout_s
    self._consumer = None

  def setup(self):
    import confluent_kafka  # pylint: disable=import-outside-toplevel
    self._kafka = confluent_kafka
    self._consumer = confluent_kafka.Consumer({
        'bootstrap.servers': self._config.bootstrap_servers,
        # assign(), not subscribe(): the group id only names the client; nothing is committed.
        'group.id': self._config.group_id,
        'enable.auto.commit': False,
        'enable.auto.offset.store': False,
        'enable.partition.eof': True,
        # A range that starts below the log start (deleted by retention) starts at the log start.
        'auto.offset.reset': 'earliest',
        'client.id': 'millionx-range-reader',
    })
    self._num_read = beam.metrics.Metrics.counter(METRICS_NAMESPACE, 'num_range_records')
    self._num_expired = beam.metrics.Metrics.counter(METRICS_NAMESPACE, 'num_records_expired')

  def teardown(self):
    if self._consumer is not None:
      self._consumer.close()
      self._consumer = None

  def process(self, r: PartitionRange):
    kafka = self._kafka
    consumer = self._consumer
    consumer.assign([kafka.TopicPartition(r.topic, r.partition, r.start)])
    source = self._source_by_topic.get(r.topic, 'unknown')
    expected = r.start
    last_progress = time.monotonic()
    try:
      while expected < r.stop:
        # Checked before every poll, whatever the last one returned: a partition that answers
        # only with transient errors fails as one that answers nothing.
        if time.monotonic() - last_progress > self._idle_timeout_s:
          raise KafkaRangeReadError(
              f'{r.topic}:{r.partition} gave nothing for {self._idle_timeout_s:.0f}s at offset '
              f'{expected} of [{r.start}, {r.stop}): is the broker up?')
        messages = consumer.consume(num_messages=min(_CONSUME_BATCH, r.stop - expected),
                                    timeout=1.0)
        for m in messages:
          error = m.error()
          if error is not None:
            if error.code() == kafka.KafkaError._PARTITION_EOF:  # pylint: disable=protected-access
              if m.offset() >= r.stop:
                expected = r.stop   # the rest of the range held no records (gaps)
              continue
            if error.fatal():
              raise KafkaRangeReadError(f'{r.topic}:{r.partition}: {error.str()}')
            continue  # transient (broker restarting): librdkafka retries; the idle timer runs
          offset = m.offset()
          if offset >= r.stop:
            expected = r.stop
            break
          if offset > expected:
            self._num_expired.inc(offset - expected)
          expected = offset + 1
          last_progress = time.monotonic()
          self._num_read.inc()
          _, timestamp_ms = m.timestamp()
          record = RawRecord(source=source, topic=r.topic, partition=r.partition, offset=offset,
                             timestamp_ms=timestamp_ms, key=m.key(), value=m.value(),
                             headers=tuple(m.headers() or ()))
          yield beam.window.TimestampedValue(record, timestamp_ms / 1000.0)
    finally:
      consumer.unassign()


class ReadKafkaRanges(beam.PTransform):
  """PBegin → RawRecord: exactly the records at offsets [start, stop) of each planned range.

  No waiting for records that are not there (the stops are offsets that exist), nothing left
  behind (every offset up to each stop is read), no offsets committed (the driver commits the
  stops after the run succeeded: see pipeline/__main__.py)."""

  def __init__(self, config: KafkaIOConfig, source_by_topic: dict[str, str],
               ranges: Sequence[PartitionRange], idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S):
    super().__init__()
    if idle_timeout_s <= 0:
      raise ValueError('idle_timeout_s must be positive')
    self._config = config
    self._source_by_topic = dict(source_by_topic)
    self._pieces = split_ranges(ranges)
    self._idle_timeout_s = idle_timeout_s

  def expand(self, pbegin):
    return (
        pbegin
        | 'PlannedRanges' >> beam.Create(self._pieces)
        | 'ReadRanges' >> beam.ParDo(_ReadRangesFn(
            self._config, self._source_by_topic, self._idle_timeout_s)).with_output_types(RawRecord))


def _read_from_kafka(
    consumer_config, topics, max_num_records, max_read_time, commit_offset_in_finalize,
    expansion_service):
  return ReadFromKafka(
      consumer_config=consumer_config,
      topics=topics,
      with_metadata=True,
      max_num_records=max_num_records,
      max_read_time=max_read_time,
      commit_offset_in_finalize=commit_offset_in_finalize,
      timestamp_policy=ReadFromKafka.create_time_policy,
      expansion_service=expansion_service)


# Java producer setting → its librdkafka name. Every setting of KafkaIOConfig.producer_config
# must be listed: one added later is renamed deliberately, never silently dropped.
_LIBRDKAFKA_NAMES = {
    'bootstrap.servers': 'bootstrap.servers',
    'acks': 'acks',
    'enable.idempotence': 'enable.idempotence',
    'linger.ms': 'linger.ms',
    'delivery.timeout.ms': 'delivery.timeout.ms',   # librdkafka's alias of message.timeout.ms
    # The largest message (a dead letter as large as the DLQ topic allows); librdkafka refuses a
    # larger one in produce(), as the Java producer does in send().
    'max.request.size': 'message.max.bytes',
}
# What librdkafka needs to behave as the Java producer does, beyond the shared settings.
_LIBRDKAFKA_ONLY = {
    # The Java producer's default partitioner (murmur2 of the key): an output lands on the
    # partition WriteToKafka picked for the same key (librdkafka's default is CRC32).
    'partitioner': 'murmur2_random',
    # Only failures call back: a per-message success report would cost more Python than the
    # produce() itself; what was not reported failed was delivered once flush() returns 0.
    'delivery.report.only.error': True,   # a Python-side setting of confluent-kafka: a bool
    'client.id': 'millionx-output-writer',
}
# A flush waits at most this much longer than the delivery timeout, after which librdkafka has
# failed every message itself; anything still queued then fails the bundle.
_FLUSH_MARGIN_S = 30.0
# Serve queued delivery reports every this many messages, so a failure is seen early and the
# report queue stays short.
_POLL_EVERY = 1000
# While librdkafka's queue is full: how long each poll lets batches drain.
_FULL_QUEUE_POLL_S = 0.05


def librdkafka_producer_config(config: KafkaIOConfig) -> dict[str, typing.Any]:
  """KafkaIOConfig.producer_config (the Java writer's settings) in librdkafka's names."""
  java = config.producer_config()
  unmapped = sorted(set(java) - set(_LIBRDKAFKA_NAMES))
  if unmapped:
    raise ValueError(f'producer settings without a librdkafka name: {unmapped}')
  settings = {_LIBRDKAFKA_NAMES[name]: value for name, value in java.items()}
  settings.update(_LIBRDKAFKA_ONLY)
  return settings


class KafkaWriteError(RuntimeError):
  """Kafka did not acknowledge some messages of a bundle (refused, or no answer in time). The
  bundle fails, so the bounded run fails and the driver commits no offsets."""


class _BundleDeliveries:
  """What one bundle sent and what failed. One per bundle, so that a late report of an earlier,
  failed bundle cannot count against the next one."""

  def __init__(self):
    self.produced = 0
    self.failed = 0
    self.errors: dict[str, int] = {}    # error name and text → messages (never a payload)
    self.partitions: set[int] = set()

  def on_delivery(self, err, msg) -> None:
    if err is not None:   # delivery.report.only.error: only failures are reported
      self.failed += 1
      text = f'{err.name()}: {err.str()}'
      self.errors[text] = self.errors.get(text, 0) + 1
      self.partitions.add(msg.partition())


class _ProduceKeyedBytesFn(beam.DoFn):
  """(key bytes, value bytes) → one message each on `topic`, through a librdkafka producer.

  The producer is made in setup() and closed in teardown(); finish_bundle() flushes it and
  raises KafkaWriteError unless Kafka acknowledged every message of the bundle within the
  delivery timeout and a margin. A failed bundle drops its producer (purging what it still
  held); the next bundle makes a new one."""

  def __init__(self, settings: dict[str, typing.Any], topic: str,
               producer_factory: Optional[typing.Callable[[dict], typing.Any]] = None):
    if not topic:
      raise ValueError('topic is empty')
    self._settings = dict(settings)
    self._topic = topic
    self._producer_factory = producer_factory
    self._flush_timeout_s = int(self._settings['delivery.timeout.ms']) / 1000 + _FLUSH_MARGIN_S
    self._producer = None
    self._refused = None
    self._num_written = None
    self._bundle = None
    self._unpolled = 0

  def display_data(self):
    return {'topic': self._topic, 'bootstrap_servers': self._settings['bootstrap.servers']}

  def setup(self):
    import confluent_kafka  # pylint: disable=import-outside-toplevel
    self._refused = confluent_kafka.KafkaException
    self._num_written = beam.metrics.Metrics.counter(METRICS_NAMESPACE,
                                                     'num_kafka_messages_written')
    self._producer = self._new_producer()

  def _new_producer(self):
    if self._producer_factory is not None:
      return self._producer_factory(self._settings)
    import confluent_kafka  # pylint: disable=import-outside-toplevel
    return confluent_kafka.Producer(self._settings)

  def start_bundle(self):
    if self._producer is None:
      self._producer = self._new_producer()
    self._bundle = _BundleDeliveries()
    self._unpolled = 0

  def process(self, element):
    key, value = element
    producer = self._producer
    while True:
      try:
        producer.produce(self._topic, value, key, on_delivery=self._bundle.on_delivery)
        break
      except BufferError:   # queue.buffering.max.messages/kbytes reached: let batches drain
        producer.poll(_FULL_QUEUE_POLL_S)
      except self._refused as e:   # larger than message.max.bytes, a fatal producer error
        raise KafkaWriteError(f'{self._topic}: librdkafka refused a message: {e}') from e
    self._bundle.produced += 1
    self._unpolled += 1
    if self._unpolled >= _POLL_EVERY:
      self._unpolled = 0
      producer.poll(0)

  def finish_bundle(self):
    bundle = self._bundle
    left = self._producer.flush(self._flush_timeout_s)
    if left or bundle.failed:
      self._drop_producer()
      problems = []
      if bundle.failed:
        problems.append(f'{bundle.failed} of {bundle.produced} message(s) failed '
                        f'(partitions {sorted(bundle.partitions)}): {bundle.errors}')
      if left:
        problems.append(f'{left} of {bundle.produced} message(s) not acknowledged after '
                        f'{self._flush_timeout_s:.0f} s')
      raise KafkaWriteError(f'{self._topic}: ' + '; '.join(problems))
    self._num_written.inc(bundle.produced)

  def teardown(self):
    self._drop_producer()

  def _drop_producer(self) -> None:
    producer, self._producer = self._producer, None
    if producer is not None:
      # After a successful flush nothing is queued; after a failure, drop what is left rather
      # than let it go out unseen by any bundle.
      producer.purge()
      producer.poll(0)
      producer.close()


class WriteKeyedBytesToKafka(beam.PTransform):
  """Writes (key bytes, value bytes) pairs to one topic, each pair one message.

  With planned read ranges (bounded runs) through librdkafka in a Python DoFn
  (`_ProduceKeyedBytesFn`, fused with the stages before it); otherwise (Flink) with Beam's
  WriteToKafka. Both with the settings of `KafkaIOConfig.producer_config`."""
  def __init__(self, config: KafkaIOConfig, topic: str, expansion_service=None):
    super().__init__()
    if not topic:
      raise ValueError('topic is empty')
    if config.uses_java and expansion_service is None:
      raise ValueError('writing with KafkaIO (no planned ranges) needs an expansion service')
    self._config = config
    self._topic = topic
    self._expansion_service = expansion_service
    self._settings = None if config.uses_java else librdkafka_producer_config(config)

  def expand(self, pcoll):
    if not self._config.uses_java:
      return pcoll | 'Produce' >> beam.ParDo(_ProduceKeyedBytesFn(self._settings, self._topic))
    return (
        pcoll
        | 'AsKV' >> beam.Map(lambda kv: (bytes(kv[0]), bytes(kv[1]))).with_output_types(
            tuple[bytes, bytes])
        | 'WriteToKafka' >> WriteToKafka(
            producer_config=self._config.producer_config(),
            topic=self._topic,
            expansion_service=self._expansion_service))
