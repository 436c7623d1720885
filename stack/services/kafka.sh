# Apache Kafka in KRaft mode (one broker that is also the controller), from Maven jars.
# shellcheck shell=bash

KAFKA_HOME=$STACK_HOME/kafka
KAFKA_PORT=${MILLIONX_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${MILLIONX_KAFKA_CONTROLLER_PORT:-9093}
# The broker's JMX for Prometheus (jmx_prometheus_javaagent, fetched by stack/services/kafka_exporter.sh;
# rules in monitoring/kafka-jmx.yml), attached when its jar is there.
KAFKA_JMX_METRICS_PORT=${MILLIONX_KAFKA_JMX_METRICS_PORT:-9404}

kafka_install() {
  mvn_fetch "$REPO/stack/java/kafka" "$KAFKA_HOME/libs-$KAFKA_VERSION" \
    -Dkafka.version="$KAFKA_VERSION" || return 1
  mkdir -p "$KAFKA_HOME/config" "$KAFKA_HOME/data"
  cat >"$KAFKA_HOME/config/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_HOME/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  cat >"$KAFKA_HOME/config/log4j.properties" <<'PROPS'
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.BrokerServer=INFO
PROPS
  if [ ! -f "$KAFKA_HOME/data/meta.properties" ]; then
    say "formatting the KRaft storage directory"
    local cid
    cid=$(java -cp "$KAFKA_HOME/libs-$KAFKA_VERSION/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
    java -Dlog4j.configuration="file:$KAFKA_HOME/config/log4j.properties" \
      -cp "$KAFKA_HOME/libs-$KAFKA_VERSION/*" kafka.tools.StorageTool format -t "$cid" \
      -c "$KAFKA_HOME/config/server.properties" >>"$LOG_DIR/kafka.log" 2>&1 \
      || { fail "formatting Kafka storage failed (see $LOG_DIR/kafka.log)"; return 1; }
  fi
}

kafka_start() {
  local agent=() jar
  jar=$(ls "$STACK_HOME"/jars/metrics-*/jmx_prometheus_javaagent-*.jar 2>/dev/null | tail -1)
  if [ -n "$jar" ] && ! pid_alive kafka; then
    # The agent cannot start on a taken port, and the broker would not start either.
    if port_in_use "$KAFKA_JMX_METRICS_PORT"; then
      say "port $KAFKA_JMX_METRICS_PORT is taken: Kafka starts without its JMX metrics (set MILLIONX_KAFKA_JMX_METRICS_PORT)"
    else
      agent=("-javaagent:$jar=127.0.0.1:$KAFKA_JMX_METRICS_PORT:$REPO/monitoring/kafka-jmx.yml")
    fi
  fi
  start_daemon kafka "$KAFKA_PORT" java "${agent[@]}" -Xms256m -Xmx768m \
    -Dlog4j.configuration="file:$KAFKA_HOME/config/log4j.properties" \
    -cp "$KAFKA_HOME/libs-$KAFKA_VERSION/*" kafka.Kafka "$KAFKA_HOME/config/server.properties" || return 1
  wait_for "Kafka on 127.0.0.1:$KAFKA_PORT" 60 kafka_health \
    || { tail -20 "$LOG_DIR/kafka.log" >&2; fail "Kafka did not become healthy (log: $LOG_DIR/kafka.log)"; }
}

kafka_stop() { stop_daemon kafka; }

# Healthy = the broker answers a metadata request (not just an open port).
kafka_health() {
  port_in_use "$KAFKA_PORT" && "$PY" - "$KAFKA_PORT" <<'PYEOF' >/dev/null 2>&1
import sys
from kafka import KafkaAdminClient
KafkaAdminClient(bootstrap_servers=f'127.0.0.1:{sys.argv[1]}', request_timeout_ms=3000).list_topics()
PYEOF
}
