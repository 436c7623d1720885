"""Kafka through Beam's cross-language KafkaIO: read raw records, write dead letters and outputs.

There is no Docker engine here, so the Java side of `ReadFromKafka`/`WriteToKafka` runs in a
Java environment chosen per runner (see `KafkaIOConfig.expansion_service`):

* DirectRunner and PrismRunner: the Beam `BEAM_VERSION` expansion service started with
  `--alsoStartLoopbackWorker`; its JVM also runs the Java SDK worker (environment EXTERNAL).
* FlinkRunner: the Flink job server's own Beam version, with `defaultEnvironmentType=EMBEDDED`,
  so the Kafka read runs inside the Flink JVMs, and `use_deprecated_read` so Flink translates the
  unbounded read natively (checkpointed, with offsets committed when a checkpoint completes).

The Flink job server available here is Beam 2.62 while the Python SDK is 2.73 (no newer Flink
runner is served, see stack/versions.sh). Java 2.62's KafkaIO expansion rejects the read fields
that Python 2.73 added, so `_ReadFromKafkaLegacyPayload` sends the field set 2.62 knows: same URN,
same transform, an older payload schema.
"""
from __future__ import annotations

import dataclasses
import typing
from typing import Optional

import apache_beam as beam
import numpy as np
from apache_beam.io.kafka import ReadFromKafka
from apache_beam.io.kafka import WriteToKafka
from apache_beam.transforms.external import ExternalTransform
from apache_beam.transforms.external import JavaJarExpansionService
from apache_beam.transforms.external import NamedTupleBasedPayloadBuilder

from schemas.envelope import RawRecord

# Environments of the Java side. See the module docstring.
JAVA_ENV_LOOPBACK = 'loopback'
JAVA_ENV_EMBEDDED = 'embedded'

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

  def expansion_service(self) -> JavaJarExpansionService:
    """One expansion service object, shared by every Kafka transform of a pipeline (separate
    services for the read and the writes have been reported to hang)."""
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
    config = {
        'bootstrap.servers': self.bootstrap_servers,
        'acks': 'all',
        'enable.idempotence': 'true',
        'linger.ms': '20',
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
  """Reads the raw topics with Beam's ReadFromKafka (with metadata) and yields `RawRecord`s
  that keep their topic, partition and offset, and the source their topic stands for.

  `max_num_records`/`max_read_seconds` make the read bounded (needed on the DirectRunner, where
  an unbounded cross-language read never ends); leave both None for streaming.
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
    self._config = config
    self._source_by_topic = dict(source_by_topic)
    self._expansion_service = expansion_service
    self._max_num_records = max_num_records
    self._max_read_seconds = max_read_seconds

  def expand(self, pbegin):
    read_cls = _ReadFromKafkaLegacyPayload if self._config.legacy_payload else _read_from_kafka
    source_by_topic = self._source_by_topic
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


class WriteKeyedBytesToKafka(beam.PTransform):
  """Writes (key bytes, value bytes) pairs to one topic with Beam's WriteToKafka."""
  def __init__(self, config: KafkaIOConfig, topic: str, expansion_service):
    super().__init__()
    if not topic:
      raise ValueError('topic is empty')
    self._config = config
    self._topic = topic
    self._expansion_service = expansion_service

  def expand(self, pcoll):
    return (
        pcoll
        | 'AsKV' >> beam.Map(lambda kv: (bytes(kv[0]), bytes(kv[1]))).with_output_types(
            tuple[bytes, bytes])
        | 'WriteToKafka' >> WriteToKafka(
            producer_config=self._config.producer_config(),
            topic=self._topic,
            expansion_service=self._expansion_service))

