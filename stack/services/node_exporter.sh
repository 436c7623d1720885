# The host's disk, memory and load for Prometheus (the "disk filling" alert): node_exporter,
# built once with go install github.com/prometheus/node_exporter@$NODE_EXPORTER_VERSION into the
# git-ignored $STACK_HOME/bin, on 127.0.0.1:9100 with only the collectors the alerts and
# dashboards read (filesystem, meminfo, loadavg, cpu).
# shellcheck shell=bash

NODE_EXPORTER_PORT=${MILLIONX_NODE_EXPORTER_PORT:-9100}
NODE_EXPORTER_BIN=$STACK_HOME/bin/node_exporter

node_exporter_install() {
  go_install_pinned node_exporter "github.com/prometheus/node_exporter@$NODE_EXPORTER_VERSION" \
    "$NODE_EXPORTER_BIN" 3
}

node_exporter_start() {
  start_daemon node-exporter "$NODE_EXPORTER_PORT" "$NODE_EXPORTER_BIN" \
    --web.listen-address="127.0.0.1:$NODE_EXPORTER_PORT" \
    --collector.disable-defaults --collector.filesystem --collector.meminfo \
    --collector.loadavg --collector.cpu || return 1
  wait_for "node_exporter on 127.0.0.1:$NODE_EXPORTER_PORT" 30 node_exporter_health \
    || { tail -20 "$LOG_DIR/node-exporter.log" >&2; fail "node_exporter did not start (log: $LOG_DIR/node-exporter.log)"; }
}

node_exporter_stop() { stop_daemon node-exporter; }

node_exporter_health() {
  pid_alive node-exporter && curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$NODE_EXPORTER_PORT/metrics"
}
