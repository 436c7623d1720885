# Pinned versions of everything the local stack fetches. One place to change them.
# shellcheck shell=bash
BEAM_VERSION=2.73.0            # Python SDK and the Kafka expansion service used by DirectRunner
# Maven Central (as served here) has no Beam Flink 1.20 runner and no shaded job-server or
# io-expansion-service jars for recent Beam. The newest Beam Flink runner whose whole
# dependency tree resolves is beam-runners-flink-1.19 at 2.62.0 (see stack/java/flink/pom.xml),
# so the Flink side (job server + its Kafka expansion service) is Beam 2.62.0 on Flink 1.19.0.
BEAM_FLINK_VERSION=2.62.0
FLINK_VERSION=1.19.0
KAFKA_VERSION=3.9.1
WEAVIATE_VERSION=v1.35.2
# Prometheus 3.16.0 (its Go module numbers 3.x releases v0.3xx) and promtool, built with go install.
PROMETHEUS_VERSION=v0.316.0
NODE_EXPORTER_VERSION=v1.12.1
