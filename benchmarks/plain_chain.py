"""The graph's Python stages as plain calls: no runner, no coders, no bundles.

`PlainStages` builds the same composites the graph uses (ProcessRecords, then the graph's
JSON functions for posts, orders and dead letters) in a pipeline that is never run, walks it,
and calls each DoFn's `process` directly, routing tagged outputs along the graph's edges. So the
plain figures follow whatever the stages become (a fused DoFn, new outputs) without a second
copy of the chain. Weather and catalog (named in the enrich config) are loaded by the enrich
DoFn itself, as on Flink, because a side input needs a runner.

`plain_loop` is the peer a user would otherwise write (the original design's Faust-style
processor): kafka-python consumer → these stages → kafka-python producer, offsets committed
after the producer has flushed (at least once, like the graph).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Iterable

import apache_beam as beam
from apache_beam.pipeline import PipelineVisitor
from apache_beam.pvalue import AsSideInput, TaggedOutput

from pipeline import graph
from transforms.config import ContextRefresh
from transforms.process import ProcessRecords

POSTS, ORDERS, DEAD_LETTERS = 'posts', 'orders', 'dead_letters'


class _Node:
  def __init__(self, fn, args, kwargs, outputs):
    self.fn, self.args, self.kwargs, self.outputs = fn, args, kwargs, outputs


class PlainStages:
  """process(raw_record) → {'posts': [(key, json)], 'orders': [...], 'dead_letters': [...]}."""

  def __init__(self, process_config):
    process_config = dataclasses.replace(process_config, enrich=dataclasses.replace(
        process_config.enrich, context_refresh=ContextRefresh.IN_PROCESS))
    p = beam.Pipeline()
    source = p | 'Source' >> beam.Create([])
    result = source | 'ProcessRecords' >> ProcessRecords(process_config)
    sinks = {
        POSTS: result.posts | 'PostsToJson' >> beam.Map(graph._normalized_to_kv),  # pylint: disable=protected-access
        ORDERS: result.orders | 'OrdersToJson' >> beam.Map(graph._normalized_to_kv),  # pylint: disable=protected-access
        DEAD_LETTERS: result.dead_letters | 'DeadLettersToJson' >> beam.Map(graph._dead_letter_to_kv),  # pylint: disable=protected-access
    }
    self._sink_of = {id(pcoll): name for name, pcoll in sinks.items()}
    self._consumers: dict[int, list[_Node]] = {}
    self._flatten_of: dict[int, list[int]] = {}
    self._nodes: list[_Node] = []
    chain = self

    class Visitor(PipelineVisitor):
      def visit_transform(self, node):
        if node.full_label.startswith('Source/'):
          return
        inputs = list(node.main_inputs.values())
        t = node.transform
        if isinstance(t, beam.Flatten):
          out = node.outputs[None]
          for pcoll in inputs:
            chain._flatten_of.setdefault(id(pcoll), []).append(id(out))
          return
        if not isinstance(t, beam.ParDo):
          raise TypeError(f'{node.full_label}: {type(t).__name__} cannot run as a plain call')
        if [a for a in list(t.args) + list(t.kwargs.values()) if isinstance(a, AsSideInput)]:
          raise TypeError(f'{node.full_label}: side inputs need a runner')
        outputs = {tag: id(pcoll) for tag, pcoll in node.outputs.items()}
        n = _Node(t.fn, t.args, t.kwargs, outputs)
        chain._nodes.append(n)
        for pcoll in inputs:
          chain._consumers.setdefault(id(pcoll), []).append(n)

    p.visit(Visitor())
    self._source = id(source)
    for n in self._nodes:
      n.fn.setup()
      n.fn.start_bundle()

  def process(self, element) -> dict[str, list]:
    out = {POSTS: [], ORDERS: [], DEAD_LETTERS: []}
    self._push(self._source, element, out)
    return out

  def _push(self, pcoll: int, element, out) -> None:
    sink = self._sink_of.get(pcoll)
    if sink is not None:
      out[sink].append(element)
      return
    for target in self._flatten_of.get(pcoll, ()):
      self._push(target, element, out)
    for n in self._consumers.get(pcoll, ()):
      for value in n.fn.process(element, *n.args, **n.kwargs) or ():
        if isinstance(value, TaggedOutput):
          self._push(n.outputs[value.tag], value.value, out)
        else:
          self._push(n.outputs[None], value, out)

  def close(self) -> None:
    for n in self._nodes:
      n.fn.finish_bundle()
      n.fn.teardown()


def run_plain(stages: PlainStages, raws: Iterable) -> tuple[int, int, float, float]:
  """(records, outputs, wall seconds, CPU seconds) of the stages over in-memory RawRecords."""
  n = outputs = 0
  started, cpu = time.perf_counter(), time.process_time()
  for raw in raws:
    n += 1
    outputs += sum(len(v) for v in stages.process(raw).values())
  return n, outputs, time.perf_counter() - started, time.process_time() - cpu


def plain_loop(stages: PlainStages, bootstrap: str, source_by_topic: dict[str, str],
               out_topics: dict[str, str], group: str, expected: int,
               idle_timeout_s: float = 20.0) -> dict:
  """consume → stages → produce until `expected` records were read; offsets committed after the
  producer flushed. Returns records, outputs, seconds and CPU seconds (this process)."""
  from kafka import KafkaConsumer, KafkaProducer

  from schemas.envelope import RawRecord
  consumer = KafkaConsumer(*sorted(source_by_topic), bootstrap_servers=bootstrap, group_id=group,
                           enable_auto_commit=False, auto_offset_reset='earliest',
                           fetch_max_bytes=52428800, max_poll_records=2000)
  producer = KafkaProducer(bootstrap_servers=bootstrap, acks='all', linger_ms=20,
                           batch_size=1 << 20, enable_idempotence=True)
  n = outputs = 0
  started, cpu = time.perf_counter(), time.process_time()
  last_data = started
  try:
    while n < expected and time.perf_counter() - last_data < idle_timeout_s:
      batch = consumer.poll(timeout_ms=500)
      if not batch:
        continue
      last_data = time.perf_counter()
      for records in batch.values():
        for r in records:
          raw = RawRecord(source=source_by_topic.get(r.topic, 'unknown'), topic=r.topic,
                          partition=r.partition, offset=r.offset, timestamp_ms=r.timestamp,
                          key=r.key, value=r.value, headers=tuple(r.headers or ()))
          n += 1
          for name, kvs in stages.process(raw).items():
            for key, value in kvs:
              producer.send(out_topics[name], key=key, value=value)
              outputs += 1
      producer.flush()
      consumer.commit()
    seconds = time.perf_counter() - started
    return {'records': n, 'outputs': outputs, 'seconds': seconds,
            'cpu_s': time.process_time() - cpu}
  finally:
    producer.close()
    consumer.close(autocommit=False)
