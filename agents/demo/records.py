"""The demo batch's records: Kafka messages, the malformed and planted-PII ledgers."""
from __future__ import annotations

import collections
from typing import NamedTuple, Optional

from connectors.kafka_publisher import topic_counts


class DemoEvent(NamedTuple):
  """One Kafka message: what `KafkaPublisher.publish_many` takes."""
  topic: str
  key: bytes
  value: bytes
  headers: tuple[tuple[str, bytes], ...]


class Malformed(NamedTuple):
  """A planted bad record: (topic, key) find it; `reason` is `<kind>` or `<kind>:<field>`."""
  topic: str
  key: bytes
  reason: str


class PlantedPii(NamedTuple):
  """A personal value as written into some payload; `normalized` is the E.164 form for phones."""
  # phone email name first_name last_name address national_id ip username user_id customer_id
  kind: str
  value: str
  normalized: Optional[str] = None


class DemoData(NamedTuple):
  events: list[DemoEvent]
  pii: list[PlantedPii]
  malformed: list[Malformed]

  def counts(self) -> dict[str, int]:
    return topic_counts(collections.Counter(e.topic for e in self.events))

