# Kafka for Prometheus, in two parts:
#  - consumer-group lag and partition health: python -m monitoring.kafka_exporter on port 9308
#    (kafka_exporter's metric names; kafka_exporter itself is not served by the Go module proxy here);
#  - the broker's JMX (request rates, under-replicated / offline partitions, controller):
#    jmx_prometheus_javaagent (Maven, stack/java/metrics/pom.xml) inside the broker on port 9404,
#    attached by stack/services/kafka.sh when the jar is present (fetched here; a broker started
#    before it was fetched gets it at its next start).
# shellcheck shell=bash

KAFKA_EXPORTER_PORT=${MILLIONX_KAFKA_EXPORTER_PORT:-9308}

kafka_exporter_install() {
  metrics_jars_install >/dev/null
}

kafka_exporter_start() {
  start_daemon kafka-exporter "$KAFKA_EXPORTER_PORT" env PYTHONPATH="$REPO" "$PY" -m monitoring.kafka_exporter \
    --bootstrap-servers "127.0.0.1:$KAFKA_PORT" --port "$KAFKA_EXPORTER_PORT" || return 1
  wait_for "the Kafka exporter on 127.0.0.1:$KAFKA_EXPORTER_PORT" 30 kafka_exporter_health \
    || { tail -20 "$LOG_DIR/kafka-exporter.log" >&2; fail "the Kafka exporter did not start (log: $LOG_DIR/kafka-exporter.log)"; }
}

kafka_exporter_stop() { stop_daemon kafka-exporter; }

kafka_exporter_health() {
  pid_alive kafka-exporter && curl -sf --max-time 3 "http://127.0.0.1:$KAFKA_EXPORTER_PORT/metrics" \
    | grep -q '^kafka_exporter_scrape_success 1'
}
