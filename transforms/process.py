"""ProcessRecords: the whole transform chain, validate → privacy → enrich → embed, in one step."""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

import apache_beam as beam

from schemas.normalized import SocialPost
from transforms.config import ProcessConfig
from transforms.enrich import EnrichRecords
from transforms.privacy import PrivacyShield
from transforms.validate import ValidateRecords

if TYPE_CHECKING:
  from apache_beam.ml.inference.base import ModelHandler


class ProcessResult(NamedTuple):
  posts: beam.PCollection         # of SocialPost
  orders: beam.PCollection        # of MarketOrder
  dead_letters: beam.PCollection  # of DeadLetter, from every stage


def _by_kind(record, unused_num_partitions) -> int:
  return 0 if isinstance(record, SocialPost) else 1


class ProcessRecords(beam.PTransform):
  """PCollection[RawRecord] → ProcessResult(posts, orders, dead_letters).

  weather / products: side-input PCollections from WeatherSideInput / ProductSideInput (or None).
  config.embed=None skips embeddings; model_handler replaces the SentenceTransformer one (tests).
  """

  def __init__(self, config: ProcessConfig, weather=None, products=None,
               model_handler: Optional['ModelHandler'] = None):
    super().__init__()
    self._config = config
    self._weather = weather
    self._products = products
    self._model_handler = model_handler

  def expand(self, raw_records) -> ProcessResult:
    validated = raw_records | 'Validate' >> ValidateRecords(self._config.validation)
    shielded = validated.valid | 'PrivacyShield' >> PrivacyShield(self._config.privacy)
    enriched = shielded.records | 'Enrich' >> EnrichRecords(
        self._config.enrich, weather=self._weather, products=self._products)
    dead_letters = [validated.dead_letters, shielded.dead_letters, enriched.dead_letters]
    records = enriched.records
    if self._config.embed is not None:
      # Imported here: apache_beam.ml loads torch, which runs without embeddings never need.
      from transforms.embed import EmbedRecords  # pylint: disable=import-outside-toplevel
      embedded = records | 'Embed' >> EmbedRecords(self._config.embed, self._model_handler)
      records = embedded.records
      dead_letters.append(embedded.dead_letters)
    posts, orders = records | 'SplitPostsAndOrders' >> beam.Partition(_by_kind, 2)
    all_dead = tuple(dead_letters) | 'FlattenDeadLetters' >> beam.Flatten()
    return ProcessResult(posts, orders, all_dead)


