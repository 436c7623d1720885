# Local Snowflake-compatible server: fakesnow in server mode, which the real
# snowflake-connector-python talks to over HTTP. Sourced by stack/stack.sh.
#
# Needs: $STACK_HOME, $REPO, $PY; port_in_use and wait_for from stack/lib.sh.
# Data (one DuckDB file per database) lives in $STACK_HOME/data/snowflake and
# survives restarts; `rm -rf` that directory for a clean slate.

SNOWFLAKE_PORT="${MILLIONX_SNOWFLAKE_PORT:-8765}"
SNOWFLAKE_FAKESNOW_VERSION="0.12.1"
SNOWFLAKE_CONNECTOR_VERSION="4.8.1"

_snowflake_pidfile() { echo "$STACK_HOME/run/snowflake.pid"; }
_snowflake_datadir() { echo "$STACK_HOME/data/snowflake"; }

_snowflake_pid_alive() {
  local pidfile pid
  pidfile="$(_snowflake_pidfile)"
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

snowflake_install() {
  # fakesnow comes from PyPI into the project's venv; nothing to build. Pins:
  # fakesnow 0.12 fails to import with snowflake-connector-python 5.x.
  if "$PY" -c "import fakesnow.server, snowflake.connector, uvicorn" 2>/dev/null; then
    return 0
  fi
  echo "snowflake: installing fakesnow[server]==$SNOWFLAKE_FAKESNOW_VERSION into the venv" >&2
  mkdir -p "$STACK_HOME/logs"
  if ! "$PY" -m pip install "fakesnow[server]==$SNOWFLAKE_FAKESNOW_VERSION" \
      "snowflake-connector-python==$SNOWFLAKE_CONNECTOR_VERSION" \
      -c "$REPO/stack/constraints.txt" >>"$STACK_HOME/logs/snowflake-install.log" 2>&1; then
    echo "snowflake: pip install of fakesnow[server]==$SNOWFLAKE_FAKESNOW_VERSION failed;" \
      "see $STACK_HOME/logs/snowflake-install.log (is the package index reachable?)" >&2
    return 1
  fi
}

snowflake_health() {
  _snowflake_pid_alive || return 1
  curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$SNOWFLAKE_PORT/health"
}

snowflake_start() {
  if snowflake_health; then
    echo "snowflake: already running (pid $(cat "$(_snowflake_pidfile)"), port $SNOWFLAKE_PORT)"
    return 0
  fi
  if _snowflake_pid_alive; then
    echo "snowflake: pid $(cat "$(_snowflake_pidfile)") is alive but not healthy;" \
      "run the stop command first, then start again (log: $STACK_HOME/logs/snowflake.log)" >&2
    return 1
  fi
  if port_in_use "$SNOWFLAKE_PORT"; then
    echo "snowflake: port $SNOWFLAKE_PORT is taken by another process;" \
      "free it or set MILLIONX_SNOWFLAKE_PORT to another port" >&2
    return 1
  fi
  mkdir -p "$STACK_HOME/logs" "$STACK_HOME/run" "$(_snowflake_datadir)"
  nohup "$PY" "$REPO/stack/services/fakesnow_server.py" \
    --host 127.0.0.1 --port "$SNOWFLAKE_PORT" --db-path "$(_snowflake_datadir)" \
    >>"$STACK_HOME/logs/snowflake.log" 2>&1 </dev/null &
  echo $! >"$(_snowflake_pidfile)"
  if ! wait_for snowflake_health 60 "fakesnow on port $SNOWFLAKE_PORT"; then
    echo "snowflake: did not become healthy; last log lines:" >&2
    tail -n 20 "$STACK_HOME/logs/snowflake.log" >&2
    return 1
  fi
  echo "snowflake: fakesnow up on http://127.0.0.1:$SNOWFLAKE_PORT (data $(_snowflake_datadir))"
}

snowflake_stop() {
  local pidfile pid
  pidfile="$(_snowflake_pidfile)"
  if ! _snowflake_pid_alive; then
    rm -f "$pidfile"
    echo "snowflake: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  # SIGTERM lets uvicorn finish requests and the launcher checkpoint the DuckDB files.
  kill -TERM "$pid" 2>/dev/null
  local i
  for i in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "snowflake: pid $pid ignored SIGTERM for 10 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
  echo "snowflake: stopped"
}
