#!/usr/bin/env bash
# The local stack as plain processes (no Docker): Kafka (KRaft), the Flink session cluster
# with a Beam Python worker pool, the Snowflake-compatible fakesnow server, Weaviate, the
# Beam Java artifacts, Beam's Prism runner binary, and monitoring (Prometheus, a Pushgateway,
# a Kafka exporter, node_exporter). Everything is fetched into the git-ignored .local/ and reused.
#
#   stack/stack.sh setup  [SERVICE...]   fetch/build what is missing (idempotent)
#   stack/stack.sh start  [SERVICE...]   setup, then start and health-check (idempotent)
#   stack/stack.sh stop   [SERVICE...]   stop (all by default)
#   stack/stack.sh status [SERVICE...]   health of each service
#   stack/stack.sh topics                create the Kafka topics of pipeline/topics.yaml
#   stack/stack.sh logs SERVICE          follow a service's log
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=stack/lib.sh
source "$here/lib.sh"
# shellcheck source=stack/versions.sh
source "$here/versions.sh"

ALL_SERVICES=(python embed_model beam_jars prism kafka flink worker_pool snowflake weaviate kafka_exporter pushgateway node_exporter prometheus)
for svc in "${ALL_SERVICES[@]}"; do
  # shellcheck disable=SC1090
  [ -f "$here/services/$svc.sh" ] && source "$here/services/$svc.sh"
done

known() { declare -F "${1}_install" >/dev/null; }

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; echo "services: ${ALL_SERVICES[*]}"; }

cmd=${1:-}; shift || true
services=("$@")
[ ${#services[@]} -gt 0 ] || services=("${ALL_SERVICES[@]}")
for svc in "${services[@]}"; do
  case $cmd in logs|topics|''|-h|--help) ;; *) known "$svc" || { fail "unknown service '$svc' (services: ${ALL_SERVICES[*]})"; exit 2; } ;; esac
done

case $cmd in
  setup)
    for svc in "${services[@]}"; do "${svc}_install"; done ;;
  start)
    for svc in "${services[@]}"; do "${svc}_install"; done
    for svc in "${services[@]}"; do "${svc}_start"; done
    say "stack up: ${services[*]}" ;;
  stop)
    for (( i=${#services[@]}-1; i>=0; i-- )); do "${services[$i]}_stop"; done ;;
  status)
    rc=0
    for svc in "${services[@]}"; do
      if "${svc}_health" >/dev/null 2>&1; then printf '  %-15s \033[32mhealthy\033[0m\n' "$svc"
      else printf '  %-15s \033[31mdown\033[0m\n' "$svc"; rc=1; fi
    done
    exit $rc ;;
  topics)
    "$PY" -m pipeline.topics create ;;
  logs)
    [ -n "${1:-}" ] || { fail "usage: stack.sh logs SERVICE (logs are in $LOG_DIR)"; exit 2; }
    exec tail -F "$LOG_DIR/$1.log" ;;
  ''|-h|--help) usage ;;
  *) usage; exit 2 ;;
esac
