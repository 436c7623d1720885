# A local Weaviate, built once from Weaviate's published Go module
# (go install github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION, ~12 min on
# 2 cores) into the git-ignored $STACK_HOME/bin, with its data in $STACK_HOME/data/weaviate.
#
# Anonymous access is on, so REST, gossip and raft are bound to 127.0.0.1. Weaviate 1.35 has
# no setting for the listen address of gRPC and of the cluster data port (they listen on all
# interfaces): do not run this stack on a host reachable from untrusted networks.
# shellcheck shell=bash

WEAVIATE_HTTP_PORT=${MILLIONX_WEAVIATE_HTTP_PORT:-8080}
WEAVIATE_GRPC_PORT=${MILLIONX_WEAVIATE_GRPC_PORT:-50051}
# Single-node cluster ports (Weaviate's defaults); data = gossip + 1, raft RPC = raft + 1.
WEAVIATE_GOSSIP_PORT=${MILLIONX_WEAVIATE_GOSSIP_PORT:-7946}
WEAVIATE_RAFT_PORT=${MILLIONX_WEAVIATE_RAFT_PORT:-8300}
WEAVIATE_BIN=$STACK_HOME/bin/weaviate-server
WEAVIATE_DATA=$STACK_HOME/data/weaviate

weaviate_install() {
  go_install_pinned weaviate-server "github.com/weaviate/weaviate/cmd/weaviate-server@$WEAVIATE_VERSION" \
    "$WEAVIATE_BIN" 12
}

weaviate_start() {
  if ! pid_alive weaviate; then
    # start_daemon checks one port; Weaviate binds six, and a clash on any one kills it late.
    local port
    for port in "$WEAVIATE_GRPC_PORT" "$WEAVIATE_GOSSIP_PORT" $((WEAVIATE_GOSSIP_PORT + 1)) \
        "$WEAVIATE_RAFT_PORT" $((WEAVIATE_RAFT_PORT + 1)); do
      if port_in_use "$port"; then
        fail "weaviate cannot start: port $port is already taken by another program (set MILLIONX_WEAVIATE_GRPC_PORT / _GOSSIP_PORT / _RAFT_PORT to move it)"
        return 1
      fi
    done
  fi
  mkdir -p "$WEAVIATE_DATA"
  start_daemon weaviate "$WEAVIATE_HTTP_PORT" env \
    PERSISTENCE_DATA_PATH="$WEAVIATE_DATA" \
    AUTHENTICATION_ANONYMOUS_ACCESS_ENABLED=true \
    AUTHENTICATION_APIKEY_ENABLED=false \
    DEFAULT_VECTORIZER_MODULE=none \
    ENABLE_MODULES= \
    QUERY_DEFAULTS_LIMIT=25 \
    GRPC_PORT="$WEAVIATE_GRPC_PORT" \
    CLUSTER_HOSTNAME=millionx-local \
    CLUSTER_IN_LOCALHOST=true \
    CLUSTER_BIND_ADDR=127.0.0.1 \
    CLUSTER_ADVERTISE_ADDR=127.0.0.1 \
    CLUSTER_GOSSIP_BIND_PORT="$WEAVIATE_GOSSIP_PORT" \
    CLUSTER_DATA_BIND_PORT=$((WEAVIATE_GOSSIP_PORT + 1)) \
    RAFT_PORT="$WEAVIATE_RAFT_PORT" \
    RAFT_INTERNAL_RPC_PORT=$((WEAVIATE_RAFT_PORT + 1)) \
    RAFT_BOOTSTRAP_EXPECT=1 \
    GO_PROFILING_DISABLE=true \
    DISABLE_TELEMETRY=true \
    LOG_LEVEL=warning \
    "$WEAVIATE_BIN" --host 127.0.0.1 --port "$WEAVIATE_HTTP_PORT" --scheme http || return 1
  wait_for "Weaviate on 127.0.0.1:$WEAVIATE_HTTP_PORT (gRPC $WEAVIATE_GRPC_PORT)" 90 weaviate_health \
    || { tail -20 "$LOG_DIR/weaviate.log" >&2; fail "Weaviate did not become ready (log: $LOG_DIR/weaviate.log)"; return 1; }
  weaviate_schema
}

# The pipeline's collections (SocialPost, MarketOrder), created if missing.
weaviate_schema() {
  (cd "$REPO" && "$PY" -m connectors.weaviate --http-port "$WEAVIATE_HTTP_PORT" --grpc-port "$WEAVIATE_GRPC_PORT") \
    >>"$LOG_DIR/weaviate.log" 2>&1 \
    || { tail -20 "$LOG_DIR/weaviate.log" >&2; fail "creating the Weaviate collections failed (log: $LOG_DIR/weaviate.log)"; }
}

# SIGTERM: Weaviate flushes its memtables and leaves raft cleanly.
weaviate_stop() { stop_daemon weaviate; }

# Healthy = REST says ready (schema and raft loaded) and the gRPC port is open (batch imports use it).
weaviate_health() {
  pid_alive weaviate \
    && curl -sf -o /dev/null --max-time 3 "http://127.0.0.1:$WEAVIATE_HTTP_PORT/v1/.well-known/ready" \
    && port_in_use "$WEAVIATE_GRPC_PORT"
}
