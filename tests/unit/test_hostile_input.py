"""Hostile input (issue 9): no record can crash a worker, stall it for seconds, or carry PII past
the shield. Numbers of any size, text of any shape."""
import json
import time

import pytest
from pydantic import ValidationError

from schemas.normalized import DeadLetter
from schemas.sources import DarazOrder, FacebookPost, ShopifyOrder, TikTokVideo
from tests.unit import fakes
from transforms.validate import ValidRecord, _ValidateFn

# Written before the fix: these fail on the code of this commit (issue 9); the next commits
# make them pass and drop this mark.
pytestmark = pytest.mark.xfail(reason='issue 9: fixed in the following commits', strict=False)

HUGE = '1' + '0' * 400          # a JSON integer far beyond any float


def _validate_one(source, payload: bytes):
  fn = _ValidateFn(fakes.validation_config())
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
