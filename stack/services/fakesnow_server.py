"""Runs the fakesnow Snowflake-compatible server with its databases kept on disk.

`fakesnow -s` ignores `-d` in server mode: every session shares one in-memory
instance unless the *client* sends a FAKESNOW_DB_PATH session parameter, so a
restart would lose every table. The sinks must not need a fake-only parameter
(production talks to real Snowflake through the same code), so this launcher
swaps the server's shared instance for one backed by a data directory (one
DuckDB file per database) and adds a `/health` route that runs a query.

Usage: python stack/services/fakesnow_server.py --host 127.0.0.1 --port 8765 --db-path DIR
"""
from __future__ import annotations

import argparse
import os
import sys

import fakesnow.server as fakesnow_server
import uvicorn
from fakesnow import info_schema
from fakesnow.instance import FakeSnow
from starlette.requests import Request
from starlette.responses import JSONResponse


_insert_table_comment_sql = info_schema.insert_table_comment_sql


def _insert_table_comment_sql_unless_none(catalog: str, schema: str, table: str, comment: str | None) -> str:
  """Records a table comment only when there is one.

  fakesnow 0.12.1 records a NULL comment in its global catalog for every CREATE
  TABLE with a property, TEMPORARY included; its MERGE creates a temporary table,
  so a MERGE inside a transaction that already wrote a table fails (DuckDB lets
  one transaction write one attached database). Real Snowflake has no such limit,
  and skipping a NULL comment changes no answer of the emulator.
  """
  if comment is None:
    return 'SELECT 1'
  return _insert_table_comment_sql(catalog, schema, table, comment)


def _health(request: Request) -> JSONResponse:
  del request  # The answer does not depend on it.
  cursor = fakesnow_server.shared_fs.duck_conn.cursor()
  try:
    ok = cursor.execute('SELECT 1').fetchone() == (1,)
  finally:
    cursor.close()
  return JSONResponse({'ok': ok}, status_code=200 if ok else 503)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--host', default='127.0.0.1', help='Address to bind (loopback by default).')
  parser.add_argument('--port', type=int, required=True, help='HTTP port the connector talks to.')
  parser.add_argument('--db-path', required=True,
                      help='Directory holding one DuckDB file per Snowflake database.')
  parser.add_argument('--log-level', default='warning', help='uvicorn log level.')
  args = parser.parse_args(argv)

  os.makedirs(args.db_path, exist_ok=True)
  info_schema.insert_table_comment_sql = _insert_table_comment_sql_unless_none
  instance = FakeSnow(db_path=args.db_path)
  fakesnow_server.shared_fs = instance  # Read at each login, so every session shares it.
  fakesnow_server.app.add_route('/health', _health, methods=['GET'])

  server = uvicorn.Server(uvicorn.Config(
      fakesnow_server.app, host=args.host, port=args.port, log_level=args.log_level))
  try:
    server.run()  # Handles SIGINT and SIGTERM: finishes in-flight requests, then returns.
  finally:
    # Closing checkpoints each attached database file, so a restart replays no WAL.
    instance.duck_conn.close()
  return 0 if server.started else 1


if __name__ == '__main__':
  sys.exit(main())
