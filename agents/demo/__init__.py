"""Synthetic demo data for every source, in the real API shapes, published to the raw topics.

Lets anyone run the pipeline end to end without credentials. Each event is one API object as the
API returns it (TikTok Research video, Facebook page post with its comments edge, Shopify REST
order, Daraz GetOrders order plus `order_items`), plus the context feeds (OpenWeather current
weather for the 8 divisional cities, the product catalog). The people in it are fake but written
the way real ones are: Bangla and English captions with hashtags, Bangla digits, BD phone numbers
in every common writing, example.com emails, street addresses. Every value of that kind is recorded,
so end-to-end tests can prove none reaches a sink. A configurable share of the source events is
malformed (bad JSON, truncated, wrong types, missing required fields) and reported as such.

Demo records are marked synthetic by the Kafka header `synthetic: true`, never inside the payload,
so the payload keeps the real API shape. Output is a pure function of (seed, events,
malformed_share, now): same arguments, same bytes. Event times fall in the 6 hours before `now`,
by default a fixed DEFAULT_NOW; pass `--now now` for data timed like a live feed.

    python -m agents.demo --bootstrap-servers 127.0.0.1:9092 --events 10000 --seed 7 \
        --malformed-share 0.05 --pii-out /tmp/pii.json [--now now] [--client kafka-python] \
        [--dry-run]

From Python: `data = generate(seed, events, malformed_share)` gives `data.events` (DemoEvent
tuples: topic, key, value, headers), `data.pii` and `data.malformed`; `publish(data.events,
bootstrap_servers)` returns the acknowledged count per topic (through librdkafka by default,
`client='kafka-python'` for the agents' client).

Modules: records (the batch's tuples), builders (payloads per source, seeded), malform (broken
writings), encoding (payload JSON), generate (the batch), publish (producers, forked workers),
cli (the command line).
"""
from agents.demo.builders import CATALOG_SIZE
from agents.demo.cli import main, write_pii
from agents.demo.encoding import fast_json, stdlib_json
from agents.demo.generate import DEFAULT_NOW, SOURCE_SHARES, generate
from agents.demo.malform import MALFORMED_KINDS
from agents.demo.publish import BULK_BATCH_BYTES, BULK_LINGER_MS, CLIENTS, DEFAULT_CLIENT, publish
from agents.demo.records import DemoData, DemoEvent, Malformed, PlantedPii

__all__ = ['BULK_BATCH_BYTES', 'BULK_LINGER_MS', 'CATALOG_SIZE', 'CLIENTS', 'DEFAULT_CLIENT',
           'DEFAULT_NOW', 'MALFORMED_KINDS', 'SOURCE_SHARES', 'DemoData', 'DemoEvent', 'Malformed',
           'PlantedPii', 'fast_json', 'generate', 'main', 'publish', 'stdlib_json', 'write_pii']
