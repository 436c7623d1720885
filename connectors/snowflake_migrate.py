"""Applies connectors/sql/migrations to a Snowflake database, idempotently.

  python -m connectors.snowflake_migrate --local            # the local fakesnow server
  python -m connectors.snowflake_migrate --account ACME --user LOADER \\
      --password-ref env:SNOWFLAKE_PASSWORD --database MILLIONX --schema CORE

Files: `V<n>__<name>.sql` are applied once, in version order, and must not change after
(a changed checksum is an error); `R__<name>.sql` are re-applied whenever they change (views).
A file whose first line is `-- requires: snowflake` is skipped on the emulator. What was
applied is recorded in SCHEMA_MIGRATIONS. Statements are split at a `;` that ends a line.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import pathlib
import re
import sys
from typing import NamedTuple, Optional, Sequence

from connectors.snowflake import SnowflakeConfig, connect

MIGRATIONS_DIR = pathlib.Path(__file__).parent / 'sql' / 'migrations'
_NAME = re.compile(r'^(?:V(?P<version>\d+)|R)__(?P<description>\w+)\.sql$')
_REQUIRES_SNOWFLAKE = '-- requires: snowflake'

HISTORY_TABLE = 'SCHEMA_MIGRATIONS'
_CREATE_HISTORY = (
    f'CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} ('
    'SCRIPT VARCHAR NOT NULL, CHECKSUM VARCHAR(64) NOT NULL, APPLIED_AT TIMESTAMP_TZ NOT NULL)')


class Migration(NamedTuple):
  script: str
  version: Optional[int]        # None: repeatable
  checksum: str
  statements: tuple[str, ...]
  requires_snowflake: bool


class MigrationError(RuntimeError):
  """A versioned migration changed after it was applied, or a file is misnamed."""


def load_migrations(directory: pathlib.Path = MIGRATIONS_DIR) -> list[Migration]:
  migrations = []
  for path in sorted(directory.glob('*.sql')):
    match = _NAME.match(path.name)
    if not match:
      raise MigrationError(f'{path.name}: name must be V<n>__<name>.sql or R__<name>.sql')
    text = path.read_text(encoding='utf-8')
    version = match.group('version')
    migrations.append(Migration(
        script=path.name, version=int(version) if version else None,
        checksum=hashlib.sha256(text.encode('utf-8')).hexdigest(),
        statements=tuple(split_statements(text)),
        requires_snowflake=text.startswith(_REQUIRES_SNOWFLAKE)))
  # Versioned first, by number; repeatable ones after, by name (they build on the tables).
  return sorted(migrations, key=lambda m: (m.version is None, m.version or 0, m.script))


def split_statements(text: str) -> list[str]:
  statements, current = [], []
  for line in text.splitlines():
    if line.strip().startswith('--') and not current:
      continue
    current.append(line)
    if line.rstrip().endswith(';'):
      statement = '\n'.join(current).strip().rstrip(';').strip()
      if statement:
        statements.append(statement)
      current = []
  rest = '\n'.join(current).strip()
  if rest and not all(l.strip().startswith('--') or not l.strip() for l in current):
    statements.append(rest)
  return statements


def migrate(config: SnowflakeConfig, migrations: Optional[list[Migration]] = None,
            log=print) -> list[str]:
  """Creates the database and schema if missing, then applies what is new. Returns what ran."""
  migrations = load_migrations() if migrations is None else migrations
  applied_now = []
  conn = connect(config)
  try:
    cursor = conn.cursor()
    # Identifiers come from configuration, never from data; they are validated as names.
    for name in (config.database, config.schema):
      if not re.fullmatch(r'[A-Za-z_][A-Za-z0-9_$]*', name):
        raise MigrationError(f'{name!r} is not a plain Snowflake identifier')
    cursor.execute(f'CREATE DATABASE IF NOT EXISTS {config.database}')
    cursor.execute(f'CREATE SCHEMA IF NOT EXISTS {config.database}.{config.schema}')
    cursor.execute(f'USE SCHEMA {config.database}.{config.schema}')
    cursor.execute(_CREATE_HISTORY)
    cursor.execute(f'SELECT SCRIPT, CHECKSUM FROM {HISTORY_TABLE} ORDER BY APPLIED_AT')
    history: dict[str, str] = {}
    for script, checksum in cursor.fetchall():
      history[script] = checksum   # Latest wins (repeatable scripts are recorded each time).
    for migration in migrations:
      previous = history.get(migration.script)
      if previous == migration.checksum:
        continue
      if previous is not None and migration.version is not None:
        raise MigrationError(
            f'{migration.script} changed after it was applied; add a new V<n> file instead')
      if migration.requires_snowflake and config.emulator:
        log(f'skip  {migration.script} (real Snowflake only)')
        continue
      for statement in migration.statements:
        cursor.execute(statement)
      cursor.execute(
          f'INSERT INTO {HISTORY_TABLE} (SCRIPT, CHECKSUM, APPLIED_AT) '
          'VALUES (?, ?, CURRENT_TIMESTAMP())', (migration.script, migration.checksum))
      applied_now.append(migration.script)
      log(f'apply {migration.script} ({len(migration.statements)} statements)')
    if not applied_now:
      log(f'{config.database}.{config.schema} is up to date')
    cursor.close()
  finally:
    conn.close()
  return applied_now


def local_config(**overrides) -> SnowflakeConfig:
  """The local stack's fakesnow server (stack/services/snowflake.sh), from MILLIONX_* env vars."""
  os.environ.setdefault('MILLIONX_SNOWFLAKE_PASSWORD', 'local')
  values = dict(
      account='local', user='millionx', password_ref='env:MILLIONX_SNOWFLAKE_PASSWORD',
      database=os.environ.get('MILLIONX_SNOWFLAKE_DATABASE', 'MILLIONX'),
      schema=os.environ.get('MILLIONX_SNOWFLAKE_SCHEMA', 'CORE'),
      host='127.0.0.1', port=int(os.environ.get('MILLIONX_SNOWFLAKE_PORT', '8765')),
      protocol='http', emulator=True)
  values.update(overrides)
  return SnowflakeConfig(**values)


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--local', action='store_true',
                      help='Use the local fakesnow server (MILLIONX_SNOWFLAKE_PORT, default 8765).')
  parser.add_argument('--account', help='Snowflake account identifier.')
  parser.add_argument('--user', help='Snowflake user.')
  parser.add_argument('--database', help='Database (created if missing).')
  parser.add_argument('--schema', help='Schema (created if missing).')
  parser.add_argument('--warehouse', help='Warehouse for the DDL.')
  parser.add_argument('--role', help='Role for the DDL.')
  parser.add_argument('--password-ref', help='Secret reference to the password (env:NAME or file:PATH).')
  parser.add_argument('--private-key-ref', help='Secret reference to a PEM private key (key-pair auth).')
  parser.add_argument('--private-key-passphrase-ref', help='Secret reference to the key passphrase.')
  parser.add_argument('--host', help='Override host (e.g. 127.0.0.1 for a local emulator).')
  parser.add_argument('--port', type=int, help='Override port.')
  parser.add_argument('--protocol', choices=('https', 'http'), help='http for a local emulator.')
  parser.add_argument('--emulator', action='store_true',
                      help='The target is fakesnow: skip files marked "requires: snowflake".')
  args = parser.parse_args(argv)
  explicit = {k: v for k, v in {
      'account': args.account, 'user': args.user, 'database': args.database,
      'schema': args.schema, 'warehouse': args.warehouse, 'role': args.role,
      'password_ref': args.password_ref, 'private_key_ref': args.private_key_ref,
      'private_key_passphrase_ref': args.private_key_passphrase_ref, 'host': args.host,
      'port': args.port, 'protocol': args.protocol}.items() if v is not None}
  if args.emulator:
    explicit['emulator'] = True
  try:
    config = local_config(**explicit) if args.local else SnowflakeConfig(**explicit)
  except (TypeError, ValueError) as e:
    parser.error(f'{e} (use --local for the local stack)')
  migrate(config)
  return 0


if __name__ == '__main__':
  sys.exit(main())
