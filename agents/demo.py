"""Synthetic demo data for every source, in the real API shapes, published to the raw topics.

Lets anyone run the pipeline end to end without credentials. Each event is one API object as the
API returns it (TikTok Research video, Facebook page post with its comments edge, Shopify REST
order, Daraz GetOrders order plus `order_items`), plus the context feeds (OpenWeather current
weather for the 8 divisional cities, the product catalog). The people in it are fake but written
the way real ones are: Bangla and English captions with hashtags, Bangla digits, BD phone numbers
in every common writing, example.com emails, street addresses. Every value of that kind is recorded,
so end-to-end tests can prove none reaches a sink. A configurable share of the source events is
malformed (bad JSON, truncated, wrong types, missing required fields) and reported as such.

Demo records are marked synthetic by the Kafka header `synthetic: true`, never inside the payload,
so the payload keeps the real API shape. Output is a pure function of (seed, events,
malformed_share, now): same arguments, same bytes. Event times fall in the 6 hours before `now`,
by default a fixed DEFAULT_NOW; pass `--now now` for data timed like a live feed.

    python -m agents.demo --bootstrap-servers 127.0.0.1:9092 --events 10000 --seed 7 \
        --malformed-share 0.05 --pii-out /tmp/pii.json [--now now] [--client kafka-python] \
        [--dry-run]

From Python: `data = generate(seed, events, malformed_share)` gives `data.events` (DemoEvent
tuples: topic, key, value, headers), `data.pii` and `data.malformed`; `publish(data.events,
bootstrap_servers)` returns the acknowledged count per topic (through librdkafka by default,
`client='kafka-python'` for the agents' client).
"""
from __future__ import annotations

import argparse
import collections
import datetime
import functools
import json
import multiprocessing
import operator
import random
import string
import sys
import time
from typing import Callable, Iterable, NamedTuple, Optional, Sequence

try:
  import orjson
except ImportError:  # optional accelerator, see _encode
  orjson = None

from agents import demo_data as D
from agents.topics import AgentTopics, load_topics
from connectors.kafka_publisher import (BulkPublisher, KafkaPublisher, PublisherConfig,
                                        standard_headers, topic_counts)
from schemas.sources import SOURCE_MODELS

# A fixed reference time keeps the output identical across runs; pass `now` for fresh timestamps.
DEFAULT_NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
BD_OFFSET_S = 6 * 3600              # Bangladesh time, UTC+6, no daylight saving
SOURCE_SHARES = (('tiktok', 0.3), ('facebook', 0.25), ('shopify', 0.25), ('daraz', 0.2))
MALFORMED_KINDS = ('bad_json', 'truncated', 'wrong_type', 'missing_required')
CATALOG_SIZE = 48
BULK_LINGER_MS = 200                 # producer settings for publishing a demo load
BULK_BATCH_BYTES = 2 * 1024 * 1024


class DemoEvent(NamedTuple):
  """One Kafka message: what `KafkaPublisher.publish_many` takes."""
  topic: str
  key: bytes
  value: bytes
  headers: tuple[tuple[str, bytes], ...]


class Malformed(NamedTuple):
  """A planted bad record: (topic, key) find it; `reason` is `<kind>` or `<kind>:<field>`."""
  topic: str
  key: bytes
  reason: str


class PlantedPii(NamedTuple):
  """A personal value as written into some payload; `normalized` is the E.164 form for phones."""
  # phone email name first_name last_name address national_id ip username user_id customer_id
  kind: str
  value: str
  normalized: Optional[str] = None


class DemoData(NamedTuple):
  events: list[DemoEvent]
  pii: list[PlantedPii]
  malformed: list[Malformed]

  def counts(self) -> dict[str, int]:
    return topic_counts(collections.Counter(e.topic for e in self.events))


class _Person(NamedTuple):
  first: str
  last: str
  phone: str          # as written
  email: str
  city: tuple
  area: str
  post_code: str
  street: str


class _Product(NamedTuple):
  """A catalog record plus what the order and caption builders derive from it, computed once."""
  record: dict
  price: float
  product_id: int
  price_set: dict
  caption_fields: dict    # product, product_bn, price, price_bn


# Ways people write a BD mobile number, from its 10 national digits (1XXXXXXXXX).
_PHONE_WRITINGS = (
    lambda n: f'+880{n}', lambda n: f'880{n}', lambda n: f'0{n}',
    lambda n: f'+880 {n[:4]}-{n[4:]}', lambda n: f'0{n[:4]}-{n[4:]}',
    lambda n: f'0{n[:2]}-{n[2:6]}-{n[6:]}', lambda n: f'0{n[:4]} {n[4:]}',
    lambda n: f'+880-{n[:4]}-{n[4:]}', lambda n: D.bangla_digits(f'0{n}'),
    lambda n: D.bangla_digits(f'+৮৮০ {n[:4]}-{n[4:]}'), lambda n: f'(+880) {n[:4]} {n[4:]}',
)
_CONFIRMATION_ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZ23456789'   # 32 symbols: 5 random bits each


class _Builder:
  """Holds the seeded random source and the PII ledger while one batch is built.

  Draws go through `random()` (one C call) rather than `choice`/`randrange`, whose rejection
  sampling runs in Python and was the largest cost in the profile; `int(random() * n)` is exact
  enough for every n used here (n < 2**53). Times are whole seconds since the epoch.
  """

  def __init__(self, seed: int, now_s: int):
    self.rng = random.Random(seed)
    self.random = self.rng.random
    self.now_s = now_s
    self._pii: dict[tuple[str, str], Optional[str]] = {}
    self._serial: dict[str, int] = {}

  # --- draws -------------------------------------------------------------------------------------
  def pick(self, seq):
    return seq[int(self.random() * len(seq))]

  def between(self, low: int, high: int) -> int:
    """Like randrange(low, high)."""
    return low + int(self.random() * (high - low))

  def pick_distinct(self, seq, k: int) -> list:
    """Like rng.sample(seq, k) for small k."""
    chosen: list[int] = []
    while len(chosen) < k:
      i = int(self.random() * len(seq))
      if i not in chosen:
        chosen.append(i)
    return [seq[i] for i in chosen]

  # --- PII, always recorded as planted ---------------------------------------------------------
  def plant(self, kind: str, value: str, normalized: Optional[str] = None) -> str:
    self._pii.setdefault((kind, value), normalized)
    return value

  def pii(self) -> list[PlantedPii]:
    return [PlantedPii(kind, value, normalized) for (kind, value), normalized in self._pii.items()]

  def serial(self, name: str) -> int:
    return self._serial.get(name, 0)

  def unique(self, name: str, base: int, spread: int) -> int:
    """Increasing ids, unique per name, with random gaps like real ids."""
    n = self._serial.get(name, 0) + 1
    self._serial[name] = n
    return base + n * spread + int(self.random() * spread)

  def phone(self) -> str:
    national = f'1{self.pick("3456789")}{int(self.random() * 100_000_000):08d}'
    return self.plant('phone', self.pick(_PHONE_WRITINGS)(national), '+880' + national)

  def email(self, first: str, last: str, plant: bool = True) -> str:
    sep = self.pick(('.', '_', ''))
    value = f'{first}{sep}{last}{self.between(1, 999)}@{self.pick(D.EMAIL_DOMAINS)}'.lower()
    return self.plant('email', value) if plant else value

  def person(self) -> _Person:
    first, last = self.pick(D.FIRST_NAMES), self.pick(D.LAST_NAMES)
    city = self.pick(D.CITIES)
    area_i = int(self.random() * len(city[5]))
    area = city[5][area_i]
    house, road = self.between(1, 120), self.between(1, 40)
    if self.random() < 0.25:
      street = D.bangla_digits(f'বাড়ি {house}, রোড {road}, {area}')
    elif self.random() < 0.5:
      street = f'House {house}, Road {road}, {area}'
    else:
      flat = f'{self.between(1, 9)}{self.pick("ABCD")}'
      street = f'Flat {flat}, House {house}/{self.pick("AB")}, Road {road}, {area}'
    self.plant('first_name', first)
    self.plant('last_name', last)
    self.plant('address', street)
    # The email is planted where a payload uses it (Daraz orders carry none).
    return _Person(first, last, self.phone(), self.email(first, last, plant=False), city, area,
                   city[6][area_i % len(city[6])], street)

  def contact(self) -> str:
    """A phone number or an email, as people paste them into captions and comments."""
    if self.random() < 0.7:
      return self.phone()
    return self.email(self.pick(D.FIRST_NAMES), self.pick(D.LAST_NAMES))

  def when(self, window_s: int) -> int:
    return self.now_s - int(self.random() * window_s)


# Time formats, from whole epoch seconds (time.strftime on gmtime is several times cheaper than
# datetime.astimezone + isoformat, and the generator formats a few times per event).
def _bd_iso(ts: int) -> str:
  """ISO-8601 in Bangladesh time, as Shopify writes it for a BD shop."""
  return time.strftime('%Y-%m-%dT%H:%M:%S+06:00', time.gmtime(ts + BD_OFFSET_S))


def _graph_time(ts: int) -> str:
  """Facebook Graph API time: UTC with a +0000 offset."""
  return time.strftime('%Y-%m-%dT%H:%M:%S+0000', time.gmtime(ts))


def _daraz_time(ts: int) -> str:
  return time.strftime('%Y-%m-%d %H:%M:%S +0600', time.gmtime(ts + BD_OFFSET_S))


def _fetched_at(ts: int) -> bytes:
  """connectors.kafka_publisher.utc_iso for whole seconds (a unit test checks they agree)."""
  return time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(ts)).encode()


def _money(value: float) -> str:
  return f'{value:.2f}'


def _money_set(amount: str) -> dict:
  return {'shop_money': {'amount': amount, 'currency_code': 'BDT'},
          'presentment_money': {'amount': amount, 'currency_code': 'BDT'}}


_BANGLA_WORD = {category: bn for category, bn, _ in D.PRODUCTS}


def _product_catalog(b: _Builder) -> list[_Product]:
  catalog = []
  for i in range(CATALOG_SIZE):
    category, _, titles = D.PRODUCTS[i % len(D.PRODUCTS)]
    title = titles[(i // len(D.PRODUCTS)) % len(titles)]
    brand = b.pick(D.BRANDS[category])
    low, high = D.PRICE_RANGES[category]
    price = round(b.rng.uniform(low, high) / 10) * 10
    product_id = b.unique('product', 1_840_000_000, 7919)
    record = {
        'sku': f'{brand[:3].upper()}-{category[:3].upper()}-{1000 + i}',
        'product_id': str(product_id),
        'title': title, 'category': category, 'brand': brand, 'price_bdt': _money(price),
        'updated_at': _bd_iso(b.when(30 * 86400)),
    }
    catalog.append(_Product(record, float(price), product_id, _money_set(record['price_bdt']), {
        'product': title, 'product_bn': _BANGLA_WORD[category], 'price': str(price),
        'price_bn': D.bangla_digits(f'{price:,}')}))
  return catalog


def _weather(b: _Builder, city: tuple) -> dict:
  name, _, city_id, lat, lon = city[:5]
  cond = b.pick(D.WEATHER)
  uniform = b.rng.uniform
  temp = round(uniform(17, 34), 2)
  day = b.now_s - b.now_s % 86400          # midnight UTC
  weather = {
      'coord': {'lon': lon, 'lat': lat},
      'weather': [{'id': cond[0], 'main': cond[1], 'description': cond[2], 'icon': cond[3]}],
      'base': 'stations',
      'main': {'temp': temp, 'feels_like': round(temp + uniform(-1, 4), 2),
               'temp_min': round(temp - uniform(0, 2), 2),
               'temp_max': round(temp + uniform(0, 2), 2),
               'pressure': b.between(1002, 1018), 'humidity': b.between(45, 98)},
      'visibility': b.pick((2500, 3500, 4000, 6000, 10000)),
      'wind': {'speed': round(uniform(0.5, 7), 2), 'deg': b.between(0, 360)},
      'clouds': {'all': b.between(0, 100)},
      'dt': b.now_s - 60 * b.between(0, 60),
      # Sunrise about 06:20 and sunset about 17:15 Bangladesh time (UTC+6).
      'sys': {'type': 1, 'id': 9145 + b.between(0, 50), 'country': 'BD',
              'sunrise': day + 20 * 60 + b.between(-900, 900),
              'sunset': day + 11 * 3600 + 15 * 60 + b.between(-900, 900)},
      'timezone': 21600, 'id': city_id, 'name': name, 'cod': 200,
  }
  if cond[1] in ('Rain', 'Thunderstorm'):
    weather['rain'] = {'1h': round(uniform(0.2, 12), 2)}
  return weather


def _template_fields(template: str) -> frozenset:
  return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


_CAPTION_FIELDS = {t: _template_fields(t)
                   for t in D.EN_CAPTIONS + D.BN_CAPTIONS + D.MIXED_CAPTIONS}
_ALL_HASHTAGS = D.EN_HASHTAGS + D.BN_HASHTAGS
_COMMENTS = D.COMMENTS_EN + D.COMMENTS_BN


def _caption(b: _Builder, product: _Product) -> tuple[str, list[str]]:
  """A caption and its hashtags, in English, Bangla or Banglish."""
  style = b.random()
  if style < 0.45:
    template, tags = b.pick(D.EN_CAPTIONS), b.pick_distinct(D.EN_HASHTAGS, b.between(1, 4))
  elif style < 0.85:
    template, tags = b.pick(D.BN_CAPTIONS), b.pick_distinct(D.BN_HASHTAGS, b.between(1, 4))
  else:
    template, tags = b.pick(D.MIXED_CAPTIONS), b.pick_distinct(_ALL_HASHTAGS, 2)
  # Only the fields this template uses are drawn, in a fixed order (never a set's order, which
  # changes with the process's hash seed and would break same seed, same bytes).
  needed = _CAPTION_FIELDS[template]
  city = b.pick(D.CITIES)
  fields = {'city': city[0], 'city_bn': city[1]}
  if 'area' in needed:
    fields['area'] = b.pick(city[5])
  if 'name' in needed:
    fields['name'] = b.pick(D.FIRST_NAMES)
  if 'contact' in needed:
    fields['contact'] = b.contact()
  text = template.format(**product.caption_fields, **fields) + ' ' + ' '.join('#' + t for t in tags)
  return text, tags


def _tiktok(b: _Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
  rnd = b.random
  caption, tags = _caption(b, b.pick(catalog))
  first, last = b.pick(D.FIRST_NAMES), b.pick(D.LAST_NAMES)
  username = b.plant('username', f'{first.lower()}_{last.lower()}{b.between(10, 9999)}')
  video_id = b.unique('tiktok', 7_300_000_000_000_000_000, 1_000_003)
  views = int(b.rng.paretovariate(1.2) * 800)
  video = {
      'id': video_id,
      'create_time': ts,
      'username': username,
      'region_code': 'BD',
      'video_description': caption,
      'music_id': b.unique('tiktok_music', 7_100_000_000_000_000_000, 999_983),
      'like_count': int(views * (0.01 + 0.14 * rnd())),
      'comment_count': int(views * 0.02 * rnd()),
      'share_count': int(views * 0.01 * rnd()),
      'view_count': views,
      'favorites_count': int(views * 0.02 * rnd()),
      'hashtag_names': tags,
      'effect_ids': [str(b.between(100000, 999999))] if rnd() < 0.3 else ['0'],
      'video_duration': b.between(7, 180),
      'is_stem_verified': False,
  }
  if rnd() < 0.3:
    video['voice_to_text'] = caption.split('#')[0].strip()
  return str(video_id), video


def _facebook(b: _Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
  rnd, pick = b.random, b.pick
  page_id, page_name = pick(D.FB_PAGES)
  post_number = b.unique('fb_post', 1_020_000_000_000_000, 104_729)
  post_id = f'{page_id}_{post_number}'
  message, _ = _caption(b, pick(catalog))
  created = _graph_time(ts)
  post = {
      'id': post_id, 'created_time': created, 'updated_time': created,
      'from': {'name': page_name, 'id': str(page_id)},
      'message': message,
      'permalink_url': f'https://www.facebook.com/{page_id}/posts/{post_number}',
      'status_type': 'added_photos' if rnd() < 0.6 else 'mobile_status_update',
  }
  if rnd() < 0.7:
    post['shares'] = {'count': b.between(0, 400)}
  if rnd() < 0.6:
    comments = []
    for _ in range(b.between(1, 5)):
      city = pick(D.CITIES)
      if rnd() < 0.3:
        name = b.plant('name', pick(D.BANGLA_NAMES))
      else:
        name = b.plant('name', f'{pick(D.FIRST_NAMES)} {pick(D.LAST_NAMES)}')
      template = pick(_COMMENTS)
      text = template.format(city=city[0], city_bn=city[1],
                             contact=b.contact() if '{contact}' in template else '')
      c_ts = ts + 60 * b.between(1, 240)
      comments.append({
          'id': f'{post_number}_{b.unique("fb_comment", 2_100_000_000_000_000, 7_927)}',
          'from': {'name': name, 'id': b.plant('user_id', str(
              b.unique('fb_user', 100_000_000_000_000, 99_991)))},
          'message': text,
          'created_time': _graph_time(min(c_ts, b.now_s)),
          'like_count': b.between(0, 30),
      })
    post['comments'] = {'data': comments,
                        'summary': {'order': 'ranked', 'total_count': len(comments),
                                    'can_comment': True}}
  return post_id, post


def _shopify_address(b: _Builder, p: _Person) -> dict:
  return {
      'first_name': p.first, 'last_name': p.last, 'name': b.plant('name', f'{p.first} {p.last}'),
      'address1': p.street, 'address2': None, 'city': p.city[0], 'province': f'{p.city[0]} Division',
      'province_code': None, 'country': 'Bangladesh', 'country_code': 'BD', 'zip': p.post_code,
      'phone': p.phone, 'company': None,
      'latitude': round(p.city[3] - 0.03 + 0.06 * b.random(), 6),
      'longitude': round(p.city[4] - 0.03 + 0.06 * b.random(), 6),
  }


def _shopify(b: _Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
  rnd, pick = b.random, b.pick
  p = b.person()
  order_id = b.unique('shopify', 5_700_000_000_000, 1_013)
  number = 1000 + b.serial('shopify')
  items, subtotal = [], 0.0
  for product in b.pick_distinct(catalog, b.between(1, 4)):
    record = product.record
    qty = b.between(1, 4)
    subtotal += product.price * qty
    line_id = b.unique('shopify_line', 13_900_000_000_000, 977)
    items.append({
        'id': line_id, 'admin_graphql_api_id': f'gid://shopify/LineItem/{line_id}',
        'product_id': product.product_id, 'variant_id': product.product_id * 10 + 1,
        'sku': record['sku'], 'title': record['title'], 'name': record['title'],
        'vendor': record['brand'], 'quantity': qty, 'price': record['price_bdt'],
        'price_set': product.price_set, 'requires_shipping': True,
        'taxable': True, 'fulfillment_status': None, 'gift_card': False,
        'total_discount': '0.00', 'tax_lines': [],
    })
  shipping = pick((60.0, 120.0, 0.0))
  discount = pick((0.0, 0.0, round(subtotal * 0.1)))
  total = subtotal + shipping - discount
  subtotal_s, discount_s, total_s = _money(subtotal), _money(discount), _money(total)
  address = _shopify_address(b, p)
  created = _bd_iso(ts)
  bits = b.rng.getrandbits(45)
  order = {
      'id': order_id, 'admin_graphql_api_id': f'gid://shopify/Order/{order_id}',
      'browser_ip': b.plant('ip', f'192.0.2.{b.between(1, 255)}'),
      'buyer_accepts_marketing': rnd() < 0.3, 'cancel_reason': None, 'cancelled_at': None,
      'cart_token': None, 'checkout_id': b.unique('shopify_checkout', 31_000_000_000_000, 1_009),
      'confirmation_number': ''.join(_CONFIRMATION_ALPHABET[(bits >> s) & 31]
                                     for s in range(0, 45, 5)),
      'confirmed': True, 'contact_email': b.plant('email', p.email), 'created_at': created,
      'currency': 'BDT',
      'current_subtotal_price': subtotal_s, 'current_total_discounts': discount_s,
      'current_total_price': total_s, 'current_total_price_set': _money_set(total_s),
      'current_total_tax': '0.00', 'customer_locale': pick(('en', 'bn')),
      'discount_codes': [{'code': 'EID10', 'amount': discount_s, 'type': 'percentage'}]
                        if discount else [],
      'email': p.email, 'estimated_taxes': False,
      'financial_status': pick(D.SHOPIFY_FINANCIAL),
      'fulfillment_status': pick(D.SHOPIFY_FULFILLMENT),
      'landing_site': '/', 'name': f'#{number}', 'note': None, 'note_attributes': [],
      'number': number - 1000, 'order_number': number,
      'payment_gateway_names': pick(D.SHOPIFY_GATEWAYS), 'phone': p.phone,
      'presentment_currency': 'BDT', 'processed_at': created, 'source_name': 'web',
      'subtotal_price': subtotal_s, 'subtotal_price_set': _money_set(subtotal_s),
      'tags': pick(('', 'COD', 'VIP, Dhaka', 'ঈদ')), 'tax_lines': [], 'taxes_included': False,
      'test': False, 'total_discounts': discount_s,
      'total_line_items_price': subtotal_s, 'total_outstanding': '0.00',
      'total_price': total_s, 'total_price_set': _money_set(total_s),
      'total_shipping_price_set': _money_set(_money(shipping)), 'total_tax': '0.00',
      'total_weight': b.between(100, 5000), 'updated_at': created, 'user_id': None,
      'billing_address': address, 'shipping_address': dict(address),
      'customer': {
          'id': b.unique('shopify_customer', 6_900_000_000_000, 1_021), 'email': p.email,
          'first_name': p.first, 'last_name': p.last, 'phone': p.phone, 'state': 'enabled',
          'currency': 'BDT', 'created_at': created, 'updated_at': created, 'verified_email': True,
          'default_address': dict(address, id=b.unique('shopify_addr', 8_200_000_000_000, 1_031),
                                  default=True),
      },
      'line_items': items, 'fulfillments': [], 'refunds': [],
      'shipping_lines': [{'id': b.unique('shopify_ship', 4_400_000_000_000, 1_039),
                          'title': 'Inside Dhaka' if p.city[0] == 'Dhaka' else 'Outside Dhaka',
                          'price': _money(shipping), 'code': 'Standard', 'source': 'shopify'}],
  }
  return str(order_id), order


def _daraz_address(p: _Person) -> dict:
  return {
      'first_name': p.first, 'last_name': p.last, 'country': 'Bangladesh', 'phone': p.phone,
      'phone2': '', 'address1': p.street, 'address2': '', 'address3': p.city[0],
      'address4': p.area, 'address5': f'{p.city[0]} - {p.area}',
      'addressDsitrict': p.area, 'city': p.city[0], 'post_code': p.post_code,
  }


def _daraz(b: _Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
  """GetOrders order with stringified scalars (as the API returns them) plus its GetOrderItems."""
  pick, between = b.pick, b.between
  p = b.person()
  order_id = str(b.unique('daraz', 400_000_000_000_000, 10_007))
  created = _bd_iso(ts)
  item_time = _daraz_time(ts)
  status = pick(D.DARAZ_STATUSES)
  buyer_id = b.plant('customer_id', str(b.unique('daraz_buyer', 300_000_000, 997)))
  items, total = [], 0.0
  for product in b.pick_distinct(catalog, between(1, 3)):
    record = product.record
    price = _money(product.price)
    for _ in range(between(1, 3)):  # Daraz lists one item row per unit
      total += product.price
      items.append({
          'order_item_id': str(b.unique('daraz_item', 190_000_000_000_000, 10_009)),
          'order_id': order_id, 'name': record['title'], 'sku': record['sku'],
          'shop_sku': f'{record["product_id"]}_BD-{between(10**9, 10**10)}',
          'product_id': record['product_id'], 'sku_id': str(between(10**9, 10**10)),
          'shop_id': record['brand'], 'item_price': price, 'paid_price': price,
          'currency': 'BDT', 'status': status, 'shipping_type': 'Dropshipping',
          'shipment_provider': pick(('Daraz Express', 'RedX', 'Pathao')),
          'tracking_code': f'DEX-BD-{between(10**8, 10**9)}', 'is_digital': '0',
          'voucher_amount': '0.00', 'shipping_amount': '0.00', 'tax_amount': '0.00',
          'created_at': item_time, 'updated_at': item_time,
          'buyer_id': buyer_id,
          'reason': '', 'extra_attributes': 'null',
      })
  nid = b.plant('national_id', f'{int(b.random() * 10**10):010d}')
  address = _daraz_address(p)
  order = {
      'order_id': order_id, 'order_number': order_id, 'created_at': created, 'updated_at': created,
      'customer_first_name': p.first, 'customer_last_name': p.last,
      'price': _money(total), 'items_count': str(len(items)), 'payment_method': pick(D.DARAZ_PAYMENT),
      'voucher': '0.00', 'voucher_platform': '0.00', 'voucher_seller': '0.00', 'voucher_code': '',
      'shipping_fee': pick(('60.00', '120.00', '0.00')), 'shipping_fee_original': '0.00',
      'shipping_fee_discount_seller': '0.00', 'shipping_fee_discount_platform': '0.00',
      'gift_option': 'false', 'gift_message': '', 'is_cancel_pending': 'false',
      'need_cancel_confirm': 'false', 'warehouse_code': 'dropshipping', 'delivery_info': '',
      'promised_shipping_times': '', 'national_registration_number': '', 'tax_code': '',
      'branch_number': '', 'remarks': '', 'address_updated_at': 'null', 'extra_attributes': 'null',
      'statuses': [status],
      'buyer_note': _buyer_note(b),
      'recipient_info': {'identify_no': nid, 'detail_address': p.street},
      'address_billing': address, 'address_shipping': dict(address),
      'order_items': items,
  }
  return order_id, order


def _buyer_note(b: _Builder) -> str:
  note = b.pick(('', '', 'call', 'গেটে দারোয়ানকে দিবেন', 'Deliver after 5pm'))
  return 'Please call before delivery ' + b.phone() if note == 'call' else note


_SOURCE_BUILDERS = {'tiktok': _tiktok, 'facebook': _facebook, 'shopify': _shopify, 'daraz': _daraz}
_RETYPE = {  # field -> a value of the wrong type
    'tiktok': (('create_time', 'yesterday'), ('view_count', 'many'), ('hashtag_names', '#sale')),
    'facebook': (('created_time', ['yesterday']), ('message', {'text': 'hi'}), ('from', 'page')),
    'shopify': (('line_items', 'none'), ('total_price', ['598.94']), ('id', 'ABC-123')),
    'daraz': (('order_items', 'n/a'), ('price', {'amount': 106}), ('created_at', True)),
}


@functools.lru_cache(maxsize=None)
def _required_fields(source: str) -> tuple[str, ...]:
  """The fields the pipeline's source contract requires: dropping one makes a record invalid."""
  model = SOURCE_MODELS[source]
  return tuple(sorted(name for name, field in model.model_fields.items() if field.is_required()))


def _malform(b: _Builder, source: str, payload: dict) -> tuple[bytes, str]:
  kind = b.pick(MALFORMED_KINDS)
  if kind == 'missing_required':
    field = b.pick(_required_fields(source))
    payload = {k: v for k, v in payload.items() if k != field}
    return _encode(payload), f'missing_required:{field}'
  if kind == 'wrong_type':
    field, value = b.pick(_RETYPE[source])
    return _encode(dict(payload, **{field: value})), f'wrong_type:{field}'
  if kind == 'truncated':
    raw = _encode(payload)
    return raw[:b.between(1, len(raw) - 1)], 'truncated'
  # bad_json: what naive producers emit: Python repr (single quotes, True/None), or a trailing comma
  if b.random() < 0.5:
    return repr(payload).encode('utf-8'), 'bad_json'
  return _encode(payload)[:-1] + b',}', 'bad_json'


def _stdlib_json(payload) -> bytes:
  return json.dumps(payload, ensure_ascii=False, separators=(',', ':')).encode('utf-8')


# orjson writes the same bytes as the stdlib call above for these payloads (compact, UTF-8, no
# ASCII escaping; a unit test compares whole batches) at about a tenth of the cost, which was
# over half of the generator's time. It is optional: without it the output is the same, slower.
_encode: Callable[[object], bytes] = orjson.dumps if orjson is not None else _stdlib_json


def _source_counts(events: int) -> dict[str, int]:
  counts = {s: int(events * share) for s, share in SOURCE_SHARES}
  for s, _ in SOURCE_SHARES[:events - sum(counts.values())]:
    counts[s] += 1
  return counts


def _headers_with_fetched_at(source: str, now: datetime.datetime) -> Callable[[int], tuple]:
  """standard_headers(source, fetched_at, synthetic=True), with fetched_at filled in per event."""
  template = standard_headers(source, now, synthetic=True)
  at = [name for name, _ in template].index('fetched_at')
  head, tail = tuple(template[:at]), tuple(template[at + 1:])
  return lambda ts: head + (('fetched_at', _fetched_at(ts)),) + tail


def generate(seed: int, events: int, malformed_share: float = 0.05, *,
             topics: Optional[AgentTopics] = None,
             now: Optional[datetime.datetime] = None,
             window_s: int = 6 * 3600) -> DemoData:
  """Builds one demo batch: `events` source events plus the context records, in publish order.

  Order: the product catalog (48 records, key = sku) and one weather record per city (8, key =
  city id) first, so that enrichment has context; then the source events (split 30/25/25/20 over
  tiktok/facebook/shopify/daraz) in event-time order, spread over `window_s` before `now`, in
  whole seconds. `round(events * malformed_share)` of the source events are malformed;
  `malformed` lists them.
  """
  if events < 0 or not 0 <= malformed_share <= 1:
    raise ValueError('events must be >= 0 and malformed_share within [0, 1]')
  topics = topics or load_topics()
  now = now or DEFAULT_NOW
  now_s = int(now.timestamp())
  b = _Builder(seed, now_s)

  out: list[DemoEvent] = []
  catalog = _product_catalog(b)
  headers = tuple(standard_headers('catalog', now, synthetic=True))
  for product in catalog:
    out.append(DemoEvent(topics.for_source('catalog'), product.record['sku'].encode(),
                         _encode(product.record), headers))
  headers = tuple(standard_headers('openweather', now, synthetic=True))
  for city in D.CITIES:
    out.append(DemoEvent(topics.for_source('openweather'), str(city[2]).encode(),
                         _encode(_weather(b, city)), headers))

  plan = [(b.when(window_s), source)
          for source, n in _source_counts(events).items() for _ in range(n)]
  plan.sort(key=operator.itemgetter(0))
  bad = set(b.rng.sample(range(len(plan)), round(len(plan) * malformed_share)))
  malformed: list[Malformed] = []
  topic_of = {source: topics.for_source(source) for source in _SOURCE_BUILDERS}
  headers_of = {source: _headers_with_fetched_at(source, now) for source in _SOURCE_BUILDERS}
  for i, (ts, source) in enumerate(plan):
    key, payload = _SOURCE_BUILDERS[source](b, catalog, ts)
    key_b = key.encode()
    topic = topic_of[source]
    if i in bad:
      value, reason = _malform(b, source, payload)
      malformed.append(Malformed(topic, key_b, reason))
    else:
      value = _encode(payload)
    fetched = min(ts + b.between(5, 300), now_s)
    out.append(DemoEvent(topic, key_b, value, headers_of[source](fetched)))
  return DemoData(out, b.pii(), malformed)


# The publishing clients a demo load can go through (`--client`); agents use kafka-python only.
CLIENTS = {'librdkafka': BulkPublisher, 'kafka-python': KafkaPublisher}
DEFAULT_CLIENT = 'librdkafka'


def publish(events: Iterable[DemoEvent], bootstrap_servers: str, *,
            config: Optional[PublisherConfig] = None, workers: int = 1,
            client: str = DEFAULT_CLIENT, progress=None) -> dict[str, int]:
  """Publishes the events; returns acknowledged counts per topic. Raises PublishError on loss.

  `client` is 'librdkafka' (BulkPublisher, the default: about 20 µs of CPU per record) or
  'kafka-python' (KafkaPublisher, as the agents: about 90 µs), with the same settings and
  guarantees. With `workers` > 1 the context records are published first, then the source
  events are split over that many forked processes, each with its own producer.
  """
  if client not in CLIENTS:
    raise ValueError(f'Unknown client {client!r}; one of {sorted(CLIENTS)}')
  # Bulk settings: a long linger fills big batches, which is what kafka-python needs to keep up
  # (measured with benchmarks/bench_generator.py); latency does not matter for a demo load.
  config = config or PublisherConfig(bootstrap_servers=bootstrap_servers,
                                     client_id='millionx-demo', linger_ms=BULK_LINGER_MS,
                                     batch_size=BULK_BATCH_BYTES)
  events = list(events)
  if workers <= 1:
    return _publish_slice(client, config, events, progress)
  n_context = 0
  while n_context < len(events) and dict(events[n_context].headers)['source'] in (
      b'catalog', b'openweather'):
    n_context += 1
  counts = collections.Counter(_publish_slice(client, config, events[:n_context], None))
  global _FORKED_EVENTS  # pylint: disable=global-statement
  _FORKED_EVENTS = events[n_context:]   # inherited by the forked workers, never pickled
  try:
    with multiprocessing.get_context('fork').Pool(workers) as pool:
      for part in pool.starmap(_publish_share,
                               [(client, config, i, workers) for i in range(workers)]):
        counts.update(part)
  finally:
    _FORKED_EVENTS = []
  return topic_counts(counts)


_FORKED_EVENTS: list[DemoEvent] = []


def _publish_share(client: str, config: PublisherConfig, index: int,
                   workers: int) -> dict[str, int]:
  return _publish_slice(client, config, _FORKED_EVENTS[index::workers], None)


def _publish_slice(client: str, config: PublisherConfig, events: Sequence[DemoEvent],
                   progress) -> dict[str, int]:
  with CLIENTS[client](config) as publisher:
    publisher.publish_many(events, progress=progress)
    return topic_counts(publisher.acked)


def write_pii(path: str, data: DemoData, seed: int) -> None:
  with open(path, 'w', encoding='utf-8') as f:
    json.dump({'seed': seed, 'synthetic': True,
               'values': [p._asdict() for p in data.pii]}, f, ensure_ascii=False, indent=1)


def _parse_now(text: Optional[str]) -> Optional[datetime.datetime]:
  if text is None:
    return None
  if text == 'now':
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
  ts = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
  if ts.tzinfo is None:
    raise argparse.ArgumentTypeError('--now needs a UTC offset, e.g. 2026-11-28T12:00:00Z')
  return ts


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m agents.demo', description=__doc__.split('\n\n')[0])
  parser.add_argument('--bootstrap-servers', help='Kafka brokers host:port[,...]; default: the '
                      'bootstrap_servers of the topics file')
  parser.add_argument('--events', type=int, default=1000,
                      help='number of source events (tiktok/facebook/shopify/daraz), default 1000; '
                      '48 product and 8 weather records come on top')
  parser.add_argument('--seed', type=int, default=42, help='random seed; same seed, same data')
  parser.add_argument('--malformed-share', type=float, default=0.05,
                      help='share of source events that are malformed, 0..1 (default 0.05)')
  parser.add_argument('--pii-out', help='write the planted PII values to this JSON file')
  parser.add_argument('--now', type=_parse_now,
                      help='reference time (ISO-8601 with offset, or "now"); events fall in the '
                      f'6 hours before it. Default {DEFAULT_NOW.isoformat()} for reproducible data')
  parser.add_argument('--topics-file', help='topic config (default pipeline/topics.yaml)')
  parser.add_argument('--topic-prefix', default='',
                      help='prefix every topic name (tests use unique topics)')
  parser.add_argument('--workers', type=int, default=1,
                      help='publishing processes (default 1; one librdkafka process keeps up with '
                      'a local broker, kafka-python needs 2 or more for large --events)')
  parser.add_argument('--client', choices=sorted(CLIENTS), default=DEFAULT_CLIENT,
                      help=f'Kafka client for publishing (default {DEFAULT_CLIENT}; the agents '
                      'use kafka-python, with the same settings)')
  parser.add_argument('--dry-run', action='store_true',
                      help='print the events as JSON lines to stdout instead of publishing')
  args = parser.parse_args(argv)

  topics = load_topics(args.topics_file)
  if args.topic_prefix:
    topics = topics.with_prefix(args.topic_prefix)
  started = time.monotonic()
  data = generate(args.seed, args.events, args.malformed_share, topics=topics, now=args.now)
  gen_s = time.monotonic() - started
  if args.pii_out:
    write_pii(args.pii_out, data, args.seed)
  summary = sys.stderr if args.dry_run else sys.stdout
  if args.dry_run:
    for e in data.events:
      print(json.dumps({'topic': e.topic, 'key': e.key.decode(),
                        'headers': {k: v.decode() for k, v in e.headers},
                        'value': e.value.decode('utf-8', errors='replace')}, ensure_ascii=False))
    counts = data.counts()
  else:
    servers = args.bootstrap_servers or topics.bootstrap_servers
    started = time.monotonic()
    counts = publish(data.events, servers, workers=args.workers, client=args.client,
                     progress=lambda n: print(f'  published {n}/{len(data.events)}', file=sys.stderr))
    pub_s = time.monotonic() - started
    print(f'published {sum(counts.values())} records to {servers} in {pub_s:.2f}s '
          f'({sum(counts.values()) / max(pub_s, 1e-9):,.0f}/s)', file=summary)
  print(f'generated {len(data.events)} records in {gen_s:.2f}s (seed {args.seed})', file=summary)
  for topic, n in counts.items():
    print(f'  {topic:<24} {n:>8}', file=summary)
  reasons = collections.Counter(m.reason.split(':')[0] for m in data.malformed)
  print(f'malformed: {len(data.malformed)} ' + json.dumps(dict(sorted(reasons.items()))),
        file=summary)
  print(f'planted PII values: {len(data.pii)}' + (f' -> {args.pii_out}' if args.pii_out else ''),
        file=summary)
  return 0


if __name__ == '__main__':
  sys.exit(main())
