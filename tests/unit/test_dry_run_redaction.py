"""An agent's --dry-run prints in clear only what the pipeline itself keeps in clear.

The oracle is the pipeline's contract, read independently of agents/redaction.py: each fixture
object is validated with its source model and every value of a field whose policy
(transforms/privacy_policy.py) is HASH or DROP is collected; none may appear in the dry-run
line. (COARSEN fields are hidden too, but their city may repeat inside the kept `city`: the
Daraz example's "Singapore-Singapore-500001" holds its post code.)"""
import io
import json

import pytest
from pydantic import BaseModel

from agents import demo
from agents.runner import DryRunSink
from agents.topics import load_topics
from schemas.registry import SOURCE_MODELS
from tests.unit import fakes
from transforms.privacy_policy import POLICY, Policy

# Shorter values ('1', 'BD', 'Mr') occur by chance in other fields and prove nothing.
MIN_CHARS = 4


def _values(obj: BaseModel) -> tuple[set[str], set[str]]:
  """(every scalar under a field the pipeline hashes or drops, every scalar it keeps as it is)
  of the validated object."""
  hidden, kept = set(), set()

  def scalars(value):
    if isinstance(value, BaseModel):
      for name in type(value).model_fields:
        yield from scalars(getattr(value, name))
    elif isinstance(value, dict):
      for v in value.values():
        yield from scalars(v)
    elif isinstance(value, (list, tuple)):
      for v in value:
        yield from scalars(v)
    elif value is not None and not isinstance(value, bool):
      yield str(value)

  def walk(model_obj):
    for name in type(model_obj).model_fields:
      value = getattr(model_obj, name)
      policy = POLICY.get((type(model_obj).__name__, name), Policy.KEEP)
      if policy in (Policy.HASH, Policy.DROP):
        hidden.update(s for s in scalars(value) if len(s) >= MIN_CHARS)
      elif isinstance(value, BaseModel):
        walk(value)
      elif isinstance(value, (list, tuple)) and value and isinstance(value[0], BaseModel):
        for v in value:
          walk(v)
      elif policy is Policy.KEEP:
        kept.update(scalars(value))
  walk(obj)
  return hidden, kept


def _keys(value) -> set[str]:
  """The JSON keys in `value`: the API docs' examples fill some fields with their own names
  ("last_name": "last_name"), which the dry run prints as keys."""
  if isinstance(value, dict):
    return set(value) | {k for v in value.values() for k in _keys(v)}
  if isinstance(value, list):
    return {k for v in value for k in _keys(v)}
  return set()


def _dry_run(source: str, obj) -> tuple[str, dict]:
  out = io.StringIO()
  DryRunSink(load_topics(), out, lambda: fakes.FIXED_NOW).emit(source, 'k', obj)
  return out.getvalue(), json.loads(out.getvalue())['value']


def _demo_payloads(n=400):
  data = demo.generate(seed=11, events=n, malformed_share=0.0, now=demo.DEFAULT_NOW)
  for e in data.events:
    source = dict(e.headers)['source'].decode()
    if source in ('tiktok', 'facebook', 'shopify', 'daraz'):
      yield source, json.loads(e.value)


def test_no_hashed_or_dropped_value_of_any_fixture_is_printed():
  payloads = fakes.fixture_payloads() + list(_demo_payloads())
  checked = 0
  for source, obj in payloads:
    hidden, kept = _values(SOURCE_MODELS[source].model_validate(obj))
    # A value the pipeline keeps elsewhere is no leak of the dry run: a Graph post id
    # (`<page id>_<post id>`, kept) holds the page's id (`from.id`, hashed).
    hidden = {v for v in hidden - _keys(obj) if not any(v in k for k in kept)}
    text, _ = _dry_run(source, obj)
    leaked = sorted(v for v in hidden if v in text)
    assert not leaked, (source, leaked)
    checked += len(hidden)
  assert checked > 1000          # the fixtures hold PII for the check to bite on


REVIEWED = [   # the review's examples: pseudonymized or dropped by the pipeline, printed in clear
    ('facebook', {'id': '1_2', 'from': {'id': '100004123456789', 'name': 'Rahim Uddin'},
                  'created_time': '2026-11-28T10:00:00+0000'}, '100004123456789'),
    ('shopify', {'id': 1, 'customer': {'id': 115310627314723954}}, '115310627314723954'),
    ('daraz', {'order_id': 5, 'order_items': [{'order_item_id': 6, 'buyer_id': 400123456}]},
     '400123456'),
    ('daraz', {'order_id': 5, 'address_shipping': {'phone': 8801712345678, 'post_code': '1209'}},
     '8801712345678'),
    ('daraz', {'order_id': 5, 'address_shipping': {'post_code': '1209'}}, '1209'),
    ('tiktok', {'id': 7, 'open_id': 'abc-open-id-123', 'union_id': 'union-456-xyz'},
     'abc-open-id-123'),
    ('tiktok', {'id': 7, 'open_id': 'abc-open-id-123', 'union_id': 'union-456-xyz'},
     'union-456-xyz'),
    ('tiktok', {'id': 7, 'creator': {'phone_number': 8801712345678}}, '8801712345678'),
]


@pytest.mark.parametrize('source, obj, value', REVIEWED)
def test_ids_the_pipeline_pseudonymizes_and_unknown_fields_are_not_printed(source, obj, value):
  text, _ = _dry_run(source, obj)
  assert value not in text, text


def test_kept_ids_times_amounts_and_counts_are_still_shown():
  order = fakes.load('shopify_order.json')['order']
  _, shown = _dry_run('shopify', order)
  for field in ('id', 'created_at', 'total_price', 'currency', 'financial_status', 'name'):
    assert shown[field] == order[field], field
  assert [li['id'] for li in shown['line_items']] == [li['id'] for li in order['line_items']]
  assert [li['quantity'] for li in shown['line_items']] == [
      li['quantity'] for li in order['line_items']]
  assert shown['customer']['id'] != order['customer']['id']          # HASH
  assert shown['email'].startswith('[redacted')

  daraz = dict(fakes.load('daraz_get_orders.json')['data']['orders'][0])
  _, shown = _dry_run('daraz', daraz)
  assert shown['order_id'] == daraz['order_id'] and shown['price'] == daraz['price']
  assert shown['statuses'] == daraz['statuses'] and shown['created_at'] == daraz['created_at']

  video = fakes.load('tiktok_videos_example.json')['data']['videos'][0]
  _, shown = _dry_run('tiktok', video)
  kept = {k for k in video if k in ('id', 'create_time', 'like_count', 'view_count',
                                    'region_code', 'hashtag_names')}
  assert kept and all(shown[k] == video[k] for k in kept)
  assert 'video_description' not in video or shown['video_description'] != video[
      'video_description']


def test_an_object_of_an_unknown_shape_keeps_its_shape_only():
  _, shown = _dry_run('tiktok', {'id': 7, 'extra': {'a': [1, 'xy'], 'b': None, 'c': True}})
  assert shown == {'id': 7, 'extra': {'a': ['[redacted]', '[redacted 2 chars]'], 'b': None,
                                      'c': '[redacted]'}}
