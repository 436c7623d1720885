#!/usr/bin/env bash
# MillionX Sensory Pipeline on the local stack — no Docker, everything as plain processes.
#
#   ./run_local.sh               set up everything, start the stack, create the topics, publish a
#                                demo batch, run the pipeline on the DirectRunner, print a summary
#   ./run_local.sh test          set up everything, start the stack, run the test suite, stop the stack
#   ./run_local.sh start|stop|status   the local stack (Kafka, Flink + worker pool, fakesnow, Weaviate)
#   ./run_local.sh flink-local   run the pipeline streaming on Flink [local] (Ctrl-C stops it)
#   ./run_local.sh flink-submit  submit the pipeline to the local Flink cluster (detached)
#
# Environment: DEMO_EVENTS (default 2000), DEMO_SEED (default 7), PIPELINE_ARGS (extra flags for
# python -m pipeline), KEEP_STACK=1 (test: leave the stack running afterwards).
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$REPO"
STACK=$REPO/stack/stack.sh
STACK_HOME=${STACK_HOME:-$REPO/.local}
PY=$STACK_HOME/venv/bin/python
SECRETS=$STACK_HOME/secrets
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }

# Local development keys, made once (random), kept in the git-ignored .local/secrets.
# The pipeline only ever sees their references (file:PATH).
ensure_secrets() {
  mkdir -p "$SECRETS"; chmod 700 "$SECRETS"
  for name in dlq pseudonym snowflake-password; do
    [ -s "$SECRETS/$name.key" ] || (umask 077; "$PY" -c 'import secrets; print(secrets.token_hex(32))' >"$SECRETS/$name.key")
  done
  # The pipeline's keys must be >= 32 random bytes (hex or base64, connectors/secrets.py). An
  # older or hand-made key that is not is reported, never replaced: a new pseudonym key would
  # give every customer new pseudonyms, a new DLQ key would leave old dead letters sealed.
  for name in dlq pseudonym; do
    "$PY" -c 'import sys; from connectors.secrets import SecretRef, SecretError
try: SecretRef.parse("file:" + sys.argv[1]).resolve_key()
except SecretError as e: sys.exit(f"{e}\n(move the file away to get a new random key)")' "$SECRETS/$name.key"
  done
}

pipeline_args() {
  echo "--dlq_key_ref=file:$SECRETS/dlq.key --pseudonym_key_ref=file:$SECRETS/pseudonym.key"
}

# The local sinks: the fakesnow server (any password) and Weaviate, as the stack starts them.
sink_args() {
  echo "--snowflake --snowflake_host=127.0.0.1 --snowflake_port=${MILLIONX_SNOWFLAKE_PORT:-8765}" \
       "--snowflake_protocol=http --snowflake_emulator" \
       "--snowflake_password_ref=file:$SECRETS/snowflake-password.key" \
       "--weaviate --weaviate_http_port=${MILLIONX_WEAVIATE_HTTP_PORT:-8080}" \
       "--weaviate_grpc_port=${MILLIONX_WEAVIATE_GRPC_PORT:-50051}"
}

# Where the metrics are: the stack's Prometheus (monitoring/prometheus.yml) and a few queries.
monitoring_hint() {
  local prom="http://127.0.0.1:${MILLIONX_PROMETHEUS_PORT:-9090}"
  step "metrics: Prometheus API at $prom/api/v1/ (firing alerts: $prom/api/v1/alerts; dashboards: monitoring/dashboards/, README \"Monitoring\")"
  cat <<HINT
  last bounded run (pushed):  sum by (source) (millionx_records_read_total{runner="direct"})
  Flink throughput:           sum by (source) (rate(millionx_records_read_total{runner="flink"}[1m]))
  dead letters by stage:      sum by (stage) (millionx_dead_letters_total)
  consumer lag:               sum by (consumergroup, topic) (kafka_consumergroup_lag_sum)
  end-to-end latency p95:     histogram_quantile(0.95, sum by (le) (rate(millionx_e2e_latency_seconds_bucket[5m])))
  e.g. curl -s '$prom/api/v1/query' --data-urlencode 'query=sum by (stage) (millionx_dead_letters_total)'
HINT
}

demo() {
  step "1/7 setting up (first run downloads Python packages, Beam/Kafka jars, Flink, builds Weaviate)"
  "$STACK" setup
  ensure_secrets
  step "2/7 starting the local stack"
  "$STACK" start
  step "3/7 creating the Kafka topics, the Snowflake tables and views, the Weaviate collections"
  "$STACK" topics
  MILLIONX_SNOWFLAKE_PASSWORD=local "$PY" -m connectors.snowflake_migrate --local
  "$PY" -m connectors.weaviate --local
  step "4/7 publishing ${DEMO_EVENTS:-2000} demo events (synthetic, seed ${DEMO_SEED:-7})"
  "$PY" -m agents.demo --events "${DEMO_EVENTS:-2000}" --seed "${DEMO_SEED:-7}" --now now \
    --pii-out "$STACK_HOME/demo-planted-pii.json"
  step "5/7 snapshotting weather and products for the side inputs"
  "$PY" -m pipeline.context_files --out-dir "$STACK_HOME/context"
  step "6/7 running the pipeline on the DirectRunner (bounded read of the raw topics)"
  # shellcheck disable=SC2046
  "$PY" -m pipeline $(pipeline_args) $(sink_args) \
    --weather_snapshot="$STACK_HOME/context/weather_snapshot.json" \
    --product_catalog="$STACK_HOME/context/product_catalog.json" \
    --summary_json="$STACK_HOME/last-run-summary.json" \
    --pushgateway="127.0.0.1:${MILLIONX_PUSHGATEWAY_PORT:-9091}" ${PIPELINE_ARGS:-}
  step "7/7 checking that Snowflake and Weaviate hold the same events"
  "$PY" -m pipeline.reconcile --local
  monitoring_hint
}

run_tests() {
  "$STACK" setup
  ensure_secrets
  if [ "${KEEP_STACK:-0}" != 1 ]; then trap '"$STACK" stop' EXIT; fi
  "$STACK" start
  "$STACK" topics
  local cache=$STACK_HOME/pytest-cache
  rm -rf "$cache"
  if "$PY" -m pytest -q -o cache_dir="$cache" "${@:-tests}"; then return 0; fi
  # Failed tests run once more (JVMs and server restarts on shared cores); failing twice fails
  # the run. Both outcomes stay in the log, and a test that needed the rerun is a bug to chase.
  echo "==> running the failed tests once more" >&2
  "$PY" -m pytest -q -o cache_dir="$cache" --last-failed --last-failed-no-failures none
}

cmd=${1:-demo}; shift || true
case $cmd in
  demo) demo ;;
  test) run_tests "$@" ;;
  start|stop|status) "$STACK" "$cmd" "$@" ;;
  flink-local)
    ensure_secrets
    # shellcheck disable=SC2046
    "$PY" -m pipeline --runner=FlinkRunner --flink_master='[local]' $(pipeline_args) ${PIPELINE_ARGS:-} "$@" ;;
  flink-submit)
    ensure_secrets
    # shellcheck disable=SC2046
    "$PY" -m pipeline --runner=FlinkRunner --flink_master=localhost:8081 --detached $(pipeline_args) ${PIPELINE_ARGS:-} "$@"
    monitoring_hint ;;
  -h|--help|help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' ;;
  *) echo "unknown command '$cmd' (see ./run_local.sh --help)" >&2; exit 2 ;;
esac
