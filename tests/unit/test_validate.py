"""ValidateRecords: every message ends valid or as a counted, encrypted dead letter; none crashes."""
import json

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_empty
from hypothesis import HealthCheck, given, settings, strategies as st

from schemas.envelope import RawRecord
from schemas.normalized import DeadLetter
from tests.unit import fakes
from transforms.dead_letter import decode_kafka_message_envelope
from transforms.metrics import NAMESPACE
from transforms.validate import ValidateRecords, ValidRecord, _ValidateFn


def _counter(result, name):
  counters = result.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(name))['counters']
  return sum(c.committed for c in counters)


def test_all_fixtures_are_valid():
  records = fakes.fixture_records()
  p = TestPipeline()
  result = p | beam.Create(records) | ValidateRecords(fakes.validation_config(), fakes.dead_letter_config())
  assert_that(result.valid | beam.Map(lambda v: (v.raw.offset, type(v.model).__name__)),
              equal_to([(r.offset, {'tiktok': 'TikTokVideo', 'facebook': 'FacebookPost',
                                    'shopify': 'ShopifyOrder', 'daraz': 'DarazOrder'}[r.source])
                        for r in records]), label='AllValid')
  assert_that(result.dead_letters, is_empty(), label='NoDeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_valid') == len(records)
  assert _counter(run, 'num_invalid') == 0


def _bad_records():
  good = fakes.load('shopify_order.json')['order']
  return [
      fakes.raw_record('shopify', b'{"id": 1, "line_items": [{"id": 2, "quantity": "x"}]}', 1),
      fakes.raw_record('shopify', good, 2, headers=[('schema_version', b'7')]),
      fakes.raw_record('daraz', None, 3),
      fakes.raw_record('tiktok', b'\xff\xfe not json', 4),
      fakes.raw_record('instagram', b'{}', 5),
      fakes.raw_record('facebook', json.dumps(good).encode()[:50], 6),
  ]


def test_bad_messages_become_dead_letters_with_path_and_coordinates():
  p = TestPipeline()
  missing_header = fakes.raw_record('shopify', fakes.load('shopify_order.json')['order'], 7, headers=[])
  result = p | beam.Create(_bad_records() + [missing_header]) | ValidateRecords(
      fakes.validation_config(), fakes.dead_letter_config())
  assert_that(result.valid | beam.Map(lambda v: (v.raw.offset, v.schema_version)),
              equal_to([(7, '1')]), label='MissingHeaderMeansVersion1')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.offset, d.error_class, d.stage)),
              equal_to([(1, 'ValidationError', 'validate'), (2, 'UnknownSchemaVersion', 'validate'),
                        (3, 'EmptyPayload', 'validate'), (4, 'ValidationError', 'validate'),
                        (5, 'UnknownSource', 'validate'), (6, 'ValidationError', 'validate')]),
              label='DeadLetters')

  def check_details(dead_letters):
    by_offset = {d.offset: d for d in dead_letters}
    assert 'line_items.0.quantity' in by_offset[1].error_message
    assert "'7'" in by_offset[2].error_message
    for d in dead_letters:
      assert d.topic.startswith('raw.') and d.partition == 0
      assert d.failed_at == fakes.FIXED_NOW and d.payload_key_id == 'test-dlq-1'
      assert d.kafka_timestamp_ms == 1_764_000_000_000
  assert_that(result.dead_letters, check_details, label='DeadLetterDetails')
  p.run().wait_until_finish()


def test_dead_letter_payload_is_encrypted_and_decrypts_to_the_original():
  raw = fakes.raw_record('shopify', b'{"email": "canary@example.com", "id": "x"}', 9)
  fn = _ValidateFn(fakes.validation_config(), fakes.dead_letter_config())
  fn.setup()
  [tagged] = list(fn.process(raw))
  dead: DeadLetter = tagged.value
  assert b'canary' not in dead.payload_ciphertext
  message = decode_kafka_message_envelope(
      fakes.test_cipher().open_dead_letter(dead))
  assert message['value'] == raw.value and message['key'] == raw.key
  assert message['headers'] == list(raw.headers)


# --- property tests: no input crashes; every bad input is a dead letter ---------------------

_json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                       st.text(max_size=30))
_json_values = st.recursive(_json_leaf, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=10), kids, max_size=4)),
    max_leaves=20)
_fixture_bytes = [json.dumps(p).encode() for _, p in fakes.fixture_payloads()[:6]]


@st.composite
def _payloads(draw):
  kind = draw(st.sampled_from(['bytes', 'json', 'truncated', 'deep', 'huge', 'nan', 'wrongtype']))
  if kind == 'bytes':
    return draw(st.binary(max_size=200))
  if kind == 'json':
    return json.dumps(draw(_json_values)).encode()
  if kind == 'truncated':
    data = draw(st.sampled_from(_fixture_bytes))
    return data[:draw(st.integers(0, len(data) - 1))]
  if kind == 'deep':
    depth = draw(st.integers(100, 3000))
    return b'[' * depth + b']' * draw(st.integers(0, depth))
  if kind == 'huge':
    return json.dumps({'id': 1, 'video_description': 'x' * draw(st.integers(1, 3_000_000))}).encode()
  if kind == 'nan':
    return b'{"id": 1, "video_duration": NaN, "total_price": Infinity}'
  field = draw(st.sampled_from(['id', 'video_id', 'order_id', 'line_items', 'created_at', 'comments']))
  return json.dumps({field: draw(_json_values)}).encode()


_raw_records = st.builds(
    RawRecord, source=st.sampled_from(['tiktok', 'facebook', 'shopify', 'daraz', 'x']),
    topic=st.just('raw.test'), partition=st.integers(0, 2), offset=st.integers(0, 10**12),
    timestamp_ms=st.integers(0, 2 * 10**12),
    key=st.one_of(st.none(), st.binary(max_size=20)),
    value=st.one_of(st.none(), _payloads()),
    headers=st.lists(st.tuples(st.sampled_from(['schema_version', 'fetched_at', 'x']),
                               st.one_of(st.binary(max_size=20), st.sampled_from([b'1', b'2']))),
                     max_size=3).map(tuple))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_raw_records)
def test_no_input_crashes_and_each_yields_exactly_one_output(raw):
  """Exactly one, unless the message is a documented response envelope (test_envelopes.py):
  then one output per record it holds, each with its own sub id."""
  fn = _ValidateFn(fakes.validation_config(max_payload_bytes=2_000_000), fakes.dead_letter_config())
  fn.setup()
  outputs = list(fn.process(raw))
  sub_ids = [o.sub_id if isinstance(o, ValidRecord) else o.value.dead_letter_id for o in outputs]
  assert len(outputs) == 1 or len(set(sub_ids)) == len(outputs)
  for out in outputs:
    if isinstance(out, ValidRecord):
      assert out.raw is raw or out.sub_id
    else:
      assert out.tag == 'dead_letter' and isinstance(out.value, DeadLetter)
      assert out.value.offset == raw.offset and out.value.error_message


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_raw_records, min_size=5, max_size=25))
def test_in_a_pipeline_every_bad_input_is_counted(raws):
  raws = [r._replace(offset=i) for i, r in enumerate(raws)]
  fn = _ValidateFn(fakes.validation_config(), fakes.dead_letter_config())
  fn.setup()
  outputs = {r.offset: list(fn.process(r)) for r in raws}
  expected_bad = sorted(offset for offset, outs in outputs.items() for o in outs
                        if not isinstance(o, ValidRecord))
  expected_good = sorted(offset for offset, outs in outputs.items() for o in outs
                         if isinstance(o, ValidRecord))
  p = TestPipeline()
  result = p | beam.Create(raws) | ValidateRecords(fakes.validation_config(), fakes.dead_letter_config())
  assert_that(result.dead_letters | beam.Map(lambda d: d.offset), equal_to(expected_bad),
              label='BadOnesInDlq')
  assert_that(result.valid | beam.Map(lambda v: v.raw.offset),
              equal_to(expected_good), label='GoodOnesValid')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_invalid') == len(expected_bad)
