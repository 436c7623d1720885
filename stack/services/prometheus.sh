# Prometheus 3.x and promtool, built once from Prometheus' Go module (go install
# github.com/prometheus/prometheus/cmd/{prometheus,promtool}@$PROMETHEUS_VERSION, ~5 min on 2 cores)
# into the git-ignored $STACK_HOME/bin, with its data in $STACK_HOME/data/prometheus. Built with the
# `remove_all_sd` tag (only static and file service discovery: the cloud SDKs are not compiled) and
# without the web UI's assets (the module ships none): the API, /graph-less UI, rules and alerts work.
# Config: monitoring/prometheus.yml (rules: monitoring/rules.yml, monitoring/alerts.yml).
# shellcheck shell=bash

PROMETHEUS_PORT=${MILLIONX_PROMETHEUS_PORT:-9090}
PROMETHEUS_BIN=$STACK_HOME/bin/prometheus
PROMTOOL_BIN=$STACK_HOME/bin/promtool
PROMETHEUS_DATA=$STACK_HOME/data/prometheus
PROMETHEUS_CONFIG=$REPO/monitoring/prometheus.yml
# Agents (and other short-lived processes) announce their scrape targets here (file_sd).
PROMETHEUS_TARGETS=$RUN_DIR/prometheus-targets

prometheus_install() {
  local stamp=$PROMETHEUS_BIN.version want="$PROMETHEUS_VERSION remove_all_sd"
  local log=$LOG_DIR/prometheus-build.log minor release
  mkdir -p "$PROMETHEUS_TARGETS"
  if [ -x "$PROMETHEUS_BIN" ] && [ -x "$PROMTOOL_BIN" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 \
    || { fail "'go' is not on PATH: install Go 1.26+ to build Prometheus $PROMETHEUS_VERSION"; return 1; }
  # Module v0.3MM.P is Prometheus 3.MM.P; the binary reports it (go install sets no version).
  minor=${PROMETHEUS_VERSION#v0.}; minor=${minor%%.*}
  release=3.$((10#$minor - 300)).${PROMETHEUS_VERSION##*.}
  say "building Prometheus $release and promtool with go install (first time only, ~5 min; log: $log)"
  mkdir -p "$(dirname "$PROMETHEUS_BIN")"
  GOBIN=$(dirname "$PROMETHEUS_BIN") go install -tags remove_all_sd \
    -ldflags "-X github.com/prometheus/common/version.Version=$release" \
    "github.com/prometheus/prometheus/cmd/prometheus@$PROMETHEUS_VERSION" \
    "github.com/prometheus/prometheus/cmd/promtool@$PROMETHEUS_VERSION" >>"$log" 2>&1 \
    || { tail -20 "$log" >&2; fail "go install of Prometheus $PROMETHEUS_VERSION failed (log: $log): is the Go module proxy reachable?"; return 1; }
  echo "$want" >"$stamp"
}

prometheus_start() {
  if pid_alive prometheus; then
    # Already running: pick up edits of monitoring/*.yml.
    curl -sf -X POST "http://127.0.0.1:$PROMETHEUS_PORT/-/reload" >/dev/null \
      && say "prometheus already running (pid $(cat "$RUN_DIR/prometheus.pid")): configuration reloaded"
    return 0
  fi
  "$PROMTOOL_BIN" check config --syntax-only "$PROMETHEUS_CONFIG" >/dev/null \
    || { "$PROMTOOL_BIN" check config --syntax-only "$PROMETHEUS_CONFIG" >&2; fail "monitoring/prometheus.yml is not valid"; return 1; }
  mkdir -p "$PROMETHEUS_DATA" "$PROMETHEUS_TARGETS"
  start_daemon prometheus "$PROMETHEUS_PORT" "$PROMETHEUS_BIN" \
    --config.file="$PROMETHEUS_CONFIG" \
    --storage.tsdb.path="$PROMETHEUS_DATA" \
    --storage.tsdb.retention.time=7d \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    --web.enable-lifecycle \
    --log.level=warn || return 1
  wait_for "Prometheus on 127.0.0.1:$PROMETHEUS_PORT" 60 prometheus_health \
    || { tail -20 "$LOG_DIR/prometheus.log" >&2; fail "Prometheus did not become ready (log: $LOG_DIR/prometheus.log)"; return 1; }
}

prometheus_stop() { stop_daemon prometheus; }

prometheus_health() {
  pid_alive prometheus && curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$PROMETHEUS_PORT/-/ready"
}
