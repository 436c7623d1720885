"""WriteToSnowflake: idempotent, windowed batch writes of normalized records and dead letters.

Records arrive at least once (Kafka replays after a restart), so every batch is staged in a
session temporary table and MERGEd on the table's key in one transaction: a replayed batch
matches every row with the same RECORD_HASH and changes nothing; a batch cut short by a
crash is rolled back and written whole on retry. Production uses real Snowflake; the local
stack uses fakesnow over HTTP through the same code path (`host`/`port`/`protocol`).

  records ─ ToTableRows ─ WindowIntoBatches ─ MergeBatches ─▶ written
                 └──────── unmappable ─────────────┴────────────▶ failures

Batches are cut in the write DoFn, per table and window: flushed at `batch_size` rows, when
the oldest buffered row is older than `max_buffering_s` (checked as rows arrive) and at the
end of every bundle. Not GroupIntoBatches: its processing-time timer sends the DirectRunner
to a runner that refuses our cross-language Kafka read, and Beam 2.73's portable runner
loses the window-end timers of all but one stateful stage of a pipeline (seen here with two
sinks), which would silently drop a sink's last batch.
"""
from __future__ import annotations

import dataclasses
import logging
import re
import time
from typing import Any, Iterable, Optional

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import FixedWindows
from apache_beam.utils.windowed_value import WindowedValue

from connectors.secrets import SecretRef
from connectors.sink_results import (FAILED_TAG, METRICS_NAMESPACE, WRITTEN_TAG, Buffer, Clock,
                                     SinkResult, WriteFailure, Written, backoff_delays,
                                     error_text, scrub_values, sink_result, utc_now,
                                     without_embedding)
from connectors.snowflake_tables import TABLES, TableRow, TableSpec, rows_for

_LOG = logging.getLogger(__name__)

SINK = 'snowflake'
STAGE = 'sink_snowflake'


@dataclasses.dataclass(frozen=True)
class SnowflakeConfig:
  """Where and how to write. Secrets are references (env:NAME / file:PATH), resolved in setup().

  Auth: `password_ref`, or `private_key_ref` (PEM file) with an optional
  `private_key_passphrase_ref`. Local fakesnow: host='127.0.0.1', port=8765, protocol='http',
  emulator=True (any password).
  """
  account: str
  user: str
  database: str
  schema: str
  password_ref: Optional[str] = None
  private_key_ref: Optional[str] = None
  private_key_passphrase_ref: Optional[str] = None
  warehouse: Optional[str] = None
  role: Optional[str] = None
  host: Optional[str] = None               # None: <account>.snowflakecomputing.com
  port: Optional[int] = None
  protocol: str = 'https'
  emulator: bool = False                   # fakesnow: migrations skip real-Snowflake-only files
  query_tag: str = 'millionx-sensory-pipeline'
  window_s: float = 60.0                   # fixed windows the batches are cut in
  batch_size: int = 500                    # rows per MERGE, at most
  # A partial batch is flushed when its oldest item is older than this (checked as items
  # arrive); None: at the end of the bundle only (every bundle's end flushes all batches).
  max_buffering_s: Optional[float] = 10.0
  max_retries: int = 8                     # transient errors, per batch
  retry_base_s: float = 0.5
  retry_cap_s: float = 20.0
  network_timeout_s: int = 60              # the connector's own retries of one request stop here
  login_timeout_s: int = 30

  def __post_init__(self):
    for name in ('account', 'user', 'database', 'schema', 'query_tag'):
      if not getattr(self, name):
        raise ValueError(f'SnowflakeConfig.{name} is required')
    if bool(self.password_ref) == bool(self.private_key_ref):
      raise ValueError('SnowflakeConfig: set exactly one of password_ref and private_key_ref')
    if self.private_key_passphrase_ref and not self.private_key_ref:
      raise ValueError('SnowflakeConfig.private_key_passphrase_ref needs private_key_ref')
    for ref in (self.password_ref, self.private_key_ref, self.private_key_passphrase_ref):
      if ref:
        SecretRef.parse(ref)   # Raises on a malformed reference, at graph construction.
    if self.protocol not in ('https', 'http'):
      raise ValueError("SnowflakeConfig.protocol must be 'https' or 'http'")
    if self.batch_size < 1 or self.window_s <= 0 or (
        self.max_buffering_s is not None and self.max_buffering_s <= 0):
      raise ValueError('SnowflakeConfig: batch_size, window_s and max_buffering_s must be positive')
    if self.max_retries < 0 or self.retry_base_s <= 0 or self.retry_cap_s < self.retry_base_s:
      raise ValueError('SnowflakeConfig: retries must be >= 0 and 0 < retry_base_s <= retry_cap_s')

  def qualified(self, table: str) -> str:
    return f'{self.database}.{self.schema}.{table}'

  def display_data(self) -> dict[str, Any]:
    """What the runner's UI may show: no secrets, only where they come from."""
    return {'account': self.account, 'database': self.database, 'schema': self.schema,
            'host': self.host or '', 'auth': 'key_pair' if self.private_key_ref else 'password',
            'query_tag': self.query_tag, 'window_s': self.window_s,
            'batch_size': self.batch_size, 'max_buffering_s': self.max_buffering_s}


def connect(config: SnowflakeConfig, autocommit: bool = True):
  """A connector session with the query tag set. Resolves the secrets: call on the worker."""
  import snowflake.connector  # local: heavy import, workers only

  params: dict[str, Any] = {
      'account': config.account, 'user': config.user, 'database': config.database,
      'schema': config.schema, 'autocommit': autocommit,
      'session_parameters': {'QUERY_TAG': config.query_tag},
      'network_timeout': config.network_timeout_s, 'login_timeout': config.login_timeout_s,
      'socket_timeout': config.network_timeout_s, 'protocol': config.protocol,
      'client_session_keep_alive': False,
      # Server-side binding: values travel as bind parameters, never inside SQL text (the
      # default pyformat style has the connector escape values into the statement).
      'paramstyle': 'qmark',
  }
  for name in ('warehouse', 'role', 'host', 'port'):
    if getattr(config, name):
      params[name] = getattr(config, name)
  if config.password_ref:
    params['password'] = SecretRef.parse(config.password_ref).resolve()
  else:
    params['private_key'] = _private_key_der(config)
  return snowflake.connector.connect(**params)


def _private_key_der(config: SnowflakeConfig) -> bytes:
  from cryptography.hazmat.primitives import serialization

  pem = SecretRef.parse(config.private_key_ref).resolve_bytes()
  passphrase = None
  if config.private_key_passphrase_ref:
    passphrase = SecretRef.parse(config.private_key_passphrase_ref).resolve_bytes()
  key = serialization.load_pem_private_key(pem, password=passphrase)
  return key.private_bytes(encoding=serialization.Encoding.DER,
                           format=serialization.PrivateFormat.PKCS8,
                           encryption_algorithm=serialization.NoEncryption())


# ---- error classification -------------------------------------------------------------------

class _Transient(Exception):
  """Retry the batch on a fresh session."""


class _BadRows(Exception):
  """Some row of the batch is bad (SQL data or integrity error): isolate it by halving."""


class _BadBatch(Exception):
  """The whole batch cannot be written (missing table, permission, syntax): all to the DLQ."""


# Session gone (expired, or the server restarted and forgot it): reconnect and retry.
_SESSION_ERRNOS = frozenset((390111, 390112, 390103, 390104, 390114))


_CODE_PREFIX = re.compile(r'^\s*\d{6} \([0-9A-Z]{5}\): ')


def _describe(error: BaseException) -> str:
  """'SQLSTATE 22007, code 100035: message' (the connector's own '100035 (22007):' prefix
  reads as a phone number to the dead-letter redaction, which would blank it)."""
  msg = getattr(error, 'msg', None)
  if msg is None:
    return error_text(error)
  msg = _CODE_PREFIX.sub('', str(msg))   # The emulator repeats the prefix inside the message.
  return error_text(Exception(
      f"SQLSTATE {getattr(error, 'sqlstate', None) or '-'}, code {getattr(error, 'errno', '-')}: {msg}"))


def _classify(error: BaseException) -> Exception:
  """Maps a connector error to what the sink does about it."""
  from snowflake.connector import errors as sf

  if isinstance(error, (sf.ProgrammingError, sf.IntegrityError, sf.DataError)):
    sqlstate = getattr(error, 'sqlstate', None) or ''
    if getattr(error, 'errno', None) in _SESSION_ERRNOS:
      return _Transient(_describe(error))
    if sqlstate.startswith(('22', '23')):
      return _BadRows(scrub_values(_describe(error)))
    return _BadBatch(_describe(error))
  if isinstance(error, sf.Error) or isinstance(error, (OSError, TimeoutError)):
    # OperationalError, InterfaceError, HTTP 5xx/429, timeouts, refused connections.
    return _Transient(_describe(error))
  raise error   # A bug of ours: let the runner retry the bundle and surface it.


# ---- the write DoFn -------------------------------------------------------------------------

class _MergeBatchesFn(beam.DoFn):
  """Writes (table, rows) batches: stage, MERGE, COMMIT; retries; isolates bad rows.

  Rows are buffered per table and window, flushed when a buffer is full or old, and in
  finish_bundle(), so a bundle is never committed with rows still buffered.
  """

  def __init__(self, config: SnowflakeConfig, clock: Clock = utc_now, sleep=time.sleep):
    self._config = config
    self._clock = clock
    self._sleep = sleep
    self._conn = None
    self._staged: set[str] = set()
    self._buffers: dict[tuple[str, Any], Buffer] = {}

  def display_data(self):
    return self._config.display_data()

  def setup(self):
    self._rows_written = Metrics.counter(METRICS_NAMESPACE, 'num_snowflake_rows_written')
    self._rows_failed = Metrics.counter(METRICS_NAMESPACE, 'num_snowflake_rows_failed')
    self._retries = Metrics.counter(METRICS_NAMESPACE, 'num_snowflake_retries')
    self._batches = Metrics.counter(METRICS_NAMESPACE, 'num_snowflake_batches')
    self._latency = Metrics.distribution(METRICS_NAMESPACE, 'snowflake_batch_latency_ms')
    try:
      self._open()
    except Exception as e:  # Unreachable now: the first write reconnects, with retries.
      if not isinstance(_classify(e), _Transient):
        raise
      _LOG.warning('Snowflake unreachable at setup (%s); will connect on first write',
                   type(e).__name__)

  def teardown(self):
    self._close()

  def start_bundle(self):
    self._buffers = {}

  def process(self, row: TableRow, window=beam.DoFn.WindowParam):
    key = (row.table, window)
    buffer = self._buffers.get(key)
    if buffer is None:
      buffer = self._buffers[key] = Buffer(time.monotonic(), [])
    buffer.items.append(row)
    if (len(buffer.items) >= self._config.batch_size or
        self._config.max_buffering_s is not None and
        time.monotonic() - buffer.started > self._config.max_buffering_s):
      del self._buffers[key]
      yield from self._write(row.table, buffer.items)

  def finish_bundle(self):
    buffers, self._buffers = self._buffers, {}
    for (table, window), buffer in buffers.items():
      for output in self._write(table, buffer.items):
        if isinstance(output, beam.pvalue.TaggedOutput):
          yield beam.pvalue.TaggedOutput(
              output.tag, WindowedValue(output.value, window.max_timestamp(), [window]))
        else:
          yield WindowedValue(output, window.max_timestamp(), [window])

  # -- writing --

  def _write(self, table: str, rows: list[TableRow]) -> Iterable[Any]:
    spec = TABLES[table]
    # MERGE needs unique keys; the last copy wins. A key is reported once, however many copies.
    unique = list({row.key: row for row in rows}.values())
    written, failed = self._write_isolating(spec, unique)
    for row in written:
      yield Written(SINK, table, row.key, row.source)
    now = self._clock()
    for row, reason in failed:
      yield beam.pvalue.TaggedOutput(FAILED_TAG, WriteFailure(
          STAGE, table, without_embedding(row.record), reason[0], reason[1], now))

  def _write_isolating(self, spec: TableSpec, rows: list[TableRow]):
    """Writes rows; on a bad-rows error halves the batch until the bad rows stand alone."""
    try:
      self._write_with_retries(spec, rows)
      self._rows_written.inc(len(rows))
      return rows, []
    except _BadBatch as e:
      self._rows_failed.inc(len(rows))
      return [], [(row, ('SnowflakeBatchError', str(e))) for row in rows]
    except _BadRows as e:
      if len(rows) == 1:
        self._rows_failed.inc()
        return [], [(rows[0], ('SnowflakeDataError', str(e)))]
    middle = len(rows) // 2
    ok_left, bad_left = self._write_isolating(spec, rows[:middle])
    ok_right, bad_right = self._write_isolating(spec, rows[middle:])
    return ok_left + ok_right, bad_left + bad_right

  def _write_with_retries(self, spec: TableSpec, rows: list[TableRow]) -> None:
    config = self._config
    delays = backoff_delays(config.max_retries, config.retry_base_s, config.retry_cap_s)
    while True:
      start = time.monotonic()
      try:
        self._merge(spec, rows)
        self._batches.inc()
        self._latency.update(int((time.monotonic() - start) * 1000))
        return
      except Exception as e:  # Classified below: transient retried, data/batch raised typed.
        outcome = _classify(e)
        self._rollback()
        if not isinstance(outcome, _Transient):
          raise outcome from e
        delay = next(delays, None)
        if delay is None:
          raise RuntimeError(
              f'Snowflake write to {spec.name} failed after {config.max_retries} retries: '
              f'{outcome}') from e
        self._retries.inc()
        _LOG.warning('Snowflake write to %s failed (%s); retry in %.1f s',
                     spec.name, type(e).__name__, delay)
        self._close()
        self._sleep(delay)

  def _merge(self, spec: TableSpec, rows: list[TableRow]) -> None:
    if self._conn is None:
      self._open()
    cursor = self._conn.cursor()
    try:
      if spec.name not in self._staged:
        # DDL commits implicitly in Snowflake, so the stage is made before BEGIN, once a session.
        cursor.execute(spec.create_stage_sql())
        self._staged.add(spec.name)
      cursor.execute('BEGIN')
      cursor.execute(spec.clear_stage_sql())
      cursor.execute(spec.insert_stage_sql(), (spec.stage_batch_parameter(rows),))
      cursor.execute(spec.merge_sql(self._config.qualified(spec.name)))
      cursor.execute('COMMIT')
    finally:
      cursor.close()

  def _rollback(self) -> None:
    if self._conn is None:
      return
    try:
      self._conn.rollback()
    except Exception:  # The session may be gone; reconnecting discards the transaction anyway.
      self._close()

  def _open(self) -> None:
    self._conn = connect(self._config)
    self._staged = set()

  def _close(self) -> None:
    conn, self._conn = self._conn, None
    self._staged = set()
    if conn is not None:
      try:
        conn.close()
      except Exception:  # Closing a dead session fails; it is gone either way.
        pass


class _ToTableRowsFn(beam.DoFn):
  """A record → its table rows (its own, plus its weather observation); unmappable → failures."""

  def __init__(self, clock: Clock = utc_now):
    self._clock = clock

  def setup(self):
    self._unmappable = Metrics.counter(METRICS_NAMESPACE, 'num_snowflake_rows_unmappable')

  def process(self, record):
    try:
      rows = list(rows_for(record))
    except (TypeError, ValueError) as e:
      self._unmappable.inc()
      yield beam.pvalue.TaggedOutput(FAILED_TAG, WriteFailure(
          STAGE, type(record).__name__, without_embedding(record), type(e).__name__,
          error_text(e), self._clock()))
      return
    for row in rows:
      yield row._replace(record=without_embedding(row.record))



class WriteToSnowflake(beam.PTransform):
  """SocialPost | MarketOrder | DeadLetter → SinkResult(written: Written, failures: WriteFailure).

  Writes each record to its table (posts, orders, dead letters) and each record's weather
  observation to WEATHER_OBSERVATIONS. Tables must exist: `python -m connectors.snowflake_migrate`.
  """

  def __init__(self, config: SnowflakeConfig, clock: Clock = utc_now):
    super().__init__()
    self._config = config
    self._clock = clock

  def display_data(self):
    return self._config.display_data()

  def expand(self, records) -> SinkResult:
    config = self._config
    rows = records | 'ToTableRows' >> beam.ParDo(
        _ToTableRowsFn(self._clock)).with_outputs(FAILED_TAG, main='rows')
    merged = (
        rows.rows
        | 'WindowIntoBatches' >> beam.WindowInto(FixedWindows(config.window_s))
        | 'MergeBatches' >> beam.ParDo(
            _MergeBatchesFn(config, self._clock)).with_outputs(FAILED_TAG, main=WRITTEN_TAG))
    return sink_result(records, rows[FAILED_TAG], merged)
