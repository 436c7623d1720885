"""Hostile input (issue 9): no record can crash a worker, stall it for seconds, or carry PII past
the shield. Numbers of any size, text of any shape."""
import gc
import json
import random
import time
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from pydantic import ValidationError

from schemas.normalized import DeadLetter
from schemas.sources import DarazOrder, FacebookPost, ShopifyOrder, TikTokVideo
from tests.unit import fakes
from transforms.validate import ValidRecord, _ValidateFn


HUGE = '1' + '0' * 400          # a JSON integer far beyond any float


def _validate_one(source, payload: bytes):
  fn = _ValidateFn(fakes.validation_config(), fakes.dead_letter_config())
  fn.setup()
  [out] = list(fn.process(fakes.raw_record(source, payload, 5)))
  return out


# --- numbers: every number → time / decimal / id conversion is bounded --------------------------

@pytest.mark.parametrize('source,payload,path', [
    ('facebook', f'{{"id":"1_2","message":"x","created_time":{HUGE}}}', 'created_time'),
    ('facebook', f'{{"id":"1_2","message":"x","created_time":-{HUGE}}}', 'created_time'),
    ('facebook', '{"id":"1_2","created_time":1e400}', 'created_time'),
    ('facebook', '{"id":"1_2","created_time":1e300}', 'created_time'),
    ('tiktok', f'{{"id":1,"create_time":"{HUGE}"}}', 'create_time'),
    ('tiktok', f'{{"id":{HUGE}}}', 'id'),
    ('tiktok', '{"id":1,"like_count":100000000000000000000000000}', 'like_count'),
    ('shopify', f'{{"id":1,"total_price":"1e999999999"}}', 'total_price'),
    ('shopify', f'{{"id":1,"total_price":{HUGE}}}', 'total_price'),
    ('shopify', '{"id":1,"total_price":1e400}', 'total_price'),
    ('shopify', '{"id":1,"line_items":[{"id":2,"quantity":1e30}]}', 'line_items.0.quantity'),
    ('shopify', f'{{"id":1,"line_items":[{{"id":2,"quantity":{HUGE}}}]}}', 'line_items.0.quantity'),
    ('daraz', f'{{"order_id":"1","price":"-{HUGE}.5"}}', 'price'),
    ('daraz', f'{{"order_id":"1","order_items":[{{"order_item_id":"1","created_at":{HUGE}}}]}}',
     'order_items.0.created_at'),
])
def test_huge_numbers_are_dead_letters_naming_the_field(source, payload, path):
  out = _validate_one(source, payload.encode())
  assert out.tag == 'dead_letter', out
  dead: DeadLetter = out.value
  assert dead.error_class == 'ValidationError' and path in dead.error_message


def test_overflow_is_a_validation_error_at_its_source():
  with pytest.raises(ValidationError):
    FacebookPost.model_validate_json(f'{{"id":"1_2","message":"x","created_time":{HUGE}}}')
  with pytest.raises(ValidationError):
    DarazOrder.model_validate({'order_id': '1', 'created_at': 10**400})
  with pytest.raises(ValidationError):
    ShopifyOrder.model_validate({'id': 1, 'total_price': 10**400})


def test_numbers_in_range_still_convert():
  video = TikTokVideo.model_validate_json(b'{"id":7301388525814961198,"create_time":1764316800,'
                                          b'"like_count":9007199254740993}')
  assert video.id == '7301388525814961198' and video.like_count == 9007199254740993
  assert video.create_time.year == 2025
  order = ShopifyOrder.model_validate({'id': 1, 'total_price': '99999999999.99'})
  assert str(order.total_price) == '99999999999.99'


# --- text: linear-time scanning -----------------------------------------------------------------

def _seconds(fn, *args):
  started = time.process_time()
  fn(*args)
  return time.process_time() - started


@pytest.mark.parametrize('text', ['a' * 20000 + '@', 'a.' * 10000 + '@', ('a' * 60 + '@') * 300,
                                  '@' + 'a-' * 10000, '1 ' * 20000, '0' * 40000 + 'x',
                                  '01712 ' * 5000, 'House 1 ' * 4000])
def test_scrubbing_adversarial_text_is_fast(text):
  shield = fakes.test_shield()
  assert min(_seconds(shield.text, text, ['aaa', 'House']) for _ in range(2)) < 0.05


# --- the last-resort catch: any exception of one record is its dead letter -----------------------

def _counter(run, name):
  from apache_beam.metrics.metric import MetricsFilter
  from transforms.metrics import NAMESPACE
  counters = run.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name(name))
  return sum(c.committed for c in counters['counters'])


class _Surprise(Exception):
  """Not one of the errors any stage expects."""


def test_validate_routes_an_unexpected_exception_to_the_dead_letters(monkeypatch):
  import apache_beam as beam
  from apache_beam.testing.test_pipeline import TestPipeline
  from apache_beam.testing.util import assert_that, equal_to
  from transforms import validate

  real = validate.parse_message

  def parse(raw, limit):
    if raw.offset == 2:
      raise _Surprise('boom for 01712345678')
    if raw.offset == 3:
      raise ZeroDivisionError('division by zero')
    return real(raw, limit)
  monkeypatch.setattr(validate, 'parse_message', parse)
  records = [fakes.raw_record('tiktok', {'id': i, 'video_description': 'hi'}, i) for i in range(1, 5)]
  p = TestPipeline()
  result = p | beam.Create(records) | validate.ValidateRecords(fakes.validation_config(),
                                                               fakes.dead_letter_config())
  assert_that(result.valid | beam.Map(lambda v: v.raw.offset), equal_to([1, 4]), label='Valid')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.offset, d.stage, d.error_class,
                                                        '1712' in d.error_message)),
              equal_to([(2, 'validate', '_Surprise', False),
                        (3, 'validate', 'ZeroDivisionError', False)]), label='DeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_unexpected_validate') == 2
  assert _counter(run, 'num_invalid') == 2


def test_privacy_routes_an_unexpected_exception_to_the_dead_letters(monkeypatch):
  import apache_beam as beam
  from apache_beam.testing.test_pipeline import TestPipeline
  from apache_beam.testing.util import assert_that, equal_to
  from schemas.sources import TikTokVideo
  from transforms import normalize, privacy
  from transforms.validate import ValidateRecords

  real = normalize.NORMALIZERS[TikTokVideo]

  def shield(s, rec, video, now):
    if rec.raw.offset == 2:
      raise _Surprise('surprise')
    if rec.raw.offset == 3:
      raise LookupError('lookup')
    yield from real(s, rec, video, now)
  monkeypatch.setitem(normalize.NORMALIZERS, TikTokVideo, shield)
  records = [fakes.raw_record('tiktok', {'id': i, 'video_description': 'hi'}, i) for i in range(1, 5)]
  p = TestPipeline()
  valid = (p | beam.Create(records)
           | ValidateRecords(fakes.validation_config(), fakes.dead_letter_config())).valid
  result = valid | privacy.PrivacyShield(fakes.privacy_config(), fakes.dead_letter_config())
  assert_that(result.records | beam.Map(lambda r: r.lineage.offset), equal_to([1, 4]), label='Records')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.offset, d.stage, d.error_class)),
              equal_to([(2, 'privacy', '_Surprise'), (3, 'privacy', 'LookupError')]),
              label='DeadLetters')
  run = p.run()
  run.wait_until_finish()
  assert _counter(run, 'num_unexpected_privacy') == 2


# --- a time bound per record for every stage, on adversarial text (hypothesis) ------------------

_ALL_DIGITS = ''.join(chr(c) for c in range(0x20000) if unicodedata.decimal(chr(c), None) is not None)
_ALL_DASHES = ''.join(chr(c) for c in range(0x20000) if unicodedata.category(chr(c)) == 'Pd')
_UNITS = ['a', '@', 'a@', '@a.', 'a.', 'a-', '0', '1 ', '1-', '0.', '01712 ', '01712345678 ',
          '+88 0', '+8 ', '(+880) 1', '০১৭', '১২৩৪৫৬৭ ', 'House 1, ', 'Flat 7B ', 'বাড়ি ১২, ',
          'aaa ', 'ali ', 'Rahim Uddin ', 'ß', 'İ', '\u200b', '\u00a0', '\u2013', 'x@y.zz ', '#1 ',
          '@@', '..', '9' * 40, 'a' * 63 + '@', '1234567 ', '2024-04-10 ']
_PER_RECORD_CPU_S = 0.05        # generous for a loaded 2-core box; the old code took seconds


@st.composite
def _hostile_texts(draw):
  kind = draw(st.sampled_from(['run', 'mix', 'digits_and_dashes']))
  size = draw(st.integers(1, 40_000))
  if kind == 'run':
    unit = draw(st.sampled_from(_UNITS))
    return (unit * (size // len(unit) + 1))[:size]
  rng = random.Random(draw(st.integers(0, 2 ** 32)))
  if kind == 'mix':
    units = draw(st.lists(st.sampled_from(_UNITS), min_size=1, max_size=6))
    return ''.join(rng.choice(units) for _ in range(size // 4 + 1))[:size]
  alphabet = _ALL_DIGITS + _ALL_DASHES + ' +()./'
  return ''.join(rng.choice(alphabet) for _ in range(size))


def _hostile_payloads(text: str, name: str, count: int, depth: int, number: str):
  nested = '[' * depth + ']' * depth
  names = {'first_name': name[:40], 'last_name': name[40:80], 'name': name, 'company': name}
  return [
      ('tiktok', json.dumps({'id': 1, 'username': name[:60], 'video_description': text,
                             'hashtag_names': [text[:80]] * min(count, 200),
                             'video_mention_list': [name[:30]] * 5})),
      ('facebook', json.dumps({'id': '1_2', 'message': text, 'from': {'id': '1', 'name': name},
                               'comments': {'data': [{'id': f'2_{i}', 'message': text[:2000],
                                                      'from': {'id': str(i), 'name': name[:40]}}
                                                     for i in range(count)]}})),
      ('shopify', json.dumps({'id': 1, 'note': text, 'customer': {'id': 2, **names},
                              'shipping_address': dict(names, city=text[:300]),
                              'billing_address': dict(names, address1=text),
                              'line_items': [{'id': i, 'title': text[:300], 'quantity': 1,
                                              'price': '1.00'} for i in range(count)]})),
      ('daraz', json.dumps({'order_id': '1', 'buyer_note': text, 'customer_first_name': name,
                            'address_shipping': {'first_name': name, 'city': text[:300]},
                            'order_items': [{'order_item_id': str(i), 'name': text[:300]}
                                            for i in range(count)]})),
      ('shopify', '{"id":1,"client_details":' + nested + ',"total_price":' + number + '}'),
      ('facebook', '{"id":"1_2","created_time":' + number + ',"message":' + json.dumps(text) + '}'),
  ]


def _cpu(fn):
  """(result, CPU seconds), garbage collection paused (a collection is not the record's cost);
  the best of two runs when the first is over the bound (another process's load)."""
  gc.disable()
  try:
    started = time.process_time()
    result = list(fn())
    spent = time.process_time() - started
    if spent > _PER_RECORD_CPU_S:
      started = time.process_time()
      result = list(fn())
      spent = min(spent, time.process_time() - started)
  finally:
    gc.enable()
  return result, spent


@pytest.fixture(scope='module')
def stage_fns():
  from transforms.enrich import _EnrichFn
  from transforms.privacy import _PrivacyShieldFn
  validate = _ValidateFn(fakes.validation_config(), fakes.dead_letter_config())
  privacy = _PrivacyShieldFn(fakes.privacy_config(), fakes.dead_letter_config())
  enrich = _EnrichFn(fakes.enrich_config(), fakes.dead_letter_config())
  for fn in (validate, privacy, enrich):
    fn.setup()
  enrich.start_bundle()
  return validate, privacy, enrich


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=_hostile_texts(), name=_hostile_texts(), count=st.integers(0, 300),
       depth=st.integers(0, 5000), number=st.sampled_from(['1', HUGE, '-' + HUGE, '1e400', '1e-400',
                                                           '9' * 5000, '0.' + '0' * 5000 + '1']))
def test_every_stage_takes_milliseconds_per_record_on_hostile_input(stage_fns, text, name, count,
                                                                    depth, number):
  validate, privacy, enrich = stage_fns
  for source, payload in _hostile_payloads(text, name[:120], count, depth, number):
    raw = fakes.raw_record(source, payload.encode('utf-8', 'surrogatepass'))
    [valid], spent = _cpu(lambda: validate.process(raw))
    assert spent < _PER_RECORD_CPU_S, ('validate', source, spent)
    if not isinstance(valid, ValidRecord):
      assert valid.tag == 'dead_letter'
      continue
    shielded, spent = _cpu(lambda: privacy.process(valid))
    assert spent < _PER_RECORD_CPU_S, ('privacy', source, spent)
    for record in shielded:
      if getattr(record, 'tag', None) == 'dead_letter':
        continue
      _, spent = _cpu(lambda: enrich.process(record))
      assert spent < _PER_RECORD_CPU_S, ('enrich', source, spent)
