# A Pushgateway for the DirectRunner's final metrics (python -m monitoring.pushgateway, port 9091):
# the Prometheus Pushgateway is not served by the Go module proxy here, so the project starts its
# own implementation of the push API. Pushed groups persist in $STACK_HOME/data/pushgateway.json.
# shellcheck shell=bash

PUSHGATEWAY_PORT=${MILLIONX_PUSHGATEWAY_PORT:-9091}

pushgateway_install() { :; }

pushgateway_start() {
  mkdir -p "$STACK_HOME/data"
  start_daemon pushgateway "$PUSHGATEWAY_PORT" env PYTHONPATH="$REPO" "$PY" -m monitoring.pushgateway \
    --port "$PUSHGATEWAY_PORT" --persistence-file "$STACK_HOME/data/pushgateway.json" || return 1
  wait_for "the Pushgateway on 127.0.0.1:$PUSHGATEWAY_PORT" 30 pushgateway_health \
    || { tail -20 "$LOG_DIR/pushgateway.log" >&2; fail "the Pushgateway did not start (log: $LOG_DIR/pushgateway.log)"; }
}

pushgateway_stop() { stop_daemon pushgateway; }

pushgateway_health() {
  pid_alive pushgateway && curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$PUSHGATEWAY_PORT/-/ready"
}
