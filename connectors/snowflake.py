"""WriteToSnowflake: idempotent, windowed batch writes of normalized records and dead letters.

Records arrive at least once (Kafka replays after a restart), so every batch is staged in a
session temporary table and MERGEd on the table's key in one transaction: a replayed batch
matches every row with the same RECORD_HASH and changes nothing; a batch cut short by a
crash is rolled back and written whole on retry. Production uses real Snowflake; the local
stack uses fakesnow over HTTP through the same code path (`host`/`port`/`protocol`).

  records ─ ToTableRows ─ WindowIntoBatches ─ MergeBatches ─▶ written
                 └──────── unmappable ─────────────┴────────────▶ failures

Batching, flushing (by count, by age, at bundle end), retries, the failure output and the
rewindowing are connectors/batching_sink.py's; this module says how rows are staged and
MERGEd, which errors are transient, and how a bad row is isolated (by halving its batch).
"""
from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any, Iterator, Optional

from connectors.batching_sink import (BatchingConfig, BatchingWrite, BatchWriteFn, ToItemsFn,
                                      close_quietly)
from connectors.secrets import SecretRef
from connectors.sink_results import Clock, error_text, scrub_values, utc_now, without_embedding
from connectors.snowflake_tables import TABLES, TableRow, TableSpec, rows_for

_LOG = logging.getLogger(__name__)

SINK = 'snowflake'
STAGE = 'sink_snowflake'


@dataclasses.dataclass(frozen=True, kw_only=True)
class SnowflakeConfig(BatchingConfig):
  """Where and how to write. Secrets are references (env:NAME / file:PATH), resolved in setup().

  Auth: `password_ref`, or `private_key_ref` (PEM file) with an optional
  `private_key_passphrase_ref`. Local fakesnow: host='127.0.0.1', port=8765, protocol='http',
  emulator=True (any password). Batching fields: BatchingConfig (rows per MERGE: batch_size).
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
  batch_size: int = 500                    # rows per MERGE, at most
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
    super().__post_init__()

  def qualified(self, table: str) -> str:
    return f'{self.database}.{self.schema}.{table}'

  def display_data(self) -> dict[str, Any]:
    """What the runner's UI may show: no secrets, only where they come from."""
    return {'account': self.account, 'database': self.database, 'schema': self.schema,
            'host': self.host or '', 'auth': 'key_pair' if self.private_key_ref else 'password',
            'query_tag': self.query_tag, **self.batching_display_data()}


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
  raise error   # Not the connector's: the batch's last-resort catch makes it dead letters.


# ---- the write DoFn -------------------------------------------------------------------------

class _MergeBatchesFn(BatchWriteFn):
  """Writes batches of one table's rows: stage, MERGE, COMMIT in one transaction; a bad row is
  isolated by halving the batch until it stands alone."""
  SINK = SINK
  STAGE = STAGE
  UNIT = 'rows'

  def __init__(self, config: SnowflakeConfig, clock: Clock = utc_now, **kwargs):
    super().__init__(config, clock, **kwargs)
    self._conn = None
    self._staged: set[str] = set()

  def open(self) -> None:
    self._conn = connect(self._config)
    self._staged = set()

  def close(self) -> None:
    conn, self._conn = self._conn, None
    self._staged = set()
    close_quietly(conn)

  def is_transient(self, error: BaseException) -> bool:
    if isinstance(error, _Transient):
      return True
    try:
      return isinstance(_classify(error), _Transient)
    except Exception:  # _classify re-raises what it does not know: not transient.
      return False

  def write_batch(self, table: str, rows: list[TableRow]) -> dict:
    return dict(self._write_isolating(TABLES[table], rows))

  def _write_isolating(self, spec: TableSpec, rows: list[TableRow]) -> list:
    """Writes rows; on a bad-rows error halves the batch until the bad rows stand alone.
    Returns (key, (error_class, message)) of the rows refused for good."""
    try:
      self.retrying(spec.name, lambda pending: self._merge(spec, pending), rows)
      return []
    except _BadBatch as e:
      return [(row.key, ('SnowflakeBatchError', str(e))) for row in rows]
    except _BadRows as e:
      if len(rows) == 1:
        return [(rows[0].key, ('SnowflakeDataError', str(e)))]
    middle = len(rows) // 2
    return self._write_isolating(spec, rows[:middle]) + self._write_isolating(spec, rows[middle:])

  def _merge(self, spec: TableSpec, rows: list[TableRow]) -> None:
    """One transaction; a connector error is rolled back and raised as what the sink does
    about it (_Transient, _BadRows, _BadBatch; anything else as itself)."""
    try:
      if self._conn is None:
        self.open()
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
    except Exception as e:  # Classified below; what _classify does not know is raised as is.
      self._rollback()
      raise _classify(e) from e

  def _rollback(self) -> None:
    if self._conn is None:
      return
    try:
      self._conn.rollback()
    except Exception:  # The session may be gone; reconnecting discards the transaction anyway.
      self.close()


def _table_rows(record) -> Iterator[TableRow]:
  """A record → its table rows (its own, plus its weather observation), carrying the record
  without its vector for a failure."""
  for row in rows_for(record):
    yield row._replace(record=without_embedding(row.record))


class WriteToSnowflake(BatchingWrite):
  """SocialPost | MarketOrder | DeadLetter → SinkResult(written: Written, failures: WriteFailure).

  Writes each record to its table (posts, orders, dead letters) and each record's weather
  observation to WEATHER_OBSERVATIONS. Tables must exist: `python -m connectors.snowflake_migrate`.
  """
  TO_ITEMS_LABEL = 'ToTableRows'
  ITEMS_TAG = 'rows'
  WRITE_LABEL = 'MergeBatches'

  def __init__(self, config: SnowflakeConfig, clock: Clock = utc_now):
    super().__init__(config, clock)

  def to_items_fn(self) -> ToItemsFn:
    return ToItemsFn(SINK, STAGE, 'rows', _table_rows, self._clock)

  def write_fn(self) -> BatchWriteFn:
    return _MergeBatchesFn(self._config, self._clock)
