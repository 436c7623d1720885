"""Canary: known emails, phones (every writing) and names go through the whole chain and appear
in no output — posts, orders or dead letters — in any form (raw, digits only, lowercased)."""
import json
import re

import apache_beam as beam
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that

from schemas.envelope import RawRecord
from schemas.normalized import to_row
from tests.unit import fakes
from transforms.process import ProcessRecords

EMAIL = 'Zubayer.Canary@Example.com'
PHONES = ['+880 1712-345678', '8801712345678', '01712345678', '017-1234-5678', '০১৭১২৩৪৫৬৭৮',
          '+৮৮০ ১৭১২ ৩৪৫ ৬৭৮']
FIRST, LAST = 'Zubayer', 'Canaryson'
FULL = f'{FIRST} {LAST}'
USERNAME = 'zubayer_canaryson'

# Every form a canary must not take in any output.
FORBIDDEN = sorted({EMAIL, EMAIL.lower(), 'zubayer.canary', FULL, FULL.lower(), LAST, LAST.lower(),
                    USERNAME, '1712345678', '01712345678', '8801712345678', '১৭১২৩৪৫৬৭৮'}
                   | set(PHONES) | {re.sub(r'\D', '', p) for p in PHONES if p.isascii()})


def _canary_records():
  phone_text = ' / '.join(PHONES)
  tiktok = {'id': 7301388525814961198, 'username': USERNAME, 'create_time': 1764316800,
            'video_description': f'DM {EMAIL} or call {phone_text} @{USERNAME} #sale #ঢাকা',
            'voice_to_text': f'my number is {PHONES[2]}', 'hashtag_names': ['sale', 'ঢাকা'],
            'video_mention_list': [USERNAME]}
  facebook = {'id': '111_222', 'created_time': '2026-11-28T10:00:00+0000',
              'message': f'Order via {EMAIL.upper()} — {FULL} — {PHONES[4]}',
              'from': {'id': '999', 'name': FULL},
              'story': f'{FULL} shared a post',
              'comments': {'data': [{'id': '222_333', 'message': f'{FULL}, call {PHONES[0]}!',
                                     'from': {'id': '998', 'name': FULL}}]}}
  address = {'first_name': FIRST, 'last_name': LAST, 'name': FULL,
             'address1': f'House 1, Road 2, {LAST} Lane', 'city': 'Dhaka', 'zip': '1207',
             'phone': PHONES[3], 'country': 'Bangladesh', 'country_code': 'BD',
             'latitude': 23.7, 'longitude': 90.4}
  shopify = {'id': 5700000009999, 'email': EMAIL, 'contact_email': f'  {EMAIL.upper()} ',
             'phone': PHONES[1], 'created_at': '2026-11-28T12:00:00+06:00', 'currency': 'BDT',
             'total_price': '1,299.00', 'note': f'Deliver to {FULL}, {PHONES[5]}, {EMAIL}',
             'tags': FULL, 'browser_ip': '192.0.2.1',
             'customer': {'id': 42, 'email': EMAIL, 'first_name': FIRST, 'last_name': LAST,
                          'phone': PHONES[2], 'default_address': address},
             'shipping_address': address, 'billing_address': address,
             'line_items': [{'id': 1, 'sku': 'SKU-1', 'title': 'Jamdani Saree', 'quantity': 1,
                             'price': '1299.00'}]}
  daraz_address = {'first_name': FIRST, 'last_name': LAST, 'phone': PHONES[4],
                   'phone2': PHONES[0], 'address1': f'{LAST} Bari, Mirpur', 'city': 'Dhaka',
                   'post_code': '1216', 'country': 'Bangladesh'}
  daraz = {'order_id': '491253082189999', 'created_at': '2026-11-28T12:00:00+06:00',
           'price': '450.00', 'customer_first_name': FIRST, 'customer_last_name': LAST,
           'buyer_note': f'{FULL} {PHONES[2]} {EMAIL}', 'remarks': FULL,
           'gift_message': PHONES[1], 'national_registration_number': '1990123456789',
           'recipient_info': {'identify_no': '1990123456789', 'passport_no': 'A1234567',
                              'detail_address': f'{LAST} Bari'},
           'address_shipping': daraz_address, 'address_billing': daraz_address,
           'order_items': [{'order_item_id': '1', 'name': 'Rice Cooker 1.8L', 'sku': 'SKU-9',
                            'buyer_id': '1001', 'personalization': FULL,
                            'tracking_code': PHONES[2], 'currency': 'BDT'}]}
  records = [fakes.raw_record('tiktok', tiktok, 1), fakes.raw_record('facebook', facebook, 2),
             fakes.raw_record('shopify', shopify, 3), fakes.raw_record('daraz', daraz, 4)]
  # Invalid records carrying canaries: they must reach the DLQ without leaking them.
  bad_shopify = dict(shopify, line_items=[{'id': 'x', 'quantity': EMAIL}])
  bad_daraz = dict(daraz, order_id=PHONES[2] + 'x')
  records += [fakes.raw_record('shopify', bad_shopify, 5), fakes.raw_record('daraz', bad_daraz, 6),
              fakes.raw_record('tiktok', f'{{"id": 1, "username": "{EMAIL}", '.encode(), 7)]
  # A record whose embedding fails: its dead letter carries the pseudonymized record.
  records.append(fakes.raw_record('tiktok', dict(tiktok, id=7301388525814961199,
                                                 video_description=f'FAILME {EMAIL}'), 8))
  return records


def _leaks(element) -> list[str]:
  text = json.dumps(to_row(element), ensure_ascii=False) + repr(element)
  lowered = text.lower()
  return [c for c in FORBIDDEN if c in text or c.lower() in lowered]


def _assert_no_canary(label):
  def check(elements):
    assert elements, f'{label}: expected outputs'
    leaks = {e.event_id if hasattr(e, 'event_id') else '?': _leaks(e) for e in elements}
    leaks = {k: v for k, v in leaks.items() if v}
    assert not leaks, f'{label} leaks canaries: {leaks}'
  return check


def test_no_canary_in_any_output():
  p = TestPipeline()
  result = p | beam.Create(_canary_records()) | ProcessRecords(
      fakes.process_config(), model_handler=fakes.FakeEmbeddingModelHandler(fail_if_contains='FAILME'))
  assert_that(result.posts, _assert_no_canary('posts'), label='NoCanaryInPosts')
  assert_that(result.orders, _assert_no_canary('orders'), label='NoCanaryInOrders')
  assert_that(result.dead_letters, _assert_no_canary('dead letters'), label='NoCanaryInDlq')

  def stages(dead_letters):
    found = {(d.stage, d.offset) for d in dead_letters}
    # RunInference fails whole batches: records batched with the failing one fail with it.
    assert {('embed', 8), ('validate', 5), ('validate', 6), ('validate', 7)} <= found
    assert {stage for stage, _ in found} == {'embed', 'validate'}
  assert_that(result.dead_letters, stages, label='DeadLetterStages')
  p.run().wait_until_finish()


def test_no_planted_pii_from_the_demo_generator():
  """The demo generator's own planted PII (full names, phones, emails, ids, addresses, usernames).

  Lone first or last names are left out of this check: captions legitimately name third parties
  ("Imran's shop"), and without NER only names the record itself carries are scrubbed.
  """
  from agents import demo
  data = demo.generate(seed=11, events=120)
  records = [RawRecord(source=dict(e.headers)['source'].decode(), topic=e.topic, partition=0,
                       offset=i, timestamp_ms=1_764_000_000_000, key=e.key, value=e.value,
                       headers=e.headers)
             for i, e in enumerate(data.events) if e.topic.startswith('raw.')]
  planted = {p.value for p in data.pii
             if len(p.value) >= 4 and p.kind not in ('first_name', 'last_name')} | {
      p.normalized for p in data.pii if p.normalized}
  planted |= {re.sub(r'\D', '', p.normalized) for p in data.pii if p.kind == 'phone' and p.normalized}

  def check(elements):
    assert elements
    for e in elements:
      text = json.dumps(to_row(e), ensure_ascii=False).lower()
      found = [v for v in planted if v.lower() in text]
      assert not found, f'{getattr(e, "event_id", "?")} leaks {found}'
  p = TestPipeline()
  result = p | beam.Create(records) | ProcessRecords(
      fakes.process_config(), model_handler=fakes.FakeEmbeddingModelHandler())
  assert_that(result.posts, check, label='Posts')
  assert_that(result.orders, check, label='Orders')
  assert_that(result.dead_letters, check, label='DeadLetters')
  p.run().wait_until_finish()
