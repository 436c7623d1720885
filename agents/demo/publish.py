"""Publishing a demo batch: one producer, or several forked processes for large loads."""
from __future__ import annotations

import collections
import multiprocessing
from typing import Iterable, Optional, Sequence

from agents.demo.records import DemoEvent
from connectors.kafka_publisher import (BulkPublisher, KafkaPublisher, PublisherConfig,
                                        PublishError, topic_counts)
from schemas.registry import CONTEXT_SOURCES

BULK_LINGER_MS = 200                 # producer settings for publishing a demo load
BULK_BATCH_BYTES = 2 * 1024 * 1024
# The publishing clients a demo load can go through (`--client`); agents use kafka-python only.
CLIENTS = {'librdkafka': BulkPublisher, 'kafka-python': KafkaPublisher}
DEFAULT_CLIENT = 'librdkafka'
_CONTEXT_SOURCES = tuple(s.encode() for s in CONTEXT_SOURCES)   # the `source` header's values


def publish(events: Iterable[DemoEvent], bootstrap_servers: str, *,
            config: Optional[PublisherConfig] = None, workers: int = 1,
            client: str = DEFAULT_CLIENT, progress=None) -> dict[str, int]:
  """Publishes the events; returns acknowledged counts per topic. Raises PublishError on loss.

  `client` is 'librdkafka' (BulkPublisher, the default: about 20 µs of CPU per record) or
  'kafka-python' (KafkaPublisher, as the agents: about 90 µs), with the same settings and
  guarantees. With `workers` > 1 the context records are published first, then the source
  events are split over that many forked processes, each with its own producer.
  """
  if client not in CLIENTS:
    raise ValueError(f'Unknown client {client!r}; one of {sorted(CLIENTS)}')
  # Bulk settings: a long linger fills big batches, which is what kafka-python needs to keep up
  # (measured with benchmarks/bench_generator.py); latency does not matter for a demo load.
  config = config or PublisherConfig(bootstrap_servers=bootstrap_servers,
                                     client_id='millionx-demo', linger_ms=BULK_LINGER_MS,
                                     batch_size=BULK_BATCH_BYTES)
  events = list(events)
  if workers <= 1:
    return _publish_slice(client, config, events, progress)
  n_context = 0
  while n_context < len(events) and dict(events[n_context].headers)['source'] in _CONTEXT_SOURCES:
    n_context += 1
  counts = collections.Counter(_publish_slice(client, config, events[:n_context], None))
  counts.update(_publish_forked(client, config, events[n_context:], workers))
  return topic_counts(counts)


def _publish_forked(client: str, config: PublisherConfig, events: list[DemoEvent],
                    workers: int) -> collections.Counter:
  """Each forked process publishes every workers-th event: the slices are inherited by fork,
  never pickled; only the acknowledged counts (or an error message) come back."""
  context = multiprocessing.get_context('fork')
  results = context.SimpleQueue()
  processes = [context.Process(target=_publish_share, daemon=True,
                               args=(client, config, events[i::workers], results))
               for i in range(workers)]
  for process in processes:
    process.start()
  counts: collections.Counter = collections.Counter()
  errors = []
  for _ in processes:
    ok, value = results.get()
    if ok:
      counts.update(value)
    else:
      errors.append(value)
  for process in processes:
    process.join()
  if errors:
    raise PublishError('; '.join(errors))
  return counts


def _publish_share(client: str, config: PublisherConfig, events: Sequence[DemoEvent],
                   results) -> None:
  try:
    results.put((True, _publish_slice(client, config, events, None)))
  except Exception as e:  # reported to the parent, which raises PublishError for the batch
    results.put((False, f'{type(e).__name__}: {e}'))


def _publish_slice(client: str, config: PublisherConfig, events: Sequence[DemoEvent],
                   progress) -> dict[str, int]:
  with CLIENTS[client](config) as publisher:
    publisher.publish_many(events, progress=progress)
    return topic_counts(publisher.acked)
