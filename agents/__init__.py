"""Source agents: processes that fetch from the third-party APIs and publish raw payloads to Kafka.

One module per agent (`python -m agents.<source>`), plus `agents.demo`, the synthetic-data generator
that stands in for every source when no credentials are at hand.
"""
