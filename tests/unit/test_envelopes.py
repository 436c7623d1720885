"""Documented API response envelopes in one raw message: unwrapped into their records.

Fails on the code before envelopes were read: each of these messages became one dead letter
(`order_id` / `id`: Field required), the records inside it lost to the sinks.
"""
import json

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from schemas.api_envelopes import MAX_ENVELOPE_RECORDS
from schemas.normalized import dead_letter_id
from tests.unit import fakes
from transforms.dead_letter import decode_kafka_message_envelope
from transforms.metrics import NAMESPACE
from transforms.normalize import NORMALIZERS
from transforms.privacy import PrivacyShield, _PrivacyShieldFn
from transforms.validate import ValidateRecords, ValidRecord, _ValidateFn, parse_raw

# (source, fixture file, where its records are): every documented response in the test data.
ENVELOPE_FIXTURES = [
    ('daraz', 'daraz_get_order.json', lambda d: [d['data']]),
    ('daraz', 'daraz_get_orders.json', lambda d: d['data']['orders']),
    ('shopify', 'shopify_order.json', lambda d: [d['order']]),
    ('shopify', 'shopify_order_2024-04.json', lambda d: [d['order']]),
    ('shopify', 'shopify_orders_page.json', lambda d: d['orders']),
    ('shopify', 'shopify_orders_page_2024-04.json', lambda d: d['orders']),
    ('facebook', 'facebook_page_posts.json', lambda d: d['data']),
    ('facebook', 'facebook_page_posts_shares.json', lambda d: d['data']),
    ('tiktok', 'tiktok_videos_example.json', lambda d: d['data']['videos']),
    ('tiktok', 'tiktok_display_video_list.json', lambda d: d['data']['videos']),
]

# Documented error bodies (the API clients' tests use the same ones).
ERROR_BODIES = [
    ('daraz', {'code': 'IllegalAccessToken', 'type': 'ISV', 'message': 'Invalid access token',
               'request_id': '0ba2887315178178017221014'}, 'daraz API error IllegalAccessToken (ISV)'),
    ('facebook', {'error': {'message': 'Invalid OAuth access token for ann@example.com',
                            'type': 'OAuthException', 'code': 190, 'fbtrace_id': 'EJplcsCHuLu'}},
     'Graph API error 190 (OAuthException)'),
    ('tiktok', {'data': {}, 'error': {'code': 'access_token_invalid', 'message': 'expired',
                                      'log_id': '20220829194722CBE87ED59D524E727021'}},
     'TikTok API error access_token_invalid'),
    ('shopify', {'errors': 'Exceeded 2 calls per second for api client'},
     'Shopify API error without a code (errors)'),
]


def _fn():
  fn = _ValidateFn(fakes.validation_config(), fakes.dead_letter_config())
  fn.setup()
  return fn


def _counter(result, name):
  counters = result.metrics().query(
      MetricsFilter().with_namespace(NAMESPACE).with_name(name))['counters']
  return sum(c.committed for c in counters)


@pytest.mark.parametrize('source,name,records_of', ENVELOPE_FIXTURES,
                         ids=[f[1] for f in ENVELOPE_FIXTURES])
def test_a_documented_response_is_unwrapped_into_the_records_it_holds(source, name, records_of):
  body = fakes.load(name)
  expected = records_of(body)
  outputs = list(_fn().process(fakes.raw_record(source, body, 5)))
  assert all(isinstance(o, ValidRecord) for o in outputs), [getattr(o, 'value', o) for o in outputs]
  assert len(outputs) == len(expected) >= 1
  # Each record is what it is as a message on its own.
  for out, record in zip(outputs, expected):
    alone = parse_raw(fakes.raw_record(source, record, 5), 2_000_000)
    assert out.model == alone.model
    assert out.raw.offset == 5 and out.raw.topic == alone.raw.topic
    assert json.loads(out.raw.value) == record      # the record alone, for its dead letters
  assert len({o.sub_id for o in outputs}) == len(outputs) and all(o.sub_id for o in outputs)


def test_records_of_an_envelope_get_the_event_ids_they_get_alone():
  envelopes = [fakes.raw_record(source, fakes.load(name), i)
               for i, (source, name, _) in enumerate(ENVELOPE_FIXTURES)]
  shield = fakes.test_shield()
  alone = []
  for source, name, records_of in ENVELOPE_FIXTURES:
    ids = []
    for record in records_of(fakes.load(name)):
      valid = parse_raw(fakes.raw_record(source, record), 2_000_000)
      ids += [r.event_id for r in NORMALIZERS[type(valid.model)](
          shield, valid, valid.model, fakes.FIXED_NOW)]
    assert len(set(ids)) == len(ids), f'{name}: each record its own event id'
    alone += ids          # (the Shopify fixtures share an order: same id in two of them)
  p = TestPipeline()
  valid = p | beam.Create(envelopes) | ValidateRecords(fakes.validation_config(),
                                                       fakes.dead_letter_config())
  shielded = valid.valid | PrivacyShield(fakes.privacy_config(), fakes.dead_letter_config())
  assert_that(shielded.records | beam.Map(lambda r: r.event_id), equal_to(alone), label='SameIds')
  assert_that(valid.dead_letters, equal_to([]), label='NoDeadLetters')
  result = p.run()
  result.wait_until_finish()
  assert _counter(result, 'num_envelopes') == len(envelopes)
  assert _counter(result, 'num_envelope_records') == _counter(result, 'num_valid')


def test_a_bad_record_of_an_envelope_fails_alone_with_its_own_dead_letter_id():
  body = fakes.load('daraz_get_orders.json')
  good = body['data']['orders'][0]
  body['data']['orders'] = [good, dict(good, order_id='A-1'), dict(good, order_id=7, price='x'),
                            dict(good, order_id=8)]
  raw = fakes.raw_record('daraz', body, 42)
  outputs = list(_fn().process(raw))
  valid = [o for o in outputs if isinstance(o, ValidRecord)]
  dead = [o.value for o in outputs if not isinstance(o, ValidRecord)]
  assert [v.sub_id for v in valid] == ['data.orders.0', 'data.orders.3']
  assert len(dead) == 2 and len({d.dead_letter_id for d in dead}) == 2
  assert [d.error_class for d in dead] == ['ValidationError', 'ValidationError']
  assert 'data.orders.1.order_id' in dead[0].error_message
  assert 'data.orders.2.price' in dead[1].error_message
  assert dead[0].dead_letter_id == dead_letter_id('validate', raw.topic, 0, 42, 'data.orders.1')
  assert all(d.offset == 42 for d in dead)
  # Each keeps the record alone (replayable as a message of its own), not the whole response.
  kept = decode_kafka_message_envelope(fakes.test_cipher().open_dead_letter(dead[1]))
  assert json.loads(kept['value'])['order_id'] == 7 and kept['offset'] == 42
  assert kept['headers'] == list(raw.headers)


def test_privacy_dead_letters_of_records_of_one_envelope_have_distinct_ids():
  outputs = list(_fn().process(fakes.raw_record('facebook', fakes.load('facebook_page_posts.json'), 3)))
  fn = _PrivacyShieldFn(fakes.privacy_config(), fakes.dead_letter_config())
  fn.setup()

  class Unknown:   # a model no normalizer knows: the privacy stage's KeyError path
    pass
  dead = [out.value for record in outputs[:3]
          for out in fn.process(record._replace(model=Unknown()))]
  assert len(dead) == 3 and len({d.dead_letter_id for d in dead}) == 3
  assert {d.stage for d in dead} == {'privacy'}


@pytest.mark.parametrize('source,body,named', ERROR_BODIES, ids=[e[0] for e in ERROR_BODIES])
def test_an_api_error_response_is_one_dead_letter_naming_the_error(source, body, named):
  [out] = list(_fn().process(fakes.raw_record(source, body, 1)))
  dead = out.value
  assert dead.error_class == 'ApiErrorResponse' and dead.stage == 'validate'
  assert dead.error_message.startswith(named), dead.error_message
  # The API's free text stays in the sealed payload only.
  assert 'Invalid' not in dead.error_message and 'expired' not in dead.error_message
  assert 'Exceeded' not in dead.error_message


def test_an_envelope_beyond_the_cap_is_one_dead_letter():
  post = fakes.load('facebook_page_posts.json')['data'][0]
  body = {'data': [dict(post, id=f'1_{i}') for i in range(MAX_ENVELOPE_RECORDS + 1)]}
  [out] = list(_fn().process(fakes.raw_record('facebook', body, 1)))
  assert out.value.error_class == 'EnvelopeTooLarge'
  assert f'{MAX_ENVELOPE_RECORDS + 1:,} records' in out.value.error_message
  at_cap = {'data': body['data'][:MAX_ENVELOPE_RECORDS]}
  assert len(list(_fn().process(fakes.raw_record('facebook', at_cap, 1)))) == MAX_ENVELOPE_RECORDS


def test_an_empty_page_holds_no_record_and_is_counted():
  raws = [fakes.raw_record('shopify', {'orders': []}, 1),
          fakes.raw_record('tiktok', {'data': {'videos': [], 'cursor': 0, 'has_more': False},
                                      'error': {'code': 'ok', 'message': ''}}, 2),
          fakes.raw_record('shopify', fakes.load('shopify_orders_page.json'), 3),
          fakes.raw_record('shopify', {'id': 'x'}, 4)]
  p = TestPipeline()
  result = p | beam.Create(raws) | ValidateRecords(fakes.validation_config(), fakes.dead_letter_config())
  assert_that(result.valid | beam.Map(lambda v: v.raw.offset), equal_to([3]), label='Valid')
  assert_that(result.dead_letters | beam.Map(lambda d: d.offset), equal_to([4]), label='Dead')
  run = p.run()
  run.wait_until_finish()
  counts = {n: _counter(run, n) for n in ('num_valid', 'num_invalid', 'num_envelopes',
                                          'num_envelope_records')}
  assert counts == {'num_valid': 1, 'num_invalid': 1, 'num_envelopes': 3,
                    'num_envelope_records': 1}
  # Messages read = valid + invalid - records from envelopes + envelopes.
  assert len(raws) == (counts['num_valid'] + counts['num_invalid']
                       - counts['num_envelope_records'] + counts['num_envelopes'])


def test_a_body_that_is_no_documented_envelope_keeps_the_records_own_error():
  for source, body in (('daraz', {'code': '0', 'data': [{'order_item_id': 1}]}),   # GetOrderItems
                       ('shopify', {'orders': 'none'}), ('facebook', {'data': {'id': '1_2'}}),
                       ('tiktok', {'data': [{'id': 1}]})):
    [out] = list(_fn().process(fakes.raw_record(source, body, 1)))
    assert out.value.error_class == 'ValidationError', (source, out.value.error_message)
    assert 'Field required' in out.value.error_message
