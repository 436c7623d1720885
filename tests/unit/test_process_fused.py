"""ProcessRecords' fused validate → privacy → enrich DoFn against the three composites chained.

The golden inputs (demo batch and source fixtures, fixed keys and clock) through
ValidateRecords | PrivacyShield | EnrichRecords and through ProcessRecords give the same bytes
(posts, orders, dead letters with their stage names and ids) and the same counters. The golden
test pins ProcessRecords' bytes; this one holds the composites to them.
"""
import json

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline

from schemas.normalized import SocialPost
from tests.unit import fakes
from tests.unit.test_golden import golden_inputs, render_dead_letter, render_normalized
from transforms.context import (ProductCatalogFile, ProductSideInput, WeatherSideInput,
                                WeatherSnapshotFile)
from transforms.enrich import EnrichRecords
from transforms.metrics import NAMESPACE
from transforms.privacy import PrivacyShield
from transforms.process import ProcessRecords
from transforms.validate import ValidateRecords


def _run(records, weather_path, catalog_path, fused: bool, out_dir):
  config = fakes.process_config(embed=False)
  p = TestPipeline()
  weather = p | 'Weather' >> WeatherSideInput(WeatherSnapshotFile(weather_path, fakes.fixed_clock))
  products = p | 'Products' >> ProductSideInput(ProductCatalogFile(catalog_path, fakes.fixed_clock))
  raw = p | beam.Create(records, reshuffle=False)
  if fused:
    result = raw | ProcessRecords(config, weather=weather, products=products)
    normalized = (result.posts, result.orders) | 'Normalized' >> beam.Flatten()
    dead_letters = result.dead_letters
  else:
    validated = raw | ValidateRecords(config.validation, config.dead_letter)
    shielded = validated.valid | PrivacyShield(config.privacy, config.dead_letter)
    enriched = shielded.records | EnrichRecords(config.enrich, config.dead_letter,
                                                weather=weather, products=products)
    normalized = enriched.records
    dead_letters = ((validated.dead_letters, shielded.dead_letters, enriched.dead_letters)
                    | 'DeadLetters' >> beam.Flatten())
  rendered = ((normalized | 'RenderNormalized' >> beam.Map(render_normalized),
               dead_letters | 'RenderDeadLetters' >> beam.Map(render_dead_letter))
              | 'All' >> beam.Flatten())
  _ = rendered | 'Write' >> beam.io.WriteToText(str(out_dir / 'out'))
  result = p.run()
  result.wait_until_finish()
  lines = [line for f in out_dir.glob('out*') for line in f.read_text(encoding='utf-8').splitlines()]
  counters = {}
  for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))['counters']:
    counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + c.committed
  return sorted(lines), counters


def test_the_fused_chain_gives_the_composites_outputs_and_counters(tmp_path):
  records, weather_path, catalog_path = golden_inputs(tmp_path)
  (tmp_path / 'fused').mkdir()
  (tmp_path / 'chain').mkdir()
  fused_lines, fused_counters = _run(records, weather_path, catalog_path, True, tmp_path / 'fused')
  chain_lines, chain_counters = _run(records, weather_path, catalog_path, False, tmp_path / 'chain')
  assert len(fused_lines) > 400
  assert fused_lines == chain_lines
  stages = {json.loads(json.loads(line)['value'])['stage'] for line in fused_lines
            if json.loads(line)['output'] == 'DeadLetter'}
  assert 'validate' in stages, stages
  assert fused_counters == chain_counters
  for name in ('num_valid', 'num_invalid', 'num_shielded', 'num_text_pii_tokens',
               'num_weather_enriched', 'num_product_enriched'):
    assert fused_counters.get(name, 0) > 0, name


def test_the_fused_chain_does_not_change_a_record_it_did_not_build():
  """EnrichRecords alone (records from elsewhere) copies; only the fused chain fills in place."""
  from transforms.enrich import _EnrichFn
  fn = _EnrichFn(fakes.enrich_config(), fakes.dead_letter_config())
  fn.setup()
  fn.start_bundle()
  post = SocialPost('e', 'tiktok', 'video', '1', fakes.FIXED_NOW, fakes.FIXED_NOW,
                    fakes_lineage(), city='Dhaka')
  [out] = fn.process(post)
  assert out is not post and post.flags == () and out.flags == ('weather_missing',)
  [owned] = fn.enriched(post, (), (), owned=True)
  assert owned is post and post.flags == ('weather_missing',)


def fakes_lineage():
  from schemas.normalized import Lineage
  return Lineage('raw.tiktok.videos', 0, 1, 1_764_000_000_000)
