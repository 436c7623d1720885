"""Pydantic models of what each source really sends (one Kafka message = one API object).

Only the fields the pipeline uses, plus every PII field the APIs are known to send, are modelled:
unknown fields are ignored (SOURCE_MODEL_CONFIG), so a PII field nobody has classified never
reaches an output. Fields holding PII are marked with `pii(...)`; transforms/privacy_policy.py must
give each of them a policy (a unit test enforces it).
"""
from __future__ import annotations

from typing import Any, Optional

from pydantic import AliasChoices, BaseModel, Field

from schemas.types import (FacebookId, FlexDatetime, Int64, LaxBool, Money, NullableStr, NumericId,
                           SOURCE_MODEL_CONFIG)

# Lists that each cost later stages work per element (an output record, a scrubbed title) are
# capped, so one message cannot cost seconds downstream: a longer list is a validation error.
MAX_ITEMS = 1000          # line items of an order, comments of a post
MAX_TAGS = 200            # hashtags, mentions, statuses, gateway names

# Values of the `schema_version` Kafka header this code understands. A missing header means '1'.
KNOWN_SOURCE_SCHEMA_VERSIONS = frozenset({'1'})
DEFAULT_SOURCE_SCHEMA_VERSION = '1'


def pii(category: str, **kwargs: Any) -> Any:
  """An optional field that holds PII of `category` (email, phone, name, address, id, ip, text...)."""
  kwargs.setdefault('default', None)
  return Field(json_schema_extra={'pii': category}, **kwargs)


class _Source(BaseModel):
  model_config = SOURCE_MODEL_CONFIG


# --- TikTok Research API: an element of data.videos -------------------------------------------

class TikTokVideo(_Source):
  """Research API video object. The doc names the id `id`; its example uses `video_id`."""
  id: NumericId = Field(validation_alias=AliasChoices('id', 'video_id'))
  create_time: FlexDatetime = None               # UTC epoch seconds
  username: Optional[str] = pii('username')
  region_code: Optional[str] = Field(default=None, max_length=8)
  video_description: Optional[str] = pii('free_text')
  voice_to_text: Optional[str] = pii('free_text')
  hashtag_names: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
  video_mention_list: Optional[list[str]] = pii('username', max_length=MAX_TAGS)
  like_count: Optional[Int64] = None
  comment_count: Optional[Int64] = None
  share_count: Optional[Int64] = None
  view_count: Optional[Int64] = None
  favorites_count: Optional[Int64] = None
  music_id: Optional[NumericId] = None
  playlist_id: Optional[NumericId] = None
  effect_ids: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
  video_duration: Optional[float] = None


# --- Facebook Graph API page post (with an optional comments edge) -----------------------------

class FacebookActor(_Source):
  id: Optional[FacebookId] = pii('user_id')
  name: Optional[str] = pii('name')
  category: Optional[str] = None                 # pages have one; people do not


class FacebookComment(_Source):
  id: FacebookId
  created_time: FlexDatetime = None
  message: Optional[str] = pii('free_text')
  from_: Optional[FacebookActor] = Field(default=None, alias='from')
  like_count: Optional[Int64] = None


class _Summary(_Source):
  total_count: Optional[Int64] = None


class FacebookCommentsEdge(_Source):
  data: list[FacebookComment] = Field(default_factory=list, max_length=MAX_ITEMS)
  summary: Optional[_Summary] = None


class _CountEdge(_Source):
  summary: Optional[_Summary] = None


class _Shares(_Source):
  count: Optional[Int64] = None


class FacebookLocation(_Source):
  city: Optional[str] = None
  country: Optional[str] = None
  street: Optional[str] = pii('street_address')
  zip: Optional[str] = pii('postcode')
  latitude: Optional[float] = pii('geo')
  longitude: Optional[float] = pii('geo')


class FacebookPlace(_Source):
  name: Optional[str] = None
  location: Optional[FacebookLocation] = None


class FacebookPost(_Source):
  """Graph page-post object. Only requested fields are present, so nearly all are optional."""
  id: FacebookId
  created_time: FlexDatetime = None
  message: Optional[str] = pii('free_text')
  story: Optional[str] = pii('free_text')
  from_: Optional[FacebookActor] = Field(default=None, alias='from')
  type: Optional[str] = None
  place: Optional[FacebookPlace] = None
  shares: Optional[_Shares] = None
  likes: Optional[_CountEdge] = None
  reactions: Optional[_CountEdge] = None
  comments: Optional[FacebookCommentsEdge] = None


# --- Shopify Admin REST Order (webhook shape) --------------------------------------------------

class ShopifyAddress(_Source):
  first_name: Optional[str] = pii('name')
  last_name: Optional[str] = pii('name')
  name: Optional[str] = pii('name')
  company: Optional[str] = pii('name')
  address1: Optional[str] = pii('street_address')
  address2: Optional[str] = pii('street_address')
  city: Optional[str] = None
  province: Optional[str] = None
  zip: Optional[str] = pii('postcode')
  country: Optional[str] = None
  country_code: Optional[str] = None
  phone: Optional[str] = pii('phone')
  latitude: Optional[float] = pii('geo')
  longitude: Optional[float] = pii('geo')


class ShopifyCustomer(_Source):
  id: Optional[NumericId] = pii('customer_id')
  email: Optional[str] = pii('email')
  first_name: Optional[str] = pii('name')
  last_name: Optional[str] = pii('name')
  phone: Optional[str] = pii('phone')
  note: Optional[str] = pii('free_text')
  tags: Optional[str] = pii('free_text')
  default_address: Optional[ShopifyAddress] = None


class ShopifyLineItem(_Source):
  id: NumericId
  product_id: Optional[NumericId] = None
  variant_id: Optional[NumericId] = None
  sku: NullableStr = None
  title: Optional[str] = None
  name: Optional[str] = None
  vendor: Optional[str] = None
  quantity: Int64 = 1
  price: Money = None


class ShopifyOrder(_Source):
  id: NumericId
  name: Optional[str] = None                     # "#1001"
  order_number: Optional[Int64] = None
  created_at: FlexDatetime = None
  updated_at: FlexDatetime = None
  processed_at: FlexDatetime = None
  currency: Optional[str] = None
  total_price: Money = None
  subtotal_price: Money = None
  total_tax: Money = None
  financial_status: Optional[str] = None
  fulfillment_status: Optional[str] = None
  gateway: Optional[str] = None
  payment_gateway_names: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
  test: LaxBool = None
  email: Optional[str] = pii('email')
  contact_email: Optional[str] = pii('email')
  phone: Optional[str] = pii('phone')
  note: Optional[str] = pii('free_text')
  tags: Optional[str] = pii('free_text')
  browser_ip: Optional[str] = pii('ip')
  client_details: Optional[dict[str, Any]] = pii('device')
  payment_details: Optional[dict[str, Any]] = pii('payment')
  order_status_url: Optional[str] = pii('secret_url')
  token: Optional[str] = pii('secret_token')
  cart_token: Optional[str] = pii('secret_token')
  checkout_token: Optional[str] = pii('secret_token')
  customer: Optional[ShopifyCustomer] = None
  billing_address: Optional[ShopifyAddress] = None
  shipping_address: Optional[ShopifyAddress] = None
  line_items: list[ShopifyLineItem] = Field(default_factory=list, max_length=MAX_ITEMS)


# --- Daraz (Lazada Open Platform) GetOrders order + `order_items` from GetOrderItems ------------

class DarazAddress(_Source):
  first_name: Optional[str] = pii('name')
  last_name: Optional[str] = pii('name')
  phone: Optional[str] = pii('phone')
  phone2: Optional[str] = pii('phone')
  address1: Optional[str] = pii('street_address')
  address2: Optional[str] = pii('street_address')
  address3: Optional[str] = pii('street_address')
  address4: Optional[str] = pii('street_address')
  address5: Optional[str] = pii('street_address')
  # The API misspells it in GetOrders; GetOrder spells it right. Accept both.
  address_district: Optional[str] = Field(
      default=None, validation_alias=AliasChoices('addressDsitrict', 'addressDistrict'))
  city: Optional[str] = None
  post_code: Optional[str] = pii('postcode')
  country: Optional[str] = None


class DarazRecipientInfo(_Source):
  identify_no: Optional[str] = pii('national_id')
  passport_no: Optional[str] = pii('national_id')
  detail_address: Optional[str] = pii('street_address')


class DarazOrderItem(_Source):
  # NullableStr ("", "null" → None) only where a value is used; fields the pipeline drops or
  # never reads stay plain strings (normalizing them would only cost a Python call each).
  order_item_id: NumericId
  order_id: Optional[NumericId] = None
  sku: NullableStr = None
  shop_sku: Optional[str] = None
  sku_id: Optional[str] = None
  product_id: Optional[NumericId] = None
  name: Optional[str] = None
  variation: Optional[str] = None
  status: Optional[str] = None
  currency: Optional[str] = None
  item_price: Money = None
  paid_price: Money = None
  created_at: FlexDatetime = None
  is_digital: LaxBool = None
  buyer_id: Optional[NumericId] = pii('customer_id')
  tracking_code: Optional[str] = pii('tracking')
  tracking_code_pre: Optional[str] = pii('tracking')
  gift_wrapping: Optional[str] = pii('free_text')
  personalization: Optional[str] = pii('free_text')
  pick_up_store_info: Optional[dict[str, Any]] = pii('street_address')


class DarazOrder(_Source):
  order_id: NumericId
  order_number: Optional[NumericId] = None
  created_at: FlexDatetime = None
  updated_at: FlexDatetime = None
  price: Money = None
  payment_method: Optional[str] = None
  statuses: list[str] = Field(default_factory=list, max_length=MAX_TAGS)
  items_count: Optional[Int64] = None
  gift_option: LaxBool = None
  customer_first_name: Optional[str] = pii('name')
  customer_last_name: Optional[str] = pii('name')
  national_registration_number: Optional[str] = pii('national_id')
  tax_code: Optional[str] = pii('national_id')
  branch_number: Optional[str] = pii('national_id')
  buyer_note: NullableStr = pii('free_text')
  remarks: Optional[str] = pii('free_text')
  gift_message: Optional[str] = pii('free_text')
  recipient_info: Optional[DarazRecipientInfo] = None
  address_billing: Optional[DarazAddress] = None
  address_shipping: Optional[DarazAddress] = None
  order_items: list[DarazOrderItem] = Field(default_factory=list, max_length=MAX_ITEMS)


# --- Context: OpenWeather current weather, product metadata ------------------------------------

class _Coord(_Source):
  lon: Optional[float] = None
  lat: Optional[float] = None


class _WeatherCondition(_Source):
  id: Optional[Int64] = None
  main: Optional[str] = None
  description: Optional[str] = None


class _WeatherMain(_Source):
  temp: Optional[float] = None
  feels_like: Optional[float] = None
  pressure: Optional[float] = None
  humidity: Optional[float] = None


class _Wind(_Source):
  speed: Optional[float] = None
  deg: Optional[float] = None
  gust: Optional[float] = None


class _Clouds(_Source):
  all: Optional[float] = None


class _Precipitation(_Source):
  one_hour: Optional[float] = Field(default=None, alias='1h')


class OpenWeatherCurrent(_Source):
  """`GET data/2.5/weather` response (metric units requested: temperatures in °C)."""
  id: Int64
  name: Optional[str] = None
  dt: FlexDatetime                               # observation time, epoch seconds
  coord: Optional[_Coord] = None
  weather: list[_WeatherCondition] = Field(default_factory=list)
  main: Optional[_WeatherMain] = None
  wind: Optional[_Wind] = None
  clouds: Optional[_Clouds] = None
  rain: Optional[_Precipitation] = None
  timezone: Optional[Int64] = None


class ProductMetadata(_Source):
  """context.products value, keyed by sku."""
  sku: str = Field(min_length=1, max_length=200)
  product_id: Optional[NumericId] = None
  title: Optional[str] = None
  category: Optional[str] = None
  brand: Optional[str] = None
  price_bdt: Money = None
  updated_at: FlexDatetime = None


# Every source model class (nested ones included), for the PII-coverage test.
ALL_SOURCE_MODELS: tuple[type[BaseModel], ...] = (
    TikTokVideo, FacebookActor, FacebookComment, FacebookCommentsEdge, FacebookLocation,
    FacebookPlace, FacebookPost, ShopifyAddress, ShopifyCustomer, ShopifyLineItem, ShopifyOrder,
    DarazAddress, DarazRecipientInfo, DarazOrderItem, DarazOrder, OpenWeatherCurrent,
    ProductMetadata)


def pii_fields(model: type[BaseModel]) -> dict[str, str]:
  """{field name: PII category} of one model's own fields."""
  out = {}
  for name, info in model.model_fields.items():
    extra = info.json_schema_extra
    if isinstance(extra, dict) and 'pii' in extra:
      out[name] = str(extra['pii'])
  return out


def __getattr__(name: str):
  """SOURCE_MODELS: the registry's (schemas/registry.py), the one list of sources, under its old
  import path; the same dict, not a copy."""
  if name == 'SOURCE_MODELS':
    from schemas.registry import SOURCE_MODELS  # pylint: disable=import-outside-toplevel
    return SOURCE_MODELS
  raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
