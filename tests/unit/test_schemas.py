"""Source models accept every real fixture and reject wrong types with the field path."""
import datetime
import decimal
import json

import pytest
from pydantic import BaseModel, ValidationError

from schemas.normalized import event_id
from schemas.registry import SOURCE_MODELS
from schemas.sources import (ALL_SOURCE_MODELS, DarazOrder, FacebookPost, OpenWeatherCurrent,
                             ShopifyOrder, TikTokVideo, pii_fields)
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
  # Computed once and written here: a change of the namespace or of the name's format moves
  # every stored row and Weaviate object id, and a comparison within one process cannot see it.
  assert event_id('shopify', 'order', '1') == '33c7fb5d-359e-547c-8f39-e2b8b2e414d6'
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


def _wrap_flex_datetime(value, handler):
  """The FlexDatetime validator as it was (a WrapValidator handing odd text to pydantic): the
  reference the one-call PlainValidator must match, value for value and error for error."""
  from schemas.types import _ISO_WITH_OFFSET, _SPACED_OFFSET, _flex_datetime, _to_utc
  if type(value) is str:
    text = value
    if not _ISO_WITH_OFFSET.fullmatch(text):
      m = _SPACED_OFFSET.match(text)
      text = f'{m.group(1)}T{m.group(2)}{m.group(3)}:{m.group(4)}' if m else None
    if text is not None:
      try:
        parsed = datetime.datetime.fromisoformat(text)
      except ValueError:
        pass
      else:
        return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)
  value = _flex_datetime(value)
  if value is None or type(value) is datetime.datetime:
    return value
  return _to_utc(handler(value))


_TIME_WRITINGS = [
    '2026-11-28T12:09:42+06:00', '2014-09-20T12:59:48+0000', '2026-11-28T06:00:31.000Z',
    '2026-11-28T06:00:31.123456Z', '2014-10-15 19:12:15 +0800', '2014-10-15T19:12:15 +08:00',
    ' 2026-11-28T12:09:42+06:00 ', '2026-11-28T12:09:42', '2026-11-28', '2026-11-28 12:09',
    '20261128T120942Z', '2026-W48-1', '2026-13-01T00:00:00Z', '2026-11-28T25:00:00+06:00',
    '2026-02-30T00:00:00Z', 'yesterday', '', ' ', 'null', 'None', 'NULL', '1764331200',
    '1764331200000', '176433120', '17643312000000', '-1', '1e10', 1764331200, 1764331200000,
    1764331200.5, 0, -5, 10 ** 20, -(10 ** 20), 2.5e15, True, False, None, ['yesterday'],
    {'t': 1}, 'T12:00:00', '2026-11-28T12:09:42+25:00', '2026-11-28T12:09:42.1234567Z',
    '0001-01-01T00:00:00Z', '9999-12-31T23:59:59Z', '२०२६-११-२८', 'x' * 300]


@pytest.mark.parametrize('mode', ['json', 'python'])
def test_flex_datetime_is_what_the_wrap_validator_was(mode):
  from typing import Annotated, Optional
  from pydantic import WrapValidator
  from schemas.types import FlexDatetime, SOURCE_MODEL_CONFIG

  class Now(BaseModel):
    model_config = SOURCE_MODEL_CONFIG
    at: FlexDatetime = None

  class Before(BaseModel):
    model_config = SOURCE_MODEL_CONFIG
    at: Annotated[Optional[datetime.datetime], WrapValidator(_wrap_flex_datetime)] = None

  def outcome(model, value):
    try:
      if mode == 'json':
        got = model.model_validate_json(json.dumps({'at': value}))
      else:
        got = model.model_validate({'at': value})
    except ValidationError as e:
      return [(err['loc'], err['type'], err['msg']) for err in e.errors(include_url=False)]
    return got.at, got.at.utcoffset() if got.at is not None else None

  for value in _TIME_WRITINGS:
    assert outcome(Now, value) == outcome(Before, value), value
