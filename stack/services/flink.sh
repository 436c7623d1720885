# A Flink standalone session cluster (JobManager + one TaskManager) as plain JVMs.
# Flink's jars come from the PyPI sdist apache-flink-libraries (deps/lib), fetched by pip;
# it has no bin/ or conf/, so we write the configuration and start the entry points ourselves.
# shellcheck shell=bash

FLINK_HOME=$STACK_HOME/flink/flink-$FLINK_VERSION
FLINK_REST_PORT=${MILLIONX_FLINK_REST_PORT:-8081}
FLINK_RPC_PORT=${MILLIONX_FLINK_RPC_PORT:-6123}
# Flink's Prometheus reporter (a plugin, from stack/java/metrics/pom.xml): one scrape port per JVM.
# Flink 1.19's reporter has no bind-address setting: it listens on all interfaces.
FLINK_JM_METRICS_PORT=${MILLIONX_FLINK_JM_METRICS_PORT:-9249}
FLINK_TM_METRICS_PORT=${MILLIONX_FLINK_TM_METRICS_PORT:-9250}
FLINK_PLUGINS=$FLINK_HOME/plugins
# Flink's own Java 17 flags (its bin scripts add the same through env.java.opts.all).
FLINK_JAVA_OPTS=(
  --add-exports=java.base/sun.net.util=ALL-UNNAMED
  --add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED
  --add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED
  --add-opens=java.base/java.lang=ALL-UNNAMED
  --add-opens=java.base/java.net=ALL-UNNAMED
  --add-opens=java.base/java.io=ALL-UNNAMED
  --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
  --add-opens=java.base/java.lang.reflect=ALL-UNNAMED
  --add-opens=java.base/java.text=ALL-UNNAMED
  --add-opens=java.base/java.time=ALL-UNNAMED
  --add-opens=java.base/java.util=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED
  --add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED
)

flink_install() {
  if [ ! -f "$FLINK_HOME/lib/flink-dist-$FLINK_VERSION.jar" ]; then
    local dl=$STACK_HOME/downloads
    mkdir -p "$dl" "$FLINK_HOME"
    say "fetching Flink $FLINK_VERSION jars (apache-flink-libraries sdist from PyPI, ~230 MB)"
    "$PY" -m pip download --no-deps --no-binary :all: --progress-bar on -d "$dl" \
      "apache-flink-libraries==$FLINK_VERSION" \
      || { fail "pip could not download apache-flink-libraries==$FLINK_VERSION: is PyPI reachable?"; return 1; }
    tar xzf "$dl/apache-flink-libraries-$FLINK_VERSION.tar.gz" -C "$FLINK_HOME" --strip-components=2 \
      "apache-flink-libraries-$FLINK_VERSION/deps/lib" \
      || { fail "unpacking apache-flink-libraries failed"; return 1; }
  fi
  flink_metrics_reporter_install || return 1
  mkdir -p "$FLINK_HOME/conf" "$STACK_HOME/flink/tmp"
  cat >"$FLINK_HOME/conf/flink-conf.yaml" <<CONF
jobmanager.rpc.address: localhost
jobmanager.rpc.port: $FLINK_RPC_PORT
jobmanager.bind-host: 127.0.0.1
jobmanager.memory.process.size: 1024m
taskmanager.bind-host: 127.0.0.1
taskmanager.host: localhost
taskmanager.memory.process.size: 2048m
taskmanager.numberOfTaskSlots: 4
parallelism.default: 1
rest.address: localhost
rest.bind-address: 127.0.0.1
rest.port: $FLINK_REST_PORT
io.tmp.dirs: $STACK_HOME/flink/tmp
execution.checkpointing.interval: 10s
state.checkpoints.dir: file://$STACK_HOME/flink/checkpoints
metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory
metrics.reporter.prom.port: $FLINK_JM_METRICS_PORT-$((FLINK_TM_METRICS_PORT + 8))
CONF
  cat >"$FLINK_HOME/conf/log4j.properties" <<'CONF'
rootLogger.level = INFO
rootLogger.appenderRef.console.ref = ConsoleAppender
appender.console.name = ConsoleAppender
appender.console.type = CONSOLE
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss,SSS} %-5p %-40c{1} - %m%n
logger.akka.name = org.apache.pekko
logger.akka.level = WARN
logger.kafka.name = org.apache.kafka
logger.kafka.level = WARN
CONF
}

# The exporters that run inside the stack's JVMs (stack/java/metrics/pom.xml: Flink's reporter, the
# Kafka broker's JMX agent), fetched into a folder named after the pom's hash so that a changed pom
# fetches again. Prints the folder.
metrics_jars_install() {
  local dir
  dir=$STACK_HOME/jars/metrics-$(sha256sum "$REPO/stack/java/metrics/pom.xml" | cut -c1-12)
  mvn_fetch "$REPO/stack/java/metrics" "$dir" >&2 || return 1
  echo "$dir"
}

# The reporter jar as a Flink plugin (own class loader: its Prometheus client cannot clash with
# the jobs' classes).
flink_metrics_reporter_install() {
  local dir jar
  dir=$(metrics_jars_install) || return 1
  jar=$(ls "$dir"/flink-metrics-prometheus-*.jar 2>/dev/null | head -1)
  [ -n "$jar" ] || { fail "flink-metrics-prometheus is missing from $dir"; return 1; }
  if [ ! -f "$FLINK_PLUGINS/metrics-prometheus/$(basename "$jar")" ]; then
    rm -rf "$FLINK_PLUGINS/metrics-prometheus"
    mkdir -p "$FLINK_PLUGINS/metrics-prometheus"
    cp "$jar" "$FLINK_PLUGINS/metrics-prometheus/"
  fi
}

_flink_java=(env FLINK_PLUGINS_DIR="$FLINK_PLUGINS" java "${FLINK_JAVA_OPTS[@]}" -Dlog4j.configurationFile="file:$FLINK_HOME/conf/log4j.properties"
  -cp "$FLINK_HOME/lib/*")

flink_start() {
  start_daemon flink-jobmanager "$FLINK_REST_PORT" "${_flink_java[@]}" -Xms512m -Xmx768m \
    org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint --configDir "$FLINK_HOME/conf" \
    -D metrics.reporter.prom.port="$FLINK_JM_METRICS_PORT" || return 1
  wait_for "Flink JobManager REST on 127.0.0.1:$FLINK_REST_PORT" 90 port_in_use "$FLINK_REST_PORT" \
    || { fail "Flink JobManager did not start (log: $LOG_DIR/flink-jobmanager.log)"; return 1; }
  start_daemon flink-taskmanager "" "${_flink_java[@]}" -Xms1g -Xmx1g -XX:MaxDirectMemorySize=512m \
    org.apache.flink.runtime.taskexecutor.TaskManagerRunner --configDir "$FLINK_HOME/conf" \
    -D taskmanager.memory.framework.off-heap.size=134217728b \
    -D taskmanager.memory.network.max=134217728b -D taskmanager.memory.network.min=134217728b \
    -D taskmanager.memory.framework.heap.size=134217728b -D taskmanager.memory.managed.size=268435456b \
    -D taskmanager.cpu.cores=4.0 -D taskmanager.memory.task.heap.size=805306368b \
    -D taskmanager.memory.task.off-heap.size=0b -D taskmanager.memory.jvm-metaspace.size=268435456b \
    -D taskmanager.memory.jvm-overhead.max=201326592b -D taskmanager.memory.jvm-overhead.min=201326592b \
    -D metrics.reporter.prom.port="$FLINK_TM_METRICS_PORT" || return 1
  wait_for "a Flink TaskManager to register" 90 flink_health \
    || { fail "no TaskManager registered (log: $LOG_DIR/flink-taskmanager.log)"; return 1; }
}

flink_stop() { stop_daemon flink-taskmanager; stop_daemon flink-jobmanager; }

# Healthy = REST answers and at least one TaskManager slot is registered.
flink_health() {
  curl -sf "http://127.0.0.1:$FLINK_REST_PORT/overview" | grep -q '"slots-total":[1-9]'
}
