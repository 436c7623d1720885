"""The one graph: Kafka → validate → privacy → enrich → embed → outputs, every dead letter to the DLQ.

    ReadRawRecords (planned offset ranges: librdkafka in Python; Flink: Beam ReadFromKafka)
      → CountRead
      → ProcessRecords: ValidateRecords → PrivacyShield → EnrichRecords(weather, products)
                        → EmbedRecords (RunInference)
      → posts  → PostsToJson  → WritePosts(out.social.posts)    (+ sinks, when configured)
      → orders → OrdersToJson → WriteOrders(out.market.orders)  (+ sinks, when configured)
      → dead letters of every stage → DeadLettersToJson → WriteDeadLetters(dlq.pipeline)

The three writes are WriteKeyedBytesToKafka: on the bounded runners (DirectRunner, Prism, which
read planned ranges) a librdkafka producer in a Python DoFn, fused with the stages, that fails
its bundle unless Kafka acknowledged every message, so such a run starts no JVM and builds no
expansion service; on Flink Beam's WriteToKafka, with ReadFromKafka sharing one expansion service.

Nothing read may vanish: every record read is counted (num_records_read), and ends as a post,
an order, or a dead letter, each counted too; `pipeline.summary` reconciles the three.
"""
from __future__ import annotations

import dataclasses
import time
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from connectors.kafka import KafkaIOConfig, ReadRawRecords, WriteKeyedBytesToKafka
from schemas.normalized import to_json
from transforms.config import ProcessConfig
from transforms.dead_letter import dead_letter_to_json
from pipeline import progress
from transforms.metrics import NAMESPACE, LatencyHistogram
from transforms.process import ProcessRecords

# Counter names the run summary reads (see pipeline/summary.py).
NUM_READ = 'num_records_read'
NUM_POSTS_OUT = 'num_posts_out'
NUM_ORDERS_OUT = 'num_orders_out'
NUM_DEAD_LETTERS_OUT = 'num_dead_letters_out'
NUM_DEAD_LETTERS_BY_SOURCE = 'num_dead_letters_by_source'
# Kafka record timestamp → the record leaving the graph for its outputs (a LatencyHistogram).
E2E_LATENCY = 'e2e_latency'


@dataclasses.dataclass(frozen=True)
class GraphConfig:
  """Everything the graph needs, built and validated from the options before the graph is."""
  kafka: KafkaIOConfig
  source_by_topic: dict
  process: ProcessConfig
  posts_topic: str
  orders_topic: str
  dlq_topic: str
  max_records: Optional[int] = None        # bounded read (DirectRunner); None: unbounded
  max_read_seconds: Optional[int] = None
  # Where weather and catalog come from, and how they refresh: process.enrich (EnrichConfig).

  def __post_init__(self):
    if not self.source_by_topic:
      raise ValueError('no raw topics to read')
    if len({self.posts_topic, self.orders_topic, self.dlq_topic}) != 3:
      raise ValueError('posts, orders and DLQ topics must differ')


class GraphOutputs(NamedTuple):
  posts: beam.PCollection
  orders: beam.PCollection
  dead_letters: beam.PCollection


class _CountFn(beam.DoFn):
  """Passes elements through, counting them, and per value of `per` (an attribute) if given.

  `latency`: also observe each record's age since its Kafka timestamp (a LatencyHistogram).
  `progress`: also add to this process's progress tally (pipeline/progress.py)."""
  def __init__(self, counter_name: str, per: Optional[str] = None, latency: Optional[str] = None,
               progress_tally: bool = False):
    self._counter_name = counter_name
    self._per = per
    self._latency_name = latency
    self._progress_tally = progress_tally
    self._total = None
    self._by_source = {}
    self._latency = None

  def setup(self):
    self._total = Metrics.counter(NAMESPACE, self._counter_name)
    if self._latency_name:
      self._latency = LatencyHistogram(self._latency_name)

  def process(self, element):
    self._total.inc()
    if self._per:
      value = getattr(element, self._per, None) or 'unknown'
      counter = self._by_source.get(value)
      if counter is None:
        counter = self._by_source[value] = Metrics.counter(
            NAMESPACE, f'{self._counter_name}_{value}')
      counter.inc()
    if self._progress_tally:
      progress.RECORDS_READ.add()
    if self._latency is not None:
      lineage = getattr(element, 'lineage', None)
      if lineage is not None and lineage.kafka_timestamp_ms > 0:
        self._latency.observe(max(0.0, time.time() - lineage.kafka_timestamp_ms / 1000.0))
    yield element

  def finish_bundle(self):
    if self._latency is not None:
      self._latency.flush()


def _normalized_to_kv(record) -> tuple[bytes, bytes]:
  """(event_id, JSON) of a SocialPost / MarketOrder: keyed so compaction and consumers dedupe."""
  return record.event_id.encode('utf-8'), to_json(record)


def _dead_letter_to_kv(dead_letter) -> tuple[bytes, bytes]:
  return dead_letter.dead_letter_id.encode('utf-8'), dead_letter_to_json(dead_letter)


class SensoryPipeline(beam.PTransform):
  """PBegin → GraphOutputs: the whole graph, from the raw topics to the output and DLQ topics."""
  def __init__(self, config: GraphConfig, model_handler=None, sinks=None):
    super().__init__()
    self._config = config
    self._model_handler = model_handler
    self._sinks = sinks

  def expand(self, pbegin) -> GraphOutputs:
    config = self._config
    # One expansion service object for every Kafka transform of the pipeline; none (no JVM)
    # where Kafka is read and written in Python (the bounded runs).
    kafka_service = config.kafka.expansion_service() if config.kafka.uses_java else None
    raw = (
        pbegin
        | 'ReadRawRecords' >> ReadRawRecords(
            config.kafka, config.source_by_topic, kafka_service,
            max_num_records=config.max_records, max_read_seconds=config.max_read_seconds)
        | 'CountRead' >> beam.ParDo(_CountFn(NUM_READ, per='source', progress_tally=True)))

    result = raw | 'ProcessRecords' >> ProcessRecords(
        config.process, model_handler=self._model_handler)

    posts = result.posts | 'CountPostsOut' >> beam.ParDo(
        _CountFn(NUM_POSTS_OUT, per='source', latency=E2E_LATENCY))
    orders = result.orders | 'CountOrdersOut' >> beam.ParDo(
        _CountFn(NUM_ORDERS_OUT, per='source', latency=E2E_LATENCY))
    dead_letters = result.dead_letters
    sink_dead_letters = []
    if self._sinks is not None:
      sink_dead_letters = self._sinks.write(posts, orders)
    if sink_dead_letters:
      dead_letters = (
          (dead_letters, *sink_dead_letters) | 'FlattenSinkDeadLetters' >> beam.Flatten())
    dead_letters = (
        dead_letters
        | 'CountDeadLettersOut' >> beam.ParDo(_CountFn(NUM_DEAD_LETTERS_OUT, per='stage'))
        | 'CountDeadLettersBySource' >> beam.ParDo(_CountFn(NUM_DEAD_LETTERS_BY_SOURCE, per='source')))
    if self._sinks is not None:
      self._sinks.write_dead_letters(dead_letters)

    _ = (posts
         | 'PostsToJson' >> beam.Map(_normalized_to_kv)
         | 'WritePosts' >> WriteKeyedBytesToKafka(config.kafka, config.posts_topic, kafka_service))
    _ = (orders
         | 'OrdersToJson' >> beam.Map(_normalized_to_kv)
         | 'WriteOrders' >> WriteKeyedBytesToKafka(config.kafka, config.orders_topic, kafka_service))
    _ = (dead_letters
         | 'DeadLettersToJson' >> beam.Map(_dead_letter_to_kv)
         | 'WriteDeadLetters' >> WriteKeyedBytesToKafka(
             config.kafka, config.dlq_topic, kafka_service))
    return GraphOutputs(posts, orders, dead_letters)
