# Local Weaviate server, built from Weaviate's published Go module and cached in
# the git-ignored $STACK_HOME/bin. Sourced by stack/stack.sh.
#
# Needs: $STACK_HOME, $REPO, $PY; port_in_use and wait_for from stack/lib.sh;
# `go` on PATH for the one-time build (about 12 minutes on 2 cores).
#
# Anonymous access is on, so REST and the cluster gossip/raft ports are bound to
# 127.0.0.1. Weaviate 1.35 has no setting for the gRPC and cluster-data listen
# address (it listens on all interfaces), so do not run this stack on a host
# reachable from untrusted networks. The Go profiling port is disabled.

WEAVIATE_VERSION="v1.35.2"
WEAVIATE_HTTP_PORT="${MILLIONX_WEAVIATE_HTTP_PORT:-8080}"
WEAVIATE_GRPC_PORT="${MILLIONX_WEAVIATE_GRPC_PORT:-50051}"
# Single-node cluster ports; Weaviate's defaults, overridable when taken.
WEAVIATE_GOSSIP_PORT="${MILLIONX_WEAVIATE_GOSSIP_PORT:-7946}"
WEAVIATE_RAFT_PORT="${MILLIONX_WEAVIATE_RAFT_PORT:-8300}"

_weaviate_bin() { echo "$STACK_HOME/bin/weaviate-server"; }
_weaviate_pidfile() { echo "$STACK_HOME/run/weaviate.pid"; }
_weaviate_datadir() { echo "$STACK_HOME/data/weaviate"; }

_weaviate_pid_alive() {
  local pidfile pid
  pidfile="$(_weaviate_pidfile)"
  [[ -f "$pidfile" ]] || return 1
  pid="$(cat "$pidfile")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null
}

_weaviate_ports() {
  # Every port the server binds: HTTP, gRPC, gossip, data (gossip+1), raft, raft RPC (raft+1).
  echo "$WEAVIATE_HTTP_PORT $WEAVIATE_GRPC_PORT $WEAVIATE_GOSSIP_PORT $((WEAVIATE_GOSSIP_PORT + 1))" \
    "$WEAVIATE_RAFT_PORT $((WEAVIATE_RAFT_PORT + 1))"
}

weaviate_install() {
  local bin stamp
  bin="$(_weaviate_bin)"
  stamp="$bin.version"
  if [[ -x "$bin" ]] && { [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" == "$WEAVIATE_VERSION" ]]; }; then
    # A binary without a stamp predates the stamp; it was built from the same pin.
    [[ -f "$stamp" ]] || echo "$WEAVIATE_VERSION" >"$stamp"
    return 0
  fi
  if ! command -v go >/dev/null 2>&1; then
    echo "weaviate: 'go' is not on PATH; install Go (1.24 or newer) to build" \
      "weaviate-server $WEAVIATE_VERSION, or copy a built binary to $bin" >&2
    return 1
  fi
  mkdir -p "$STACK_HOME/bin" "$STACK_HOME/logs"
  echo "weaviate: building weaviate-server $WEAVIATE_VERSION with go install" \
    "(one time, ~12 min; log $STACK_HOME/logs/weaviate-build.log)" >&2
  if ! GOBIN="$STACK_HOME/bin" go install \
      "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION" \
      >>"$STACK_HOME/logs/weaviate-build.log" 2>&1; then
    echo "weaviate: go install of weaviate-server@$WEAVIATE_VERSION failed (is the Go module proxy" \
      "reachable?); see $STACK_HOME/logs/weaviate-build.log" >&2
    return 1
  fi
  echo "$WEAVIATE_VERSION" >"$stamp"
}

weaviate_health() {
  _weaviate_pid_alive || return 1
  curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$WEAVIATE_HTTP_PORT/v1/.well-known/ready" || return 1
  port_in_use "$WEAVIATE_GRPC_PORT"
}

weaviate_start() {
  if weaviate_health; then
    echo "weaviate: already running (pid $(cat "$(_weaviate_pidfile)"), http $WEAVIATE_HTTP_PORT, grpc $WEAVIATE_GRPC_PORT)"
    return 0
  fi
  if _weaviate_pid_alive; then
    # Still starting (it replays its data on start), or wedged: wait rather than start a second one.
    if wait_for weaviate_health 60 "weaviate (already started, pid $(cat "$(_weaviate_pidfile)"))"; then
      return 0
    fi
    echo "weaviate: pid $(cat "$(_weaviate_pidfile)") is alive but not healthy; run the stop command first" \
      "(log: $STACK_HOME/logs/weaviate.log)" >&2
    return 1
  fi
  local port
  for port in $(_weaviate_ports); do
    if port_in_use "$port"; then
      echo "weaviate: port $port is taken by another process; free it or set" \
        "MILLIONX_WEAVIATE_HTTP_PORT / _GRPC_PORT / _GOSSIP_PORT / _RAFT_PORT" >&2
      return 1
    fi
  done
  [[ -x "$(_weaviate_bin)" ]] || weaviate_install || return 1
  mkdir -p "$STACK_HOME/logs" "$STACK_HOME/run" "$(_weaviate_datadir)"
  (
    cd "$STACK_HOME" || exit 1
    export PERSISTENCE_DATA_PATH="$(_weaviate_datadir)"
    export AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true
    export AUTHENTICATION_APIKEY_ENABLED=false
    export DEFAULT_VECTORIZER_MODULE=none
    export ENABLE_MODULES=""
    export QUERY_DEFAULTS_LIMIT=25
    export GRPC_PORT="$WEAVIATE_GRPC_PORT"
    export CLUSTER_HOSTNAME=millionx-local
    export CLUSTER_IN_LOCALHOST=true
    export CLUSTER_BIND_ADDR=127.0.0.1
    export CLUSTER_ADVERTISE_ADDR=127.0.0.1
    export CLUSTER_GOSSIP_BIND_PORT="$WEAVIATE_GOSSIP_PORT"
    export CLUSTER_DATA_BIND_PORT="$((WEAVIATE_GOSSIP_PORT + 1))"
    export RAFT_PORT="$WEAVIATE_RAFT_PORT"
    export RAFT_INTERNAL_RPC_PORT="$((WEAVIATE_RAFT_PORT + 1))"
    export RAFT_BOOTSTRAP_EXPECT=1
    export GO_PROFILING_DISABLE=true
    export DISABLE_TELEMETRY=true
    export LOG_LEVEL=warning
    exec nohup "$(_weaviate_bin)" --host 127.0.0.1 --port "$WEAVIATE_HTTP_PORT" --scheme http \
      >>"$STACK_HOME/logs/weaviate.log" 2>&1 </dev/null
  ) &
  echo $! >"$(_weaviate_pidfile)"
  if ! wait_for weaviate_health 90 "weaviate on http $WEAVIATE_HTTP_PORT / grpc $WEAVIATE_GRPC_PORT"; then
    echo "weaviate: did not become ready; last log lines:" >&2
    tail -n 20 "$STACK_HOME/logs/weaviate.log" >&2
    return 1
  fi
  echo "weaviate: up on http://127.0.0.1:$WEAVIATE_HTTP_PORT, grpc 127.0.0.1:$WEAVIATE_GRPC_PORT (data $(_weaviate_datadir))"
}

weaviate_stop() {
  local pidfile pid
  pidfile="$(_weaviate_pidfile)"
  if ! _weaviate_pid_alive; then
    rm -f "$pidfile"
    echo "weaviate: not running"
    return 0
  fi
  pid="$(cat "$pidfile")"
  # SIGTERM: Weaviate flushes its memtables and closes raft cleanly.
  kill -TERM "$pid" 2>/dev/null
  local i
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "weaviate: pid $pid ignored SIGTERM for 20 s; sending SIGKILL" >&2
    kill -KILL "$pid" 2>/dev/null
  fi
  rm -f "$pidfile"
  echo "weaviate: stopped"
}
