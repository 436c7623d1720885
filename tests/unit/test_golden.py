"""Golden outputs: the exact bytes the graph writes for a fixed input set, keys and clock.

Inputs: a fixed demo batch (agents.demo, seed and time fixed) and every source fixture in
tests/unit/data. They run through ProcessRecords (validate → privacy → enrich, no embeddings:
vectors depend on the model backend) with fixed keys and a fixed clock, and every output is
rendered as the Kafka message value the graph writes (pipeline.graph's serializers):

  posts / orders   the output topics' JSON, byte for byte;
  dead letters     the DLQ topic's JSON, byte for byte except the AES-GCM ciphertext (its nonce
                   is random by design), plus the decrypted payload beside it.

Every refactor and speed-up must leave tests/unit/data/golden/process_outputs.jsonl unchanged.
A change of the outputs is deliberate: regenerate with

  MILLIONX_UPDATE_GOLDEN=1 .local/venv/bin/python -m pytest tests/unit/test_golden.py

and commit the new file on its own, saying why the bytes changed.
"""
import base64
import difflib
import json
import os
import pathlib
import re

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from schemas.envelope import RawRecord
from tests.unit import fakes
from transforms.process import ProcessRecords

GOLDEN = pathlib.Path(__file__).parent / 'data' / 'golden' / 'process_outputs.jsonl'
UPDATE = os.environ.get('MILLIONX_UPDATE_GOLDEN') == '1'
DEMO_SEED = 20261201
DEMO_EVENTS = 300
_CIPHERTEXT = re.compile(rb'"payload_ciphertext":\s*"[^"]*"')


def golden_inputs(tmp_dir: pathlib.Path):
  """(raw records, weather snapshot path, product catalog path): fixed, in a fixed order."""
  from agents import demo
  data = demo.generate(seed=DEMO_SEED, events=DEMO_EVENTS, malformed_share=0.05,
                       now=demo.DEFAULT_NOW)
  records, weather, catalog = [], {}, []
  offsets: dict = {}
  for e in data.events:
    source = dict(e.headers)['source'].decode()
    if source == 'openweather':
      weather[e.key.decode()] = json.loads(e.value)
    elif source == 'catalog':
      catalog.append(json.loads(e.value))
    else:
      offset = offsets[e.topic] = offsets.get(e.topic, -1) + 1
      records.append(RawRecord(source=source, topic=e.topic, partition=offset % 3,
                               offset=offset, timestamp_ms=1_764_331_200_000 + offset,
                               key=e.key, value=e.value, headers=e.headers))
  # The source fixtures on their own partition (9), after the demo records.
  for i, record in enumerate(fakes.fixture_records()):
    records.append(record._replace(partition=9, offset=10_000 + i))
  weather_path = tmp_dir / 'weather.json'
  weather_path.write_text(json.dumps(weather), encoding='utf-8')
  catalog_path = tmp_dir / 'catalog.json'
  catalog_path.write_text(json.dumps(catalog), encoding='utf-8')
  return records, str(weather_path), str(catalog_path)


def render_normalized(record) -> str:
  from pipeline.graph import _normalized_to_kv
  key, value = _normalized_to_kv(record)
  return json.dumps({'output': type(record).__name__, 'key': key.decode('utf-8'),
                     'value': value.decode('utf-8')}, ensure_ascii=False, sort_keys=True)


def render_dead_letter(dead_letter) -> str:
  from pipeline.graph import _dead_letter_to_kv
  key, value = _dead_letter_to_kv(dead_letter)
  assert len(_CIPHERTEXT.findall(value)) == 1, 'a dead letter holds exactly one ciphertext'
  plaintext = fakes.test_cipher().open_dead_letter(dead_letter)
  return json.dumps({'output': 'DeadLetter', 'key': key.decode('utf-8'),
                     'value': _CIPHERTEXT.sub(b'"payload_ciphertext":"<sealed>"', value).decode('utf-8'),
                     'payload': base64.b64encode(plaintext).decode('ascii')},
                    ensure_ascii=False, sort_keys=True)


def _compare(lines: list[str]) -> None:
  lines = sorted(lines)
  text = ''.join(line + '\n' for line in lines)
  if UPDATE:
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(text, encoding='utf-8')
    return
  assert GOLDEN.exists(), f'{GOLDEN} is missing: run with MILLIONX_UPDATE_GOLDEN=1 once'
  expected = GOLDEN.read_text(encoding='utf-8')
  if text != expected:
    diff = list(difflib.unified_diff(expected.splitlines(), text.splitlines(), 'golden', 'now',
                                     lineterm='', n=0))
    raise AssertionError(f'outputs differ from {GOLDEN.name} ({len(diff)} diff lines); first:\n'
                         + '\n'.join(line[:400] for line in diff[:12]))


def test_outputs_match_the_golden_file(tmp_path):
  from transforms.context import (ProductCatalogFile, ProductSideInput, WeatherSideInput,
                                  WeatherSnapshotFile)
  records, weather_path, catalog_path = golden_inputs(tmp_path)
  p = TestPipeline()
  weather = p | 'Weather' >> WeatherSideInput(WeatherSnapshotFile(weather_path, fakes.fixed_clock))
  products = p | 'Products' >> ProductSideInput(ProductCatalogFile(catalog_path, fakes.fixed_clock))
  result = p | beam.Create(records, reshuffle=False) | ProcessRecords(
      fakes.process_config(embed=False), weather=weather, products=products)
  rendered = (
      (result.posts | 'RenderPosts' >> beam.Map(render_normalized),
       result.orders | 'RenderOrders' >> beam.Map(render_normalized),
       result.dead_letters | 'RenderDeadLetters' >> beam.Map(render_dead_letter))
      | beam.Flatten())

  def check(lines):
    kinds = {json.loads(line)['output'] for line in lines}
    assert kinds == {'SocialPost', 'MarketOrder', 'DeadLetter'}, kinds
    _compare(list(lines))
  assert_that(rendered, check, label='MatchesGolden')
  p.run().wait_until_finish()
