"""The one registry of sources: every source the pipeline reads, what it is and what reads it.

A record source's messages become normalized records (transforms/validate.py reads them with its
model, unwrapping its API's documented response envelopes; transforms/normalize.py maps the model
to normalized records with the normalizer named here; privacy and enrichment follow). A context
source's messages feed enrichment as snapshots of the kind named here (transforms/context.py).

The topic of each source is in pipeline/topics.yaml, the one definition of the topics: its
`source:` key names a source of this registry, on a `raw` topic for a record source and a
`context` topic for a context source (tests/unit/test_registry.py holds the two together, and
the normalizers, envelopes, loaders and the demo generator's builders to this registry).

Readers: transforms/validate.py (RECORD_SOURCES, the models), transforms/normalize.py (the
normalizers), agents/topics.py (every source needs a topic), agents/demo (the context sources,
the record sources' builders), schemas.sources.SOURCE_MODELS (kept as a view of this one).
Adding a source: its model in schemas/sources.py, an entry here, a topic in topics.yaml, a
normalizer (record) or a snapshot loader (context), a demo builder.
"""
from __future__ import annotations

import dataclasses
import enum
from typing import Mapping, Optional

from pydantic import BaseModel

from schemas import api_envelopes
from schemas.api_envelopes import Envelope
from schemas.sources import (DarazOrder, FacebookPost, OpenWeatherCurrent, ProductMetadata,
                             ShopifyOrder, TikTokVideo)


class Role(str, enum.Enum):
  RECORD = 'record'      # messages become normalized records
  CONTEXT = 'context'    # messages feed enrichment as snapshots


# The snapshot kinds transforms/context.py builds (a context source names one as its loader).
SNAPSHOT_KINDS = ('weather', 'catalog')


@dataclasses.dataclass(frozen=True)
class SourceSpec:
  """One source. Record sources name a normalizer (a function of transforms/normalize.py) and
  their API's envelope; context sources name the snapshot kind they feed."""
  name: str
  role: Role
  model: type[BaseModel]
  normalizer: Optional[str] = None
  envelope: Optional[Envelope] = None
  loader: Optional[str] = None

  def __post_init__(self):
    if self.role is Role.RECORD and (not self.normalizer or self.loader):
      raise ValueError(f'record source {self.name}: a normalizer and no loader')
    if self.role is Role.CONTEXT and (self.loader not in SNAPSHOT_KINDS or self.normalizer
                                      or self.envelope):
      raise ValueError(f'context source {self.name}: a loader of {SNAPSHOT_KINDS}, no normalizer')

  @property
  def topic_kind(self) -> str:
    """The `kind:` of its topic in pipeline/topics.yaml."""
    return 'raw' if self.role is Role.RECORD else 'context'


SOURCES: Mapping[str, SourceSpec] = {spec.name: spec for spec in (
    SourceSpec('tiktok', Role.RECORD, TikTokVideo, 'normalize_tiktok', api_envelopes.TIKTOK),
    SourceSpec('facebook', Role.RECORD, FacebookPost, 'normalize_facebook', api_envelopes.GRAPH),
    SourceSpec('shopify', Role.RECORD, ShopifyOrder, 'normalize_shopify', api_envelopes.SHOPIFY),
    SourceSpec('daraz', Role.RECORD, DarazOrder, 'normalize_daraz', api_envelopes.DARAZ),
    SourceSpec('openweather', Role.CONTEXT, OpenWeatherCurrent, loader='weather'),
    SourceSpec('catalog', Role.CONTEXT, ProductMetadata, loader='catalog'),
)}

RECORD_SOURCES: tuple[str, ...] = tuple(n for n, s in SOURCES.items() if s.role is Role.RECORD)
CONTEXT_SOURCES: tuple[str, ...] = tuple(n for n, s in SOURCES.items() if s.role is Role.CONTEXT)
# Which model reads which source's messages (agents validate with it before publishing too).
SOURCE_MODELS: dict[str, type[BaseModel]] = {n: s.model for n, s in SOURCES.items()}
