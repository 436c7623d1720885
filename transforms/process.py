"""ProcessRecords: the whole transform chain, validate → privacy → enrich → embed, in one step.

Validate, privacy and enrich run fused in one DoFn (_ValidatePrivacyEnrichFn): the three stages'
own DoFns, called one after the other for each message, their dead letters tagged as each stage
makes them (stage names, ids and counters unchanged). One ParDo instead of three saves a runner
hop and a tagged output per record and stage, and on the DirectRunner, where a ParDo with side
inputs starts a new stage, the pickling of every normalized record between privacy and enrich;
and the enrich step fills the records the privacy step just built in place instead of copying
them. The three composites (ValidateRecords, PrivacyShield, EnrichRecords) stay for tests and for
graphs that need one stage alone; a test holds the chain of them to ProcessRecords' outputs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

import apache_beam as beam
from apache_beam.pvalue import TaggedOutput

from schemas.normalized import SocialPost
from transforms.config import ProcessConfig
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG
from transforms.enrich import _EnrichFn, enrich_fn_and_side_inputs
from transforms.privacy import _PrivacyShieldFn
from transforms.validate import _ValidateFn

if TYPE_CHECKING:
  from apache_beam.ml.inference.base import ModelHandler


class ProcessResult(NamedTuple):
  posts: beam.PCollection         # of SocialPost
  orders: beam.PCollection        # of MarketOrder
  dead_letters: beam.PCollection  # of DeadLetter, from every stage


def _by_kind(record, unused_num_partitions) -> int:
  return 0 if isinstance(record, SocialPost) else 1


class _ValidatePrivacyEnrichFn(beam.DoFn):
  """RawRecord → normalized records (enriched), dead letters of the three stages (tagged)."""

  def __init__(self, validate: _ValidateFn, privacy: _PrivacyShieldFn, enrich: _EnrichFn):
    self._validate = validate
    self._privacy = privacy
    self._enrich = enrich

  def setup(self):
    for fn in (self._validate, self._privacy, self._enrich):
      fn.setup()

  def start_bundle(self):
    self._enrich.start_bundle()

  def process(self, raw, weather_snapshots=(), catalogs=()):
    enriched = self._enrich.enriched
    for valid in self._validate.process(raw):
      if isinstance(valid, TaggedOutput):
        yield valid
        continue
      for record in self._privacy.process(valid):
        if isinstance(record, TaggedOutput):
          yield record
        else:
          # The privacy step built this record just now and nobody else holds it: owned.
          yield from enriched(record, weather_snapshots, catalogs, True)

  def finish_bundle(self):
    for fn in (self._validate, self._privacy, self._enrich):
      fn.finish_bundle()

  def teardown(self):
    for fn in (self._validate, self._privacy, self._enrich):
      fn.teardown()


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
    config = self._config
    enrich, side = enrich_fn_and_side_inputs(config.enrich, config.dead_letter,
                                             raw_records.pipeline, self._weather, self._products)
    fused = _ValidatePrivacyEnrichFn(_ValidateFn(config.validation, config.dead_letter),
                                     _PrivacyShieldFn(config.privacy, config.dead_letter), enrich)
    outputs = raw_records | 'ValidatePrivacyEnrich' >> beam.ParDo(fused, **side).with_outputs(
        DEAD_LETTER_TAG, main=VALID_TAG)
    dead_letters = [outputs[DEAD_LETTER_TAG]]
    records = outputs[VALID_TAG]
    if config.embed is not None:
      # Imported here: apache_beam.ml loads torch, which runs without embeddings never need.
      from transforms.embed import EmbedRecords  # pylint: disable=import-outside-toplevel
      embedded = records | 'Embed' >> EmbedRecords(config.embed, config.dead_letter,
                                                    self._model_handler)
      records = embedded.records
      dead_letters.append(embedded.dead_letters)
    posts, orders = records | 'SplitPostsAndOrders' >> beam.Partition(_by_kind, 2)
    all_dead = tuple(dead_letters) | 'FlattenDeadLetters' >> beam.Flatten()
    return ProcessResult(posts, orders, all_dead)
