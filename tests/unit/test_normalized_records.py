"""Normalized records: the output topics' JSON (the same bytes whichever encoder wrote them) and evolve()."""
from __future__ import annotations

import datetime
import decimal
import json

from pipeline.graph import _normalized_to_kv
from schemas.normalized import (Lineage, MarketOrder, OrderLine, Pseudonym, SocialPost, to_row)

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 11, 28, 10, 30, 15, 250000, tzinfo=UTC)


def _post(**changes) -> SocialPost:
  fields = dict(event_id='e-1', source='tiktok', kind='video', native_id='7234567890123456789',
                event_time=T0, ingest_time=T0, lineage=Lineage('raw.tiktok.videos', 2, 41, 1_764_000_000_000),
                text='ঢাকায় বৃষ্টি [PHONE:ab12cd34ef56] #rain', hashtags=('rain', 'ঢাকা'),
                author=Pseudonym('0' * 32, 'k1'), like_count=12, embedding=(0.125, -0.5))
  fields.update(changes)
  return SocialPost(**fields)


def _reference(record) -> bytes:
  return json.dumps(to_row(record), ensure_ascii=False, separators=(',', ':'),
                    default=str).encode('utf-8')


def test_post_json_is_compact_utf8_and_keyed_by_event_id():
  key, value = _normalized_to_kv(_post())
  assert key == b'e-1'
  assert value == _reference(_post())
  row = json.loads(value)
  assert row['text'].startswith('ঢাকায়')          # UTF-8, not \u escapes
  assert row['event_time'] == '2026-11-28T10:30:15.250000+00:00'
  assert row['author'] == {'value': '0' * 32, 'key_id': 'k1'}
  assert row['lineage']['offset'] == 41


def test_order_money_stays_exact():
  order = MarketOrder(event_id='o-1', source='daraz', native_id='1', event_time=T0, ingest_time=T0,
                      lineage=Lineage('raw.daraz.orders', 0, 7, 0), total_price=decimal.Decimal('1999.90'),
                      lines=(OrderLine(line_id='l1', sku='SKU-1', product_id=None, title='Saree', quantity=2,
                                       unit_price=decimal.Decimal('999.95')),))
  _, value = _normalized_to_kv(order)
  assert value == _reference(order)
  row = json.loads(value)
  assert row['total_price'] == '1999.90' and row['lines'][0]['unit_price'] == '999.95'


def test_counts_beyond_64_bits_are_still_written():
  post = _post(view_count=10 ** 30)
  _, value = _normalized_to_kv(post)
  assert json.loads(value)['view_count'] == 10 ** 30
  assert value == _reference(post)


def test_evolve_matches_dataclasses_replace():
  import dataclasses

  import pytest

  from schemas.normalized import evolve
  post = _post()
  changed = evolve(post, city='Dhaka', flags=('weather_missing',))
  assert changed == dataclasses.replace(post, city='Dhaka', flags=('weather_missing',))
  assert post.city is None                      # the original is untouched
  with pytest.raises(dataclasses.FrozenInstanceError):
    changed.city = 'Khulna'
  with pytest.raises(TypeError, match='no field'):
    evolve(post, town='Dhaka')
