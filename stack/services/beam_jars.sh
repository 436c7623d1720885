# Beam's Java side, fetched by Maven (no shaded jars are served, see stack/versions.sh):
#  - the Kafka expansion service for DirectRunner (Beam $BEAM_VERSION): KafkaIO + expansion
#    service + Java SDK harness (its loopback worker runs the Kafka read);
#  - the Flink job server (Beam $BEAM_FLINK_VERSION, Flink 1.19) with KafkaIO embedded, and an
#    expansion service of the same Beam version (the Flink job must deserialize what it expands).
# Each gets a classpath jar (manifest only) so `java -jar` starts it.
# shellcheck shell=bash

JARS_DIR=$STACK_HOME/jars
EXPANSION_JAR=$JARS_DIR/beam-kafka-expansion-service-$BEAM_VERSION.jar
FLINK_EXPANSION_JAR=$JARS_DIR/beam-kafka-expansion-service-flink-$BEAM_FLINK_VERSION.jar
FLINK_JOB_SERVER_JAR=$JARS_DIR/beam-flink-${FLINK_VERSION%.*}-job-server-$BEAM_FLINK_VERSION.jar

beam_jars_install() {
  mvn_fetch "$REPO/stack/java/expansion" "$JARS_DIR/expansion-$BEAM_VERSION" \
    -Dbeam.version="$BEAM_VERSION" -Dkafka.version="$KAFKA_VERSION" || return 1
  mvn_fetch "$REPO/stack/java/flink" "$JARS_DIR/flink-$BEAM_FLINK_VERSION" \
    -Dbeam.version="$BEAM_FLINK_VERSION" -Dflink.minor="${FLINK_VERSION%.*}" \
    -Dkafka.version="$KAFKA_VERSION" || return 1
  [ -f "$EXPANSION_JAR" ] || classpath_jar "$JARS_DIR/expansion-$BEAM_VERSION" \
    org.apache.beam.sdk.expansion.service.ExpansionService "$EXPANSION_JAR"
  [ -f "$FLINK_EXPANSION_JAR" ] || classpath_jar "$JARS_DIR/flink-$BEAM_FLINK_VERSION" \
    org.apache.beam.sdk.expansion.service.ExpansionService "$FLINK_EXPANSION_JAR"
  [ -f "$FLINK_JOB_SERVER_JAR" ] || classpath_jar "$JARS_DIR/flink-$BEAM_FLINK_VERSION" \
    org.apache.beam.runners.flink.FlinkJobServerDriver "$FLINK_JOB_SERVER_JAR"
}
beam_jars_start()  { :; }
beam_jars_stop()   { :; }
beam_jars_health() { [ -f "$EXPANSION_JAR" ] && [ -f "$FLINK_JOB_SERVER_JAR" ] && [ -f "$FLINK_EXPANSION_JAR" ]; }
