"""PrivacyShield: normalize-then-HMAC pseudonyms, policy table applied, free text scrubbed."""
import hashlib
import json

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to, is_empty

from schemas.normalized import MarketOrder, SocialPost, to_row
from tests.unit import fakes
from transforms import pii_text
from transforms.metrics import NAMESPACE
from transforms.privacy import PrivacyShield, Shield
from transforms.validate import ValidateRecords, parse_raw

PHONE_WRITINGS = ['+880 1712-345678', '+8801712345678', '8801712345678', '01712345678',
                  '017-1234-5678', '01712 345678', '০১৭১২৩৪৫৬৭৮', '+৮৮০ ১৭১২-৩৪৫৬৭৮', ' 880-1712-345678 ']


@pytest.mark.parametrize('writing', PHONE_WRITINGS)
def test_every_phone_writing_normalizes_to_e164(writing):
  assert pii_text.normalize_phone(writing) == '+8801712345678'


def test_one_person_one_pseudonym_across_writings():
  shield = fakes.test_shield()
  assert len({shield.phone(w) for w in PHONE_WRITINGS}) == 1
  assert shield.email('  Rahim.Uddin@Example.COM ') == shield.email('rahim.uddin@example.com')
  assert shield.name('  RAHIM   Uddin') == shield.name('rahim', 'uddin')


def test_pseudonyms_are_keyed_and_carry_the_key_id():
  a = Shield(fakes.TEST_HMAC_KEY.encode(), 'ka').phone('01712345678')
  b = Shield(fakes.TEST_DLQ_KEY.encode(), 'kb').phone('01712345678')
  assert a.key_id == 'ka' and b.key_id == 'kb' and a.value != b.value
  plain = hashlib.sha256(b'+8801712345678').hexdigest()
  assert plain[:32] != a.value and '8801712345678' not in a.value


def test_masked_phones_are_not_pseudonymized():
  assert fakes.test_shield().phone('61****7') is None


def test_free_text_scrubbed_with_stable_tokens():
  shield = fakes.test_shield()
  one = shield.text('Call 01712-345678 or mail Rahim@Example.com, ask for Rahim Uddin',
                    names=['Rahim Uddin'])
  two = shield.text('আমার নম্বর ০১৭১২৩৪৫৬৭৮ — rahim@example.com')
  assert '1712' not in one and '@' not in one and 'Rahim Uddin' not in one
  phone_token = [t for t in one.split() if t.startswith('[PHONE:')][0]
  assert phone_token in two
  assert '[EMAIL:' in two and 'rahim' not in two.lower()
  assert shield.text('Eid sale 2024-04-10, price 1,299.00 BDT') == 'Eid sale 2024-04-10, price 1,299.00 BDT'


def _shielded(records):
  shield = fakes.test_shield()
  from transforms.normalize import NORMALIZERS
  out = []
  for raw in records:
    valid = parse_raw(raw, 10**7)
    out += list(NORMALIZERS[type(valid.model)](shield, valid, valid.model, fakes.FIXED_NOW))
  return out


def _records_with_every_fixture():
  """The fixture records plus the Graph comments edge (/{post-id}/comments, not a source object
  of its own) embedded in its post, as a post with comments arrives."""
  records = fakes.fixture_records()
  comments = fakes.load('facebook_post_comments.json')
  post_id = comments['data'][0]['id'].split('_')[0]   # comment ids are {post}_{comment}
  return records + [fakes.raw_record('facebook', {'id': post_id, 'comments': comments},
                                     offset=len(records))]


def test_fixture_pii_never_in_clear():
  records = _records_with_every_fixture()
  values = ['bob.norman@hostmail.com', 'jon@example.com', 'john@example.com', '555-625-1199',
            '+16136120707', 'imasecretipod', '012345679', 'changi village', 'tanglin',
            'bob norman', 'jen hayden', 'prateik waghmare', 'dhaka.foodie', '1712-345678']
  given = json.dumps([json.loads(r.value) for r in records], ensure_ascii=False).lower()
  # A value the input does not hold would pass below whatever the shield does.
  assert [v for v in values if v not in given] == []
  text = json.dumps([to_row(o) for o in _shielded(records)], ensure_ascii=False).lower()
  for value in values:
    assert value not in text, value


def test_shopify_and_daraz_mapping():
  outputs = {o.source: o for o in _shielded(fakes.fixture_records()) if isinstance(o, MarketOrder)}
  shopify, daraz = outputs['shopify'], outputs['daraz']
  assert shopify.email is not None and shopify.email.key_id == 'test-hmac-1'
  assert shopify.customer_name is not None and shopify.lines
  assert daraz.phone is not None          # "94236248" (not masked) in the single-order fixture
  assert daraz.note == 'red color'
  assert daraz.city is None and daraz.raw_city in ('Singapore-Central', 'Singapore-Singapore')


def test_facebook_post_yields_post_and_comments():
  raw = fakes.raw_record('facebook', fakes.load('facebook_post_with_comments_summary.json'))
  post, comment = _shielded([raw])
  assert (post.kind, comment.kind) == ('post', 'comment')
  assert comment.parent_event_id == post.event_id and comment.author is not None
  assert comment.text == 'grandioses grau'


def test_privacy_shield_pipeline_outputs_and_metrics():
  records = fakes.fixture_records()
  expected = [(o.event_id, type(o).__name__) for o in _shielded(records)]
  p = TestPipeline()
  valid = (p | beam.Create(records)
           | ValidateRecords(fakes.validation_config(), fakes.dead_letter_config())).valid
  result = valid | PrivacyShield(fakes.privacy_config(), fakes.dead_letter_config())
  assert_that(result.records | beam.Map(lambda o: (o.event_id, type(o).__name__)),
              equal_to(expected), label='Records')
  assert_that(result.dead_letters, is_empty(), label='NoDeadLetters')
  run = p.run()
  run.wait_until_finish()
  counters = run.metrics().query(MetricsFilter().with_namespace(NAMESPACE).with_name('num_shielded'))
  assert sum(c.committed for c in counters['counters']) == len(expected)
  tokens = run.metrics().query(MetricsFilter().with_name('num_text_pii_tokens'))['counters']
  assert sum(c.committed for c in tokens) >= 1


def test_a_failure_inside_the_shield_is_a_dead_letter(monkeypatch):
  from schemas.sources import TikTokVideo
  from transforms import normalize

  def explode(*unused):
    raise ValueError('boom for 01712345678')
  monkeypatch.setitem(normalize.NORMALIZERS, TikTokVideo, explode)
  raw = fakes.raw_record('tiktok', {'id': 5, 'video_description': 'hi'}, 3)
  p = TestPipeline()
  valid = (p | beam.Create([raw])
           | ValidateRecords(fakes.validation_config(), fakes.dead_letter_config())).valid
  result = valid | PrivacyShield(fakes.privacy_config(), fakes.dead_letter_config())
  assert_that(result.records, is_empty(), label='NoRecords')
  assert_that(result.dead_letters | beam.Map(lambda d: (d.stage, d.error_class, d.offset,
                                                        '1712' in d.error_message)),
              equal_to([('privacy', 'ValueError', 3, False)]), label='DeadLetter')
  p.run().wait_until_finish()
