"""The sinks of the graph: Snowflake rows and Weaviate vectors, their failures as dead letters."""
from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.metrics import Metrics

from connectors.sink_results import WriteFailure
from connectors.snowflake import SnowflakeConfig, WriteToSnowflake
from connectors.weaviate import WeaviateConfig, WriteToWeaviate
from transforms.config import DeadLetterConfig
from transforms.dead_letter import DeadLetterFactory
from transforms.metrics import NAMESPACE

# The run summary's name for the sinks' dead letters per source (pipeline/summary.py).
SINK_DEAD_LETTERS_BY_SOURCE = 'num_sink_dead_letters_by_source'


class _FailuresToDeadLettersFn(beam.DoFn):
  """WriteFailure → DeadLetter, payload sealed with the DLQ key (connectors/ cannot do that).
  Counted per source, so the run summary tells them from the stages' dead letters."""
  def __init__(self, config: DeadLetterConfig):
    self._config = config
    self._factory = None
    self._by_source = {}

  def setup(self):
    self._factory = DeadLetterFactory(self._config)

  def process(self, failure: WriteFailure):
    dead_letter = self._factory.from_record(failure.stage, failure.record, failure.as_exception())
    source = dead_letter.source or 'unknown'
    counter = self._by_source.get(source)
    if counter is None:
      counter = self._by_source[source] = Metrics.counter(
          NAMESPACE, f'{SINK_DEAD_LETTERS_BY_SOURCE}_{source}')
    counter.inc()
    yield dead_letter


class _CountWrittenFn(beam.DoFn):
  def __init__(self):
    self._counters = {}

  def process(self, written):
    for name in (f'num_written_{written.sink}_{written.target}'.lower(),
                 f'num_written_by_source_{written.sink}_{written.source}'.lower()):
      counter = self._counters.get(name)
      if counter is None:
        counter = self._counters[name] = Metrics.counter(NAMESPACE, name)
      counter.inc()


class _WriteSinks(beam.PTransform):
  """(posts, orders) → list of dead-letter PCollections from the configured sinks."""
  def __init__(self, sinks: 'Sinks'):
    super().__init__()
    self._sinks = sinks

  def expand(self, records):
    sinks = self._sinks
    failures = []
    if sinks.snowflake is not None:
      result = records | 'WriteToSnowflake' >> WriteToSnowflake(sinks.snowflake)
      _ = result.written | 'CountSnowflakeWritten' >> beam.ParDo(_CountWrittenFn())
      failures.append(result.failures)
    if sinks.weaviate is not None:
      result = records | 'WriteToWeaviate' >> WriteToWeaviate(sinks.weaviate)
      _ = result.written | 'CountWeaviateWritten' >> beam.ParDo(_CountWrittenFn())
      failures.append(result.failures)
    return failures


class Sinks:
  """Which sinks the graph writes to; built from the options before the graph."""
  def __init__(self, dead_letter: DeadLetterConfig, snowflake: Optional[SnowflakeConfig] = None,
               weaviate: Optional[WeaviateConfig] = None):
    self.dead_letter = dead_letter
    self.snowflake = snowflake
    self.weaviate = weaviate

  def write(self, posts, orders) -> list:
    if self.snowflake is None and self.weaviate is None:
      return []
    records = (posts, orders) | 'FlattenForSinks' >> beam.Flatten()
    failures = records | 'WriteSinks' >> _WriteSinks(self)
    if not failures:
      return []
    return [tuple(failures) | 'FlattenSinkFailures' >> beam.Flatten()
            | 'SinkFailuresToDeadLetters' >> beam.ParDo(_FailuresToDeadLettersFn(self.dead_letter))]

  def write_dead_letters(self, dead_letters) -> None:
    """Pipeline dead letters (metadata + encrypted payload) also go to Snowflake's table."""
    if self.snowflake is not None:
      _ = dead_letters | 'WriteDeadLettersToSnowflake' >> WriteToSnowflake(self.snowflake)


def sinks_from_options(options, dead_letter: DeadLetterConfig) -> Sinks:
  from pipeline.options import SinkOptions
  s = options.view_as(SinkOptions)
  flush_s = s.sink_flush_seconds or None   # 0: no time trigger
  snowflake = weaviate = None
  if s.snowflake:
    snowflake = SnowflakeConfig(
        account=s.snowflake_account, user=s.snowflake_user, database=s.snowflake_database,
        schema=s.snowflake_schema, password_ref=s.snowflake_password_ref,
        private_key_ref=s.snowflake_private_key_ref,
        private_key_passphrase_ref=s.snowflake_private_key_passphrase_ref,
        warehouse=s.snowflake_warehouse, role=s.snowflake_role, host=s.snowflake_host,
        port=s.snowflake_port, protocol=s.snowflake_protocol, emulator=s.snowflake_emulator,
        window_s=s.sink_window_seconds, batch_size=s.snowflake_batch_size,
        max_buffering_s=flush_s)
  if s.weaviate:
    weaviate = WeaviateConfig(
        http_host=s.weaviate_http_host, http_port=s.weaviate_http_port,
        http_secure=s.weaviate_secure, grpc_host=s.weaviate_grpc_host,
        grpc_port=s.weaviate_grpc_port, grpc_secure=s.weaviate_secure,
        api_key_ref=s.weaviate_api_key_ref, window_s=s.sink_window_seconds,
        batch_size=s.weaviate_batch_size, max_buffering_s=flush_s,
        posts_collection=s.weaviate_posts_collection,
        orders_collection=s.weaviate_orders_collection)
  return Sinks(dead_letter, snowflake, weaviate)
