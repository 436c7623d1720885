"""generate(): one demo batch, a pure function of (seed, events, malformed_share, now)."""
from __future__ import annotations

import datetime
import operator
from typing import Callable, Optional

from agents import demo_data as D
from agents.demo.builders import SOURCE_BUILDERS, Builder, fetched_at_header, product_catalog, weather
from agents.demo.encoding import fast_json
from agents.demo.malform import malform
from agents.demo.records import DemoData, DemoEvent, Malformed
from agents.topics import AgentTopics, load_topics
from connectors.kafka_publisher import standard_headers
from connectors.openweather import observation_key

# A fixed reference time keeps the output identical across runs; pass `now` for fresh timestamps.
DEFAULT_NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
_HISTORY_SEED = 0x5EA7_4E12          # derives the weather history's own random source
SOURCE_SHARES = (('tiktok', 0.3), ('facebook', 0.25), ('shopify', 0.25), ('daraz', 0.2))


def _source_counts(events: int) -> dict[str, int]:
  counts = {s: int(events * share) for s, share in SOURCE_SHARES}
  for s, _ in SOURCE_SHARES[:events - sum(counts.values())]:
    counts[s] += 1
  return counts


def _hourly_times(b: Builder, start_s: int, latest_s: int) -> list[int]:
  """One time a few minutes into each UTC hour from the hour of `start_s` up to, not including,
  the hour of the latest observation: the weather agent's hourly history, oldest first."""
  hour = 3600
  return [h + b.between(0, 20 * 60)
          for h in range(start_s - start_s % hour, latest_s - latest_s % hour, hour)]


def _headers_with_fetched_at(source: str, now: datetime.datetime) -> Callable[[int], tuple]:
  """standard_headers(source, fetched_at, synthetic=True), with fetched_at filled in per event."""
  template = standard_headers(source, now, synthetic=True)
  at = [name for name, _ in template].index('fetched_at')
  head, tail = tuple(template[:at]), tuple(template[at + 1:])
  return lambda ts: head + (('fetched_at', fetched_at_header(ts)),) + tail


def generate(seed: int, events: int, malformed_share: float = 0.05, *,
             topics: Optional[AgentTopics] = None,
             now: Optional[datetime.datetime] = None,
             window_s: int = 6 * 3600,
             encode: Callable[[object], bytes] = fast_json) -> DemoData:
  """Builds one demo batch: `events` source events plus the context records, in publish order.

  Order: the product catalog (48 records, key = sku) and the weather history of each city (one
  observation per hour of the window, key = `city id:hour` as the weather agent writes them)
  first, so that enrichment has context; then the source events (split 30/25/25/20 over
  tiktok/facebook/shopify/daraz) in event-time order, spread over `window_s` before `now`, in
  whole seconds. `round(events * malformed_share)` of the source events are malformed;
  `malformed` lists them. `encode` writes the payloads (orjson if installed; the stdlib's
  json.dumps gives the same bytes).
  """
  if events < 0 or not 0 <= malformed_share <= 1:
    raise ValueError('events must be >= 0 and malformed_share within [0, 1]')
  topics = topics or load_topics()
  now = now or DEFAULT_NOW
  now_s = int(now.timestamp())
  b = Builder(seed, now_s)

  out: list[DemoEvent] = []
  catalog = product_catalog(b)
  headers = tuple(standard_headers('catalog', now, synthetic=True))
  for product in catalog:
    out.append(DemoEvent(topics.for_source('catalog'), product.record['sku'].encode(),
                         encode(product.record), headers))
  headers = tuple(standard_headers('openweather', now, synthetic=True))
  # The latest observation per city comes from the batch's random source; the earlier hours from
  # one of their own, so that the source events stay what they were before the history existed.
  history = Builder(seed ^ _HISTORY_SEED, now_s)
  for city in D.CITIES:
    latest = weather(b, city)
    earlier = [weather(history, city, t)
               for t in _hourly_times(history, now_s - window_s, latest['dt'])]
    for observation in earlier + [latest]:
      out.append(DemoEvent(topics.for_source('openweather'),
                           observation_key(city[2], observation['dt']).encode(),
                           encode(observation), headers))

  plan = [(b.when(window_s), source)
          for source, n in _source_counts(events).items() for _ in range(n)]
  plan.sort(key=operator.itemgetter(0))
  bad = set(b.rng.sample(range(len(plan)), round(len(plan) * malformed_share)))
  malformed: list[Malformed] = []
  topic_of = {source: topics.for_source(source) for source in SOURCE_BUILDERS}
  headers_of = {source: _headers_with_fetched_at(source, now) for source in SOURCE_BUILDERS}
  for i, (ts, source) in enumerate(plan):
    key, payload = SOURCE_BUILDERS[source](b, catalog, ts)
    key_b = key.encode()
    topic = topic_of[source]
    if i in bad:
      value, reason = malform(b, source, payload, encode)
      malformed.append(Malformed(topic, key_b, reason))
    else:
      value = encode(payload)
    fetched = min(ts + b.between(5, 300), now_s)
    out.append(DemoEvent(topic, key_b, value, headers_of[source](fetched)))
  return DemoData(out, b.pii(), malformed)

