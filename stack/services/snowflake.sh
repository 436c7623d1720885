# The local Snowflake-compatible server: fakesnow in server mode, which the real
# snowflake-connector-python talks to over HTTP (protocol=http, host=127.0.0.1).
# stack/services/fakesnow_server.py keeps its databases on disk in
# $STACK_HOME/data/snowflake (one DuckDB file per database), so data survives a
# restart; delete that directory for a clean slate.
# shellcheck shell=bash

SNOWFLAKE_PORT=${MILLIONX_SNOWFLAKE_PORT:-8765}
SNOWFLAKE_DATA=$STACK_HOME/data/snowflake
# fakesnow 0.12 fails to import with snowflake-connector-python 5.x: keep 4.8.x.
SNOWFLAKE_FAKESNOW_VERSION=0.12.1
SNOWFLAKE_CONNECTOR_VERSION=4.8.1

snowflake_install() {
  # fakesnow comes from PyPI into the project's venv (setup.py's test extra); nothing to build.
  "$PY" -c 'import fakesnow.server, snowflake.connector, uvicorn' 2>/dev/null && return 0
  say "installing fakesnow[server]==$SNOWFLAKE_FAKESNOW_VERSION into the venv"
  "$PY" -m pip install -q "fakesnow[server]==$SNOWFLAKE_FAKESNOW_VERSION" \
    "snowflake-connector-python==$SNOWFLAKE_CONNECTOR_VERSION" -c "$REPO/stack/constraints.txt" \
    >>"$LOG_DIR/snowflake-install.log" 2>&1 \
    || { fail "pip could not install fakesnow[server]==$SNOWFLAKE_FAKESNOW_VERSION (log: $LOG_DIR/snowflake-install.log): is PyPI reachable?"; return 1; }
}

snowflake_start() {
  mkdir -p "$SNOWFLAKE_DATA"
  start_daemon snowflake "$SNOWFLAKE_PORT" "$PY" "$REPO/stack/services/fakesnow_server.py" \
    --host 127.0.0.1 --port "$SNOWFLAKE_PORT" --db-path "$SNOWFLAKE_DATA" || return 1
  wait_for "fakesnow (Snowflake) on 127.0.0.1:$SNOWFLAKE_PORT" 60 snowflake_health \
    || { tail -20 "$LOG_DIR/snowflake.log" >&2; fail "fakesnow did not become healthy (log: $LOG_DIR/snowflake.log)"; return 1; }
  snowflake_migrate
}

# The pipeline's tables and views (MILLIONX.CORE), applied idempotently.
snowflake_migrate() {
  (cd "$REPO" && MILLIONX_SNOWFLAKE_PORT=$SNOWFLAKE_PORT "$PY" -m connectors.snowflake_migrate --local) \
    >>"$LOG_DIR/snowflake.log" 2>&1 \
    || { tail -20 "$LOG_DIR/snowflake.log" >&2; fail "Snowflake migrations failed (log: $LOG_DIR/snowflake.log)"; }
}

# SIGTERM: uvicorn finishes in-flight requests, then the launcher checkpoints the DuckDB files.
snowflake_stop() { stop_daemon snowflake; }

# Healthy = our process answers /health, which runs a query on the shared DuckDB instance.
snowflake_health() {
  pid_alive snowflake && curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$SNOWFLAKE_PORT/health"
}
