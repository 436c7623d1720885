"""The bounded runners' output writer: librdkafka in a Python DoFn, no JVM (issue 11 item 3).

A run that reads planned offset ranges (DirectRunner, Prism) writes posts, orders and dead
letters with `_ProduceKeyedBytesFn`; Flink keeps Beam's cross-language WriteToKafka. What is held
here: the producer settings are the Java writer's in librdkafka's names, every pair is one message
with the same bytes, a full queue waits instead of dropping, and any message Kafka did not
acknowledge (an error, or no answer in time) fails the bundle, so the run fails and the driver
commits no offsets. Against the real broker: tests/integration/test_direct_kafka_writes.py.
"""
import apache_beam as beam
import pytest
from apache_beam.pipeline import ExternalTransformFinder

from connectors import kafka as kafka_io
from connectors.kafka_client import PartitionRange
from tests.unit import fakes

TOPIC = 'out.market.orders'
RANGES = (PartitionRange('raw.shopify.orders', 0, 0, 10),)


def _config(**kwargs):
  return kafka_io.KafkaIOConfig('127.0.0.1:9092', 'g', 'missing.jar', **kwargs)


def test_the_producer_settings_are_the_java_writers_in_librdkafka_names():
  import confluent_kafka
  config = _config(max_request_bytes=3 * 1024 * 1024)
  java = config.producer_config()
  settings = kafka_io.librdkafka_producer_config(config)
  # The DLQ's size limit: Java's max.request.size is librdkafka's message.max.bytes.
  assert settings['message.max.bytes'] == java['max.request.size'] == str(3 * 1024 * 1024)
  assert 'max.request.size' not in settings
  for name in ('bootstrap.servers', 'acks', 'enable.idempotence', 'linger.ms',
               'delivery.timeout.ms'):
    assert settings[name] == java[name], name
  assert (settings['acks'], settings['enable.idempotence']) == ('all', 'true')
  # The Java producer's default partitioner: a key lands on the partition WriteToKafka chose.
  assert settings['partitioner'] == 'murmur2_random'
  confluent_kafka.Producer(settings).flush(0)   # librdkafka accepts every name and value
  assert 'message.max.bytes' not in kafka_io.librdkafka_producer_config(_config())


def test_a_java_setting_without_a_librdkafka_name_is_refused_not_dropped(monkeypatch):
  monkeypatch.setattr(kafka_io.KafkaIOConfig, 'producer_config',
                      lambda self: {'bootstrap.servers': 'b:1', 'buffer.memory': '1'})
  with pytest.raises(ValueError, match='buffer.memory'):
    kafka_io.librdkafka_producer_config(_config())


class _Error:
  def __init__(self, name):
    self._name = name

  def name(self):
    return self._name

  def str(self):
    return f'{self._name}: broker said no'


class _Message:
  def __init__(self, topic, partition):
    self._topic, self._partition = topic, partition

  def topic(self):
    return self._topic

  def partition(self):
    return self._partition


class FakeProducer:
  """librdkafka's Producer as the DoFn uses it: produce (BufferError when `full`), poll, flush
  (delivers what is queued, failing the positions in `fail`, leaving `stuck` unacknowledged)."""
  made = []

  def __init__(self, settings, full=0, fail=(), stuck=0):
    self.settings = settings
    self.full, self.fail, self.stuck = full, set(fail), stuck
    self.messages, self.queued = [], []
    self.polls, self.closed, self.purged = 0, False, False
    FakeProducer.made.append(self)

  def produce(self, topic, value=None, key=None, on_delivery=None):
    if self.full:
      self.full -= 1
      raise BufferError('Local: Queue full')
    self.messages.append((topic, key, value))
    self.queued.append((len(self.messages) - 1, topic, on_delivery))

  def poll(self, timeout=None):
    self.polls += 1
    return 0

  def flush(self, timeout=None):
    self.flush_timeout = timeout
    for i, topic, on_delivery in self.queued:
      if i in self.fail:   # delivery.report.only.error: only failures call back
        on_delivery(_Error('MSG_SIZE_TOO_LARGE'), _Message(topic, 1))
    self.queued = []
    return self.stuck

  def purge(self):
    self.purged = True

  def close(self, timeout=None):
    self.closed = True


def _fn(**fake):
  FakeProducer.made = []
  fn = kafka_io._ProduceKeyedBytesFn(  # pylint: disable=protected-access
      kafka_io.librdkafka_producer_config(_config()), TOPIC,
      producer_factory=lambda settings: FakeProducer(settings, **fake))
  fn.setup()
  return fn


def _write(fn, pairs):
  fn.start_bundle()
  for kv in pairs:
    assert list(fn.process(kv) or ()) == []
  fn.finish_bundle()


PAIRS = [(b'evt-%d' % i, b'{"n":%d}' % i) for i in range(5)]


def test_each_pair_is_one_message_with_the_same_key_and_value_bytes():
  fn = _fn()
  _write(fn, PAIRS)
  producer = FakeProducer.made[0]
  assert producer.messages == [(TOPIC, k, v) for k, v in PAIRS]
  # The flush is bounded: the delivery timeout and a margin, never "wait forever".
  assert 120 <= producer.flush_timeout <= 300
  fn.teardown()
  assert producer.closed


def test_a_full_queue_is_drained_by_poll_and_nothing_is_dropped():
  fn = _fn(full=3)
  _write(fn, PAIRS)
  producer = FakeProducer.made[0]
  assert producer.messages == [(TOPIC, k, v) for k, v in PAIRS]
  assert producer.polls >= 3


def test_a_message_kafka_refused_fails_the_bundle_naming_the_error_not_the_payload():
  fn = _fn(fail={2, 3})
  with pytest.raises(kafka_io.KafkaWriteError) as raised:
    _write(fn, PAIRS)
  text = str(raised.value)
  assert '2 of 5' in text and TOPIC in text and 'MSG_SIZE_TOO_LARGE' in text
  assert b'{"n":2}'.decode() not in text and 'evt-2' not in text


def test_messages_not_acknowledged_in_time_fail_the_bundle():
  fn = _fn(stuck=4)
  with pytest.raises(kafka_io.KafkaWriteError, match='4 .*not acknowledged'):
    _write(fn, PAIRS)


def test_a_failed_bundle_drops_its_producer_and_the_next_bundle_gets_a_new_one():
  fn = _fn(fail={0})
  with pytest.raises(kafka_io.KafkaWriteError):
    _write(fn, PAIRS[:2])
  first = FakeProducer.made[0]
  assert first.purged and first.closed   # what it still held is not sent later, unseen
  fn._producer_factory = lambda settings: FakeProducer(settings)  # pylint: disable=protected-access
  _write(fn, PAIRS[2:])
  assert len(FakeProducer.made) == 2 and FakeProducer.made[1].messages == [
      (TOPIC, k, v) for k, v in PAIRS[2:]]


def test_with_no_broker_the_bundle_fails_within_the_delivery_timeout():
  """The real librdkafka, a port nobody listens on, a 1.5 s delivery timeout: the bundle fails
  (the messages time out) instead of waiting or succeeding."""
  import time
  settings = dict(kafka_io.librdkafka_producer_config(
      kafka_io.KafkaIOConfig('127.0.0.1:9', 'g', 'missing.jar')), **{'delivery.timeout.ms': '1500'})
  fn = kafka_io._ProduceKeyedBytesFn(settings, TOPIC)  # pylint: disable=protected-access
  fn.setup()
  started = time.monotonic()
  with pytest.raises(kafka_io.KafkaWriteError, match='2 of 2'):
    _write(fn, PAIRS[:2])
  assert time.monotonic() - started < 30
  fn.teardown()


# ---- the graph: no cross-language transform and no expansion service on the bounded runners ----

def _graph_config(read_ranges):
  from pipeline.graph import GraphConfig
  return GraphConfig(kafka=_config(read_ranges=read_ranges),
                     source_by_topic={'raw.shopify.orders': 'shopify'},
                     process=fakes.process_config(embed=False), posts_topic='out.social.posts',
                     orders_topic=TOPIC, dlq_topic='dlq.pipeline')


def _labels(pipeline) -> set[str]:
  return {t.unique_name for t in pipeline.to_runner_api().components.transforms.values()}


def test_a_bounded_graph_writes_with_librdkafka_and_builds_no_expansion_service(monkeypatch):
  from pipeline.graph import SensoryPipeline

  def no_jvm(self):
    raise AssertionError('a bounded run created the Kafka expansion service')
  monkeypatch.setattr(kafka_io.KafkaIOConfig, 'expansion_service', no_jvm)
  pipeline = beam.Pipeline()
  _ = pipeline | 'SensoryPipeline' >> SensoryPipeline(_graph_config(RANGES))
  assert not ExternalTransformFinder.contains_external_transforms(pipeline)
  labels = _labels(pipeline)
  for write in ('WritePosts', 'WriteOrders', 'WriteDeadLetters'):
    assert f'SensoryPipeline/{write}/Produce' in labels, write


def test_an_unbounded_graph_keeps_beams_kafkaio(monkeypatch):
  """Flink (no planned ranges): ReadFromKafka and the three WriteToKafka, one expansion service."""
  from pipeline.graph import SensoryPipeline
  services, writes = [], []

  def service(self):
    services.append(object())
    return services[-1]

  class _StubWrite(beam.PTransform):
    def __init__(self, producer_config, topic, expansion_service):
      super().__init__()
      writes.append((producer_config, topic, expansion_service))

    def expand(self, pcoll):
      return pcoll | beam.Map(lambda kv: None)

  def stub_read(**kwargs):
    return beam.Create([])
  monkeypatch.setattr(kafka_io.KafkaIOConfig, 'expansion_service', service)
  monkeypatch.setattr(kafka_io, 'WriteToKafka', _StubWrite)
  monkeypatch.setattr(kafka_io, '_read_from_kafka', lambda *a, **k: stub_read())
  pipeline = beam.Pipeline()
  config = _graph_config(())
  _ = pipeline | 'SensoryPipeline' >> SensoryPipeline(config)
  assert len(services) == 1
  assert sorted(topic for _, topic, _ in writes) == sorted(
      [config.posts_topic, config.orders_topic, config.dlq_topic])
  assert all(c == config.kafka.producer_config() and s is services[0] for c, _, s in writes)
  assert not any('/Produce' in label for label in _labels(pipeline))
