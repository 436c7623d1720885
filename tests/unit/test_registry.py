"""The one registry of sources (schemas/registry.py) and everything that must agree with it.

The topics file names each source's topic; the normalizers, envelopes, snapshot loaders, the
agents' topic lookup and the demo generator's per-source tables are held to the registry here,
so a source added in one place and forgotten in another fails this test, not a run.
"""
import pytest

from schemas import registry
from schemas.registry import (CONTEXT_SOURCES, RECORD_SOURCES, SNAPSHOT_KINDS, SOURCE_MODELS,
                              SOURCES, Role, SourceSpec)


def test_every_source_has_exactly_one_topic_of_its_kind_and_every_topic_a_source():
  from pipeline import topics
  config = topics.load_topics(str(topics.TOPICS_FILE))
  for name, spec in SOURCES.items():
    mine = [t for t in config.topics if t.source == name]
    assert [t.kind for t in mine] == [spec.topic_kind], (name, [(t.name, t.kind) for t in mine])
  for topic in config.topics:
    if topic.kind in ('raw', 'context'):
      assert topic.source in SOURCES, f'{topic.name}: source {topic.source!r} is not registered'


def test_record_sources_have_a_normalizer_and_an_envelope_context_sources_a_loader():
  from transforms import normalize
  assert set(normalize.NORMALIZERS) == {SOURCES[n].model for n in RECORD_SOURCES}
  for name in RECORD_SOURCES:
    spec = SOURCES[name]
    assert normalize.NORMALIZERS[spec.model] is getattr(normalize, spec.normalizer)
    assert spec.envelope is not None and spec.envelope.shapes
  assert {SOURCES[n].loader for n in CONTEXT_SOURCES} == set(SNAPSHOT_KINDS)
  assert set(RECORD_SOURCES) | set(CONTEXT_SOURCES) == set(SOURCES)


def test_the_snapshot_kinds_are_the_ones_context_builds():
  from transforms.context import catalog_source, empty_product_catalog, empty_weather_snapshot, weather_source
  assert {weather_source(empty_weather_snapshot).name,
          catalog_source(empty_product_catalog).name} == set(SNAPSHOT_KINDS)


def test_the_readers_read_the_registry():
  from agents import topics as agent_topics
  import importlib
  from agents.demo import builders
  # The package exports the functions generate() and publish() under the modules' names.
  generate = importlib.import_module('agents.demo.generate')
  publish = importlib.import_module('agents.demo.publish')
  from schemas import sources
  from transforms import validate
  assert agent_topics.SOURCES == tuple(SOURCES)
  assert validate.RECORD_SOURCES is RECORD_SOURCES
  assert sources.SOURCE_MODELS is SOURCE_MODELS         # the old import path: the same dict
  assert set(builders.SOURCE_BUILDERS) == set(RECORD_SOURCES)
  assert {s for s, _ in generate.SOURCE_SHARES} == set(RECORD_SOURCES)
  assert set(publish._CONTEXT_SOURCES) == {s.encode() for s in CONTEXT_SOURCES}  # pylint: disable=protected-access
  for name, spec in SOURCES.items():
    assert SOURCE_MODELS[name] is spec.model


def test_validation_reads_the_registered_sources_only():
  from tests.unit import fakes
  from transforms.validate import UnknownSource, parse_raw
  with pytest.raises(UnknownSource, match='tiktok, facebook, shopify, daraz'):
    parse_raw(fakes.raw_record('openweather', {'id': 1, 'dt': 1}), 10_000)


@pytest.mark.parametrize('kwargs', [
    dict(role=Role.RECORD),                                           # no normalizer
    dict(role=Role.RECORD, normalizer='normalize_x', loader='weather'),
    dict(role=Role.CONTEXT),                                          # no loader
    dict(role=Role.CONTEXT, loader='tides'),
    dict(role=Role.CONTEXT, loader='weather', normalizer='normalize_x')])
def test_a_source_spec_that_contradicts_its_role_is_refused(kwargs):
  with pytest.raises(ValueError):
    SourceSpec('x', model=registry.TikTokVideo, **kwargs)
