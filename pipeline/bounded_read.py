"""A bounded run reads exact offset ranges and commits them only after it succeeded.

`bound_to_backlog` plans the ranges before the graph is built; `commit_read` moves the consumer
group to their stops once the run has finished (every output flushed). A run that raised
commits nothing, and the next one reads the same records again (the sinks are idempotent).
"""
from __future__ import annotations

import dataclasses
import logging

from pipeline import preflight
from pipeline.graph import GraphConfig

_LOG = logging.getLogger('pipeline')


def bound_to_backlog(graph_config: GraphConfig) -> tuple[GraphConfig, int]:
  """Plans the bounded read: the exact offsets [start, stop) of every raw partition.

  Start: the group's committed offset (or --start_offset where it has none); stop: the
  partition's end offset now, the whole backlog capped at --max_records. The graph reads exactly
  these ranges (connectors.kafka.ReadKafkaRanges: no split shares, no waiting, nothing left
  behind). Returns the config with the ranges (and max_records = the records planned) and the
  backlog.
  """
  kafka = graph_config.kafka
  topics = sorted(graph_config.source_by_topic)
  ranges = preflight.read_plan(kafka.bootstrap_servers, kafka.group_id, topics,
                               kafka.auto_offset_reset)
  backlog = sum(r.size for r in ranges)
  if graph_config.max_records is not None and graph_config.max_records < backlog:
    ranges = preflight.read_plan(kafka.bootstrap_servers, kafka.group_id, topics,
                                 kafka.auto_offset_reset, graph_config.max_records)
  planned = sum(r.size for r in ranges)
  _LOG.info('group %s: %d records waiting in %d raw partitions; reading %d',
            kafka.group_id, backlog, len(ranges), planned)
  return dataclasses.replace(graph_config, kafka=dataclasses.replace(kafka, read_ranges=tuple(ranges)),
                             max_records=planned), backlog


def commit_read(graph_config: GraphConfig) -> None:
  """After a successful bounded run (every output flushed): the group moves to the stops."""
  from connectors.kafka_client import commit_ranges  # pylint: disable=import-outside-toplevel
  kafka = graph_config.kafka
  commit_ranges(kafka.bootstrap_servers, kafka.group_id, kafka.read_ranges)
  _LOG.info('group %s: committed the read offsets of %d raw partitions',
            kafka.group_id, len(kafka.read_ranges))
