# Beam's Python SDK worker pool beside the TaskManager: jobs submitted to the Flink cluster
# run their Python steps here (--environment_type=EXTERNAL --environment_config=localhost:PORT).
# It spawns `python` from PATH for each worker, so PATH starts with the project's venv.
# It listens on loopback only (worker_pool_server.py: Beam's own main binds every interface,
# and whoever reaches the pool can run code on this machine).
# shellcheck shell=bash

WORKER_POOL_PORT=${MILLIONX_WORKER_POOL_PORT:-50000}

worker_pool_install() { :; }
worker_pool_start() {
  PATH="$STACK_HOME/venv/bin:$PATH" start_daemon worker-pool "$WORKER_POOL_PORT" \
    "$PY" "$REPO/stack/services/worker_pool_server.py" --service_port="$WORKER_POOL_PORT" \
    --bind_host=localhost || return 1
  wait_for "the Beam Python worker pool on 127.0.0.1:$WORKER_POOL_PORT" 60 worker_pool_health \
    || fail "the worker pool did not start (log: $LOG_DIR/worker-pool.log)"
}
worker_pool_stop()   { stop_daemon worker-pool; }
worker_pool_health() { port_in_use "$WORKER_POOL_PORT"; }
