"""Source models accept every real fixture and reject wrong types with the field path."""
import datetime
import decimal
import json

import pytest
from pydantic import BaseModel, ValidationError

from schemas.normalized import event_id
from schemas.sources import (ALL_SOURCE_MODELS, DarazOrder, FacebookPost, OpenWeatherCurrent,
                             ShopifyOrder, SOURCE_MODELS, TikTokVideo, pii_fields)
from tests.unit import fakes
from transforms.privacy_policy import POLICY

UTC = datetime.timezone.utc


@pytest.mark.parametrize('source,payload', fakes.fixture_payloads(),
                         ids=lambda v: v if isinstance(v, str) else '')
def test_every_fixture_validates(source, payload):
  model = SOURCE_MODELS[source].model_validate_json(json.dumps(payload))
  assert isinstance(model, BaseModel)


@pytest.mark.parametrize('name', ['openweather_current_dhaka.json',
                                  'openweather_current_official_example.json'])
def test_weather_fixtures_validate(name):
  weather = OpenWeatherCurrent.model_validate(fakes.load(name))
  assert weather.dt.tzinfo is not None


def test_ids_beyond_2_53_stay_exact():
  order = ShopifyOrder.model_validate_json((fakes.DATA / 'shopify_webhook_orders_create.json').read_bytes())
  assert order.id == '820982911946154508'
  assert order.customer.id == '115310627314723954'
  assert order.line_items[0].id == '866550311766439020'
  video = TikTokVideo.model_validate_json(b'{"video_id": 702874395068494965}')
  assert video.id == '702874395068494965'
  assert TikTokVideo.model_validate_json(b'{"id": "7201388525814961198"}').id == '7201388525814961198'


def test_money_is_decimal_and_tolerates_thousands_separators():
  order = ShopifyOrder.model_validate({'id': 1, 'total_price': '1,299.00',
                                       'line_items': [{'id': 2, 'price': 0.1}]})
  assert order.total_price == decimal.Decimal('1299.00')
  assert order.line_items[0].price == decimal.Decimal('0.1')
  with pytest.raises(ValidationError):
    ShopifyOrder.model_validate({'id': 1, 'total_price': 'NaN'})


@pytest.mark.parametrize('written,expected', [
    ('2014-09-20T12:59:48+0000', datetime.datetime(2014, 9, 20, 12, 59, 48, tzinfo=UTC)),
    ('2008-01-10T11:00:00-05:00', datetime.datetime(2008, 1, 10, 16, 0, tzinfo=UTC)),
    ('2014-10-15 19:12:15 +0800', datetime.datetime(2014, 10, 15, 11, 12, 15, tzinfo=UTC)),
    ('1697193374592', datetime.datetime(2023, 10, 13, 10, 36, 14, 592000, tzinfo=UTC)),
    (1633823999, datetime.datetime(2021, 10, 9, 23, 59, 59, tzinfo=UTC)),
    ('null', None),
])
def test_timestamp_formats(written, expected):
  item = {'order_item_id': '1', 'created_at': written}
  order = DarazOrder.model_validate({'order_id': '5', 'order_items': [item]})
  assert order.order_items[0].created_at == expected


def test_daraz_strings_coerced_and_misspelled_key_accepted():
  order = DarazOrder.model_validate({
      'order_id': '491253082180001', 'items_count': '2', 'gift_option': 'false',
      'address_shipping': {'addressDsitrict': 'Mirpur', 'city': 'Dhaka'}})
  assert order.items_count == 2 and order.gift_option is False
  assert order.address_shipping.address_district == 'Mirpur'


def test_wrong_type_rejected_with_field_path():
  with pytest.raises(ValidationError) as info:
    ShopifyOrder.model_validate({'id': 1, 'line_items': [{'id': 2, 'quantity': 'many'}]})
  assert info.value.errors()[0]['loc'] == ('line_items', 0, 'quantity')
  with pytest.raises(ValidationError) as info:
    FacebookPost.model_validate({'id': 'not-a-graph-id'})
  assert info.value.errors()[0]['loc'] == ('id',)


def test_unknown_fields_tolerated_and_dropped():
  video = TikTokVideo.model_validate({'id': 1, 'brand_new_field': {'x': 1}})
  assert not hasattr(video, 'brand_new_field')


def test_event_id_is_deterministic_and_source_scoped():
  assert event_id('shopify', 'order', '1') == event_id('shopify', 'order', '1')
  assert event_id('shopify', 'order', '1') != event_id('daraz', 'order', '1')


def test_every_pii_field_has_a_policy_and_every_policy_a_field():
  marked = {(m.__name__, f) for m in ALL_SOURCE_MODELS for f in pii_fields(m)}
  assert marked - set(POLICY) == set(), 'PII fields without a policy'
  assert set(POLICY) - marked == set(), 'policies for fields that are not marked PII'


# Field names that suggest personal data but are not (order name "#1001", product titles, ...).
_NOT_PII = {('ShopifyOrder', 'name'), ('ShopifyLineItem', 'name'), ('ShopifyLineItem', 'title'),
            ('DarazOrderItem', 'name'), ('OpenWeatherCurrent', 'name'), ('FacebookPlace', 'name'),
            ('ProductMetadata', 'title'), ('DarazAddress', 'address_district'),
            ('TikTokVideo', 'hashtag_names'), ('ShopifyOrder', 'payment_gateway_names')}
_SUSPICIOUS = ('name', 'email', 'phone', 'address', 'ip', 'passport', 'identify', 'note',
               'message', 'description', 'username', 'buyer', 'zip', 'post_code', 'lat', 'lon')


def test_fields_with_personal_looking_names_are_marked_pii():
  missing = []
  for model in ALL_SOURCE_MODELS:
    marked = pii_fields(model)
    for field, info in model.model_fields.items():
      if any(m.__name__ in str(info.annotation) for m in ALL_SOURCE_MODELS):
        continue  # a nested model: its own fields are checked
      looks_personal = any(word in field.lower() for word in _SUSPICIOUS)
      if looks_personal and field not in marked and (model.__name__, field) not in _NOT_PII:
        missing.append(f'{model.__name__}.{field}')
  assert missing == []
