"""benchmarks/plain_chain.py runs the graph's own stages as plain calls: on the golden inputs it
gives exactly the golden outputs (the plain loop and plain-call figures measure the same work
as the graph, not a copy of it that could drift)."""
import dataclasses
import json
import re

from tests.unit import fakes
from tests.unit.test_golden import GOLDEN, golden_inputs

_CIPHERTEXT = re.compile(rb'"payload_ciphertext":\s*"[^"]*"')
_OUTPUT = {'posts': 'SocialPost', 'orders': 'MarketOrder', 'dead_letters': 'DeadLetter'}


def _golden_lines() -> set:
  out = set()
  for line in GOLDEN.read_text(encoding='utf-8').splitlines():
    row = json.loads(line)
    out.add((row['output'], row['key'], row['value']))
  return out


def test_plain_stages_give_the_golden_outputs(tmp_path):
  from benchmarks.plain_chain import PlainStages
  records, weather_path, catalog_path = golden_inputs(tmp_path)
  config = fakes.process_config(embed=False)
  config = dataclasses.replace(config, enrich=dataclasses.replace(
      config.enrich, weather_snapshot=weather_path, product_catalog=catalog_path))
  stages = PlainStages(config)
  got = set()
  for record in records:
    for name, kvs in stages.process(record).items():
      for key, value in kvs:
        value = _CIPHERTEXT.sub(b'"payload_ciphertext":"<sealed>"', value)
        got.add((_OUTPUT[name], key.decode('utf-8'), value.decode('utf-8')))
  stages.close()
  expected = _golden_lines()
  assert {o for o, _, _ in got} == set(_OUTPUT.values())
  assert got == expected, (f'{len(got - expected)} plain outputs not in the golden file, '
                           f'{len(expected - got)} golden outputs missing')
