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
        --malformed-share 0.05 --pii-out /tmp/pii.json [--now now] [--workers 2] [--dry-run]

From Python: `data = generate(seed, events, malformed_share)` gives `data.events` (DemoEvent
tuples: topic, key, value, headers), `data.pii` and `data.malformed`; `publish(data.events,
bootstrap_servers)` returns the acknowledged count per topic.
"""
from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime
import json
import multiprocessing
import random
import sys
import time
from typing import Iterable, NamedTuple, Optional, Sequence

from agents import demo_data as D
from agents.topics import AgentTopics, load_topics
from connectors.kafka_publisher import (KafkaPublisher, PublisherConfig, standard_headers,
                                        topic_counts)
from schemas.sources import SOURCE_MODELS

# A fixed reference time keeps the output identical across runs; pass `now` for fresh timestamps.
DEFAULT_NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
BD_TZ = datetime.timezone(datetime.timedelta(hours=6))
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


@dataclasses.dataclass
class _Person:
  first: str
  last: str
  phone: str          # as written
  email: str
  city: tuple
  area: str
  post_code: str
  street: str


class _Builder:
  """Holds the seeded random source and the PII ledger while one batch is built."""

  def __init__(self, seed: int, now: datetime.datetime):
    self.rng = random.Random(seed)
    self.now = now
    self._pii: dict[tuple[str, str], PlantedPii] = {}
    self._serial = collections.Counter()

  # --- PII, always recorded as planted ---------------------------------------------------------
  def plant(self, kind: str, value: str, normalized: Optional[str] = None) -> str:
    self._pii.setdefault((kind, value), PlantedPii(kind, value, normalized))
    return value

  def pii(self) -> list[PlantedPii]:
    return list(self._pii.values())

  def serial(self, name: str) -> int:
    return self._serial[name]

  def unique(self, name: str, base: int, spread: int) -> int:
    """Increasing ids, unique per name, with random gaps like real ids."""
    self._serial[name] += 1
    return base + self._serial[name] * spread + self.rng.randrange(spread)

  def phone(self) -> str:
    rng = self.rng
    national = '1' + rng.choice('3456789') + ''.join(rng.choice('0123456789') for _ in range(8))
    a, b = national[:4], national[4:]
    written = rng.choice((
        f'+880{national}', f'880{national}', f'0{national}', f'+880 {a}-{b}', f'0{a}-{b}',
        f'0{national[:2]}-{national[2:6]}-{national[6:]}', f'0{a} {b}', f'+880-{a}-{b}',
        D.bangla_digits(f'0{national}'), D.bangla_digits(f'+৮৮০ {a}-{b}'), f'(+880) {a} {b}'))
    return self.plant('phone', written, '+880' + national)

  def email(self, first: str, last: str, plant: bool = True) -> str:
    sep = self.rng.choice(('.', '_', ''))
    value = f'{first}{sep}{last}{self.rng.randrange(1, 999)}@{self.rng.choice(D.EMAIL_DOMAINS)}'
    return self.plant('email', value.lower()) if plant else value.lower()

  def person(self) -> _Person:
    rng = self.rng
    first, last = rng.choice(D.FIRST_NAMES), rng.choice(D.LAST_NAMES)
    city = rng.choice(D.CITIES)
    area_i = rng.randrange(len(city[5]))
    area = city[5][area_i]
    house, road = rng.randrange(1, 120), rng.randrange(1, 40)
    if rng.random() < 0.25:
      street = D.bangla_digits(f'বাড়ি {house}, রোড {road}, {area}')
    elif rng.random() < 0.5:
      street = f'House {house}, Road {road}, {area}'
    else:
      flat = f'{rng.randrange(1, 9)}{rng.choice("ABCD")}'
      street = f'Flat {flat}, House {house}/{rng.choice("AB")}, Road {road}, {area}'
    self.plant('first_name', first)
    self.plant('last_name', last)
    self.plant('address', street)
    # The email is planted where a payload uses it (Daraz orders carry none).
    return _Person(first, last, self.phone(), self.email(first, last, plant=False), city, area,
                   city[6][area_i % len(city[6])], street)

  def contact(self) -> str:
    """A phone number or an email, as people paste them into captions and comments."""
    if self.rng.random() < 0.7:
      return self.phone()
    return self.email(self.rng.choice(D.FIRST_NAMES), self.rng.choice(D.LAST_NAMES))

  def when(self, window_s: int) -> datetime.datetime:
    return self.now - datetime.timedelta(seconds=self.rng.randrange(window_s))


def _bd_iso(ts: datetime.datetime) -> str:
  return ts.astimezone(BD_TZ).isoformat(timespec='seconds')


def _money(value: float) -> str:
  return f'{value:.2f}'


def _product_catalog(b: _Builder) -> list[dict]:
  catalog = []
  for i in range(CATALOG_SIZE):
    category, _, titles = D.PRODUCTS[i % len(D.PRODUCTS)]
    title = titles[(i // len(D.PRODUCTS)) % len(titles)]
    brand = b.rng.choice(D.BRANDS[category])
    low, high = D.PRICE_RANGES[category]
    price = round(b.rng.uniform(low, high) / 10) * 10
    catalog.append({
        'sku': f'{brand[:3].upper()}-{category[:3].upper()}-{1000 + i}',
        'product_id': str(b.unique('product', 1_840_000_000, 7919)),
        'title': title, 'category': category, 'brand': brand, 'price_bdt': _money(price),
        'updated_at': _bd_iso(b.when(30 * 86400)),
    })
  return catalog


def _weather(b: _Builder, city: tuple) -> dict:
  name, _, city_id, lat, lon = city[:5]
  cond = b.rng.choice(D.WEATHER)
  temp = round(b.rng.uniform(17, 34), 2)
  dt = int((b.now - datetime.timedelta(minutes=b.rng.randrange(60))).timestamp())
  day = int(b.now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
  weather = {
      'coord': {'lon': lon, 'lat': lat},
      'weather': [{'id': cond[0], 'main': cond[1], 'description': cond[2], 'icon': cond[3]}],
      'base': 'stations',
      'main': {'temp': temp, 'feels_like': round(temp + b.rng.uniform(-1, 4), 2),
               'temp_min': round(temp - b.rng.uniform(0, 2), 2),
               'temp_max': round(temp + b.rng.uniform(0, 2), 2),
               'pressure': b.rng.randrange(1002, 1018), 'humidity': b.rng.randrange(45, 98)},
      'visibility': b.rng.choice((2500, 3500, 4000, 6000, 10000)),
      'wind': {'speed': round(b.rng.uniform(0.5, 7), 2), 'deg': b.rng.randrange(360)},
      'clouds': {'all': b.rng.randrange(0, 100)},
      'dt': dt,
      # Sunrise about 06:20 and sunset about 17:15 Bangladesh time (UTC+6).
      'sys': {'type': 1, 'id': 9145 + b.rng.randrange(50), 'country': 'BD',
              'sunrise': day + 20 * 60 + b.rng.randrange(-900, 900),
              'sunset': day + 11 * 3600 + 15 * 60 + b.rng.randrange(-900, 900)},
      'timezone': 21600, 'id': city_id, 'name': name, 'cod': 200,
  }
  if cond[1] in ('Rain', 'Thunderstorm'):
    weather['rain'] = {'1h': round(b.rng.uniform(0.2, 12), 2)}
  return weather


def _caption(b: _Builder, product: dict) -> tuple[str, list[str]]:
  """A caption and its hashtags, in English, Bangla or Banglish."""
  rng = b.rng
  city = rng.choice(D.CITIES)
  bn_word = next(p[1] for p in D.PRODUCTS if p[0] == product['category'])
  price = product['price_bdt'].split('.')[0]
  fields = dict(product=product['title'], product_bn=bn_word, price=price,
                price_bn=D.bangla_digits(f'{int(price):,}'), city=city[0], city_bn=city[1],
                area=rng.choice(city[5]), name=rng.choice(D.FIRST_NAMES))
  style = rng.random()
  if style < 0.45:
    template, tags = rng.choice(D.EN_CAPTIONS), rng.sample(D.EN_HASHTAGS, rng.randrange(1, 4))
  elif style < 0.85:
    template, tags = rng.choice(D.BN_CAPTIONS), rng.sample(D.BN_HASHTAGS, rng.randrange(1, 4))
  else:
    template, tags = rng.choice(D.MIXED_CAPTIONS), rng.sample(D.EN_HASHTAGS + D.BN_HASHTAGS, 2)
  if '{contact}' in template:
    fields['contact'] = b.contact()
  text = template.format(**fields) + ' ' + ' '.join('#' + t for t in tags)
  return text, tags


def _tiktok(b: _Builder, catalog: list[dict], ts: datetime.datetime) -> tuple[str, dict]:
  rng = b.rng
  caption, tags = _caption(b, rng.choice(catalog))
  first, last = rng.choice(D.FIRST_NAMES), rng.choice(D.LAST_NAMES)
  username = b.plant('username', f'{first.lower()}_{last.lower()}{rng.randrange(10, 9999)}')
  video_id = b.unique('tiktok', 7_300_000_000_000_000_000, 1_000_003)
  views = int(rng.paretovariate(1.2) * 800)
  video = {
      'id': video_id,
      'create_time': int(ts.timestamp()),
      'username': username,
      'region_code': 'BD',
      'video_description': caption,
      'music_id': b.unique('tiktok_music', 7_100_000_000_000_000_000, 999_983),
      'like_count': int(views * rng.uniform(0.01, 0.15)),
      'comment_count': int(views * rng.uniform(0.0, 0.02)),
      'share_count': int(views * rng.uniform(0.0, 0.01)),
      'view_count': views,
      'favorites_count': int(views * rng.uniform(0.0, 0.02)),
      'hashtag_names': tags,
      'effect_ids': [str(rng.randrange(100000, 999999))] if rng.random() < 0.3 else ['0'],
      'video_duration': rng.randrange(7, 180),
      'is_stem_verified': False,
  }
  if rng.random() < 0.3:
    video['voice_to_text'] = caption.split('#')[0].strip()
  return str(video_id), video


def _facebook(b: _Builder, catalog: list[dict], ts: datetime.datetime) -> tuple[str, dict]:
  rng = b.rng
  page_id, page_name = rng.choice(D.FB_PAGES)
  post_id = f'{page_id}_{b.unique("fb_post", 1_020_000_000_000_000, 104_729)}'
  message, _ = _caption(b, rng.choice(catalog))
  created = ts.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S+0000')
  post = {
      'id': post_id, 'created_time': created, 'updated_time': created,
      'from': {'name': page_name, 'id': str(page_id)},
      'message': message,
      'permalink_url': f'https://www.facebook.com/{page_id}/posts/{post_id.split("_")[1]}',
      'status_type': 'added_photos' if rng.random() < 0.6 else 'mobile_status_update',
  }
  if rng.random() < 0.7:
    post['shares'] = {'count': rng.randrange(0, 400)}
  if rng.random() < 0.6:
    comments = []
    for _ in range(rng.randrange(1, 5)):
      city = rng.choice(D.CITIES)
      if rng.random() < 0.3:
        name = b.plant('name', rng.choice(D.BANGLA_NAMES))
      else:
        first, last = rng.choice(D.FIRST_NAMES), rng.choice(D.LAST_NAMES)
        name = b.plant('name', f'{first} {last}')
      template = rng.choice(D.COMMENTS_EN + D.COMMENTS_BN)
      text = template.format(city=city[0], city_bn=city[1],
                             contact=b.contact() if '{contact}' in template else '')
      c_ts = ts + datetime.timedelta(minutes=rng.randrange(1, 240))
      comments.append({
          'id': f'{post_id.split("_")[1]}_{b.unique("fb_comment", 2_100_000_000_000_000, 7_927)}',
          'from': {'name': name, 'id': b.plant('user_id', str(
              b.unique('fb_user', 100_000_000_000_000, 99_991)))},
          'message': text,
          'created_time': min(c_ts, b.now).astimezone(datetime.timezone.utc).strftime(
              '%Y-%m-%dT%H:%M:%S+0000'),
          'like_count': rng.randrange(0, 30),
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
      'latitude': round(p.city[3] + b.rng.uniform(-0.03, 0.03), 6),
      'longitude': round(p.city[4] + b.rng.uniform(-0.03, 0.03), 6),
  }


def _money_set(amount: str) -> dict:
  return {'shop_money': {'amount': amount, 'currency_code': 'BDT'},
          'presentment_money': {'amount': amount, 'currency_code': 'BDT'}}


def _shopify(b: _Builder, catalog: list[dict], ts: datetime.datetime) -> tuple[str, dict]:
  rng = b.rng
  p = b.person()
  order_id = b.unique('shopify', 5_700_000_000_000, 1_013)
  number = 1000 + b.serial('shopify')
  items, subtotal = [], 0.0
  for product in rng.sample(catalog, rng.randrange(1, 4)):
    qty = rng.randrange(1, 4)
    subtotal += float(product['price_bdt']) * qty
    items.append({
        'id': b.unique('shopify_line', 13_900_000_000_000, 977), 'admin_graphql_api_id': None,
        'product_id': int(product['product_id']), 'variant_id': int(product['product_id']) * 10 + 1,
        'sku': product['sku'], 'title': product['title'], 'name': product['title'],
        'vendor': product['brand'], 'quantity': qty, 'price': product['price_bdt'],
        'price_set': _money_set(product['price_bdt']), 'requires_shipping': True,
        'taxable': True, 'fulfillment_status': None, 'gift_card': False,
        'total_discount': '0.00', 'tax_lines': [],
    })
  for item in items:
    item['admin_graphql_api_id'] = f'gid://shopify/LineItem/{item["id"]}'
  shipping = rng.choice((60.0, 120.0, 0.0))
  discount = rng.choice((0.0, 0.0, round(subtotal * 0.1)))
  total = subtotal + shipping - discount
  address = _shopify_address(b, p)
  created = _bd_iso(ts)
  order = {
      'id': order_id, 'admin_graphql_api_id': f'gid://shopify/Order/{order_id}',
      'browser_ip': b.plant('ip', f'192.0.2.{rng.randrange(1, 255)}'),
      'buyer_accepts_marketing': rng.random() < 0.3, 'cancel_reason': None, 'cancelled_at': None,
      'cart_token': None, 'checkout_id': b.unique('shopify_checkout', 31_000_000_000_000, 1_009),
      'confirmation_number': ''.join(rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ23456789')
                                     for _ in range(9)),
      'confirmed': True, 'contact_email': b.plant('email', p.email), 'created_at': created,
      'currency': 'BDT',
      'current_subtotal_price': _money(subtotal), 'current_total_discounts': _money(discount),
      'current_total_price': _money(total), 'current_total_price_set': _money_set(_money(total)),
      'current_total_tax': '0.00', 'customer_locale': rng.choice(('en', 'bn')),
      'discount_codes': [{'code': 'EID10', 'amount': _money(discount), 'type': 'percentage'}]
                        if discount else [],
      'email': p.email, 'estimated_taxes': False,
      'financial_status': rng.choice(D.SHOPIFY_FINANCIAL),
      'fulfillment_status': rng.choice(D.SHOPIFY_FULFILLMENT),
      'landing_site': '/', 'name': f'#{number}', 'note': None, 'note_attributes': [],
      'number': number - 1000, 'order_number': number,
      'payment_gateway_names': rng.choice(D.SHOPIFY_GATEWAYS), 'phone': p.phone,
      'presentment_currency': 'BDT', 'processed_at': created, 'source_name': 'web',
      'subtotal_price': _money(subtotal), 'subtotal_price_set': _money_set(_money(subtotal)),
      'tags': rng.choice(('', 'COD', 'VIP, Dhaka', 'ঈদ')), 'tax_lines': [], 'taxes_included': False,
      'test': False, 'total_discounts': _money(discount),
      'total_line_items_price': _money(subtotal), 'total_outstanding': '0.00',
      'total_price': _money(total), 'total_price_set': _money_set(_money(total)),
      'total_shipping_price_set': _money_set(_money(shipping)), 'total_tax': '0.00',
      'total_weight': rng.randrange(100, 5000), 'updated_at': created, 'user_id': None,
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


def _daraz(b: _Builder, catalog: list[dict], ts: datetime.datetime) -> tuple[str, dict]:
  """GetOrders order with stringified scalars (as the API returns them) plus its GetOrderItems."""
  rng = b.rng
  p = b.person()
  order_id = str(b.unique('daraz', 400_000_000_000_000, 10_007))
  created = _bd_iso(ts)
  status = rng.choice(D.DARAZ_STATUSES)
  buyer_id = b.plant('customer_id', str(b.unique('daraz_buyer', 300_000_000, 997)))
  items, total = [], 0.0
  for product in rng.sample(catalog, rng.randrange(1, 3)):
    for _ in range(rng.randrange(1, 3)):  # Daraz lists one item row per unit
      price = float(product['price_bdt'])
      total += price
      items.append({
          'order_item_id': str(b.unique('daraz_item', 190_000_000_000_000, 10_009)),
          'order_id': order_id, 'name': product['title'], 'sku': product['sku'],
          'shop_sku': f'{product["product_id"]}_BD-{rng.randrange(10**9, 10**10)}',
          'product_id': product['product_id'], 'sku_id': str(rng.randrange(10**9, 10**10)),
          'shop_id': product['brand'], 'item_price': _money(price), 'paid_price': _money(price),
          'currency': 'BDT', 'status': status, 'shipping_type': 'Dropshipping',
          'shipment_provider': rng.choice(('Daraz Express', 'RedX', 'Pathao')),
          'tracking_code': f'DEX-BD-{rng.randrange(10**8, 10**9)}', 'is_digital': '0',
          'voucher_amount': '0.00', 'shipping_amount': '0.00', 'tax_amount': '0.00',
          'created_at': ts.astimezone(BD_TZ).strftime('%Y-%m-%d %H:%M:%S +0600'),
          'updated_at': ts.astimezone(BD_TZ).strftime('%Y-%m-%d %H:%M:%S +0600'),
          'buyer_id': buyer_id,
          'reason': '', 'extra_attributes': 'null',
      })
  nid = b.plant('national_id', ''.join(rng.choice('0123456789') for _ in range(10)))
  order = {
      'order_id': order_id, 'order_number': order_id, 'created_at': created, 'updated_at': created,
      'customer_first_name': p.first, 'customer_last_name': p.last,
      'price': _money(total), 'items_count': str(len(items)), 'payment_method': rng.choice(D.DARAZ_PAYMENT),
      'voucher': '0.00', 'voucher_platform': '0.00', 'voucher_seller': '0.00', 'voucher_code': '',
      'shipping_fee': rng.choice(('60.00', '120.00', '0.00')), 'shipping_fee_original': '0.00',
      'shipping_fee_discount_seller': '0.00', 'shipping_fee_discount_platform': '0.00',
      'gift_option': 'false', 'gift_message': '', 'is_cancel_pending': 'false',
      'need_cancel_confirm': 'false', 'warehouse_code': 'dropshipping', 'delivery_info': '',
      'promised_shipping_times': '', 'national_registration_number': '', 'tax_code': '',
      'branch_number': '', 'remarks': '', 'address_updated_at': 'null', 'extra_attributes': 'null',
      'statuses': [status],
      'buyer_note': _buyer_note(b),
      'recipient_info': {'identify_no': nid, 'detail_address': p.street},
      'address_billing': _daraz_address(p), 'address_shipping': _daraz_address(p),
      'order_items': items,
  }
  return order_id, order


def _buyer_note(b: _Builder) -> str:
  note = b.rng.choice(('', '', 'call', 'গেটে দারোয়ানকে দিবেন', 'Deliver after 5pm'))
  return 'Please call before delivery ' + b.phone() if note == 'call' else note


_SOURCE_BUILDERS = {'tiktok': _tiktok, 'facebook': _facebook, 'shopify': _shopify, 'daraz': _daraz}
_RETYPE = {  # field -> a value of the wrong type
    'tiktok': (('create_time', 'yesterday'), ('view_count', 'many'), ('hashtag_names', '#sale')),
    'facebook': (('created_time', ['yesterday']), ('message', {'text': 'hi'}), ('from', 'page')),
    'shopify': (('line_items', 'none'), ('total_price', ['598.94']), ('id', 'ABC-123')),
    'daraz': (('order_items', 'n/a'), ('price', {'amount': 106}), ('created_at', True)),
}


def _required_fields(source: str) -> list[str]:
  """The fields the pipeline's source contract requires: dropping one makes a record invalid."""
  model = SOURCE_MODELS[source]
  return sorted(name for name, field in model.model_fields.items() if field.is_required())


def _malform(b: _Builder, source: str, payload: dict) -> tuple[bytes, str]:
  kind = b.rng.choice(MALFORMED_KINDS)
  if kind == 'missing_required':
    field = b.rng.choice(_required_fields(source))
    payload = {k: v for k, v in payload.items() if k != field}
    return _encode(payload), f'missing_required:{field}'
  if kind == 'wrong_type':
    field, value = b.rng.choice(_RETYPE[source])
    return _encode(dict(payload, **{field: value})), f'wrong_type:{field}'
  if kind == 'truncated':
    raw = _encode(payload)
    return raw[:b.rng.randrange(1, len(raw) - 1)], 'truncated'
  # bad_json: what naive producers emit: Python repr (single quotes, True/None), or a trailing comma
  if b.rng.random() < 0.5:
    return repr(payload).encode('utf-8'), 'bad_json'
  return _encode(payload)[:-1] + b',}', 'bad_json'


def _encode(payload) -> bytes:
  return json.dumps(payload, ensure_ascii=False, separators=(',', ':')).encode('utf-8')


def _source_counts(events: int) -> dict[str, int]:
  counts = {s: int(events * share) for s, share in SOURCE_SHARES}
  for s, _ in SOURCE_SHARES[:events - sum(counts.values())]:
    counts[s] += 1
  return counts


def generate(seed: int, events: int, malformed_share: float = 0.05, *,
             topics: Optional[AgentTopics] = None,
             now: Optional[datetime.datetime] = None,
             window_s: int = 6 * 3600) -> DemoData:
  """Builds one demo batch: `events` source events plus the context records, in publish order.

  Order: the product catalog (48 records, key = sku) and one weather record per city (8, key =
  city id) first, so that enrichment has context; then the source events (split 30/25/25/20 over
  tiktok/facebook/shopify/daraz) in event-time order, spread over `window_s` before `now`.
  `round(events * malformed_share)` of the source events are malformed; `malformed` lists them.
  """
  if events < 0 or not 0 <= malformed_share <= 1:
    raise ValueError('events must be >= 0 and malformed_share within [0, 1]')
  topics = topics or load_topics()
  now = now or DEFAULT_NOW
  b = _Builder(seed, now)

  out: list[DemoEvent] = []
  catalog = _product_catalog(b)
  for product in catalog:
    out.append(DemoEvent(topics.for_source('catalog'), product['sku'].encode(), _encode(product),
                         tuple(standard_headers('catalog', now, synthetic=True))))
  for city in D.CITIES:
    weather = _weather(b, city)
    out.append(DemoEvent(topics.for_source('openweather'), str(city[2]).encode(), _encode(weather),
                         tuple(standard_headers('openweather', now, synthetic=True))))

  plan = [(b.when(window_s), source)
          for source, n in _source_counts(events).items() for _ in range(n)]
  plan.sort(key=lambda p: p[0])
  bad = set(b.rng.sample(range(len(plan)), round(len(plan) * malformed_share)))
  malformed: list[Malformed] = []
  for i, (ts, source) in enumerate(plan):
    key, payload = _SOURCE_BUILDERS[source](b, catalog, ts)
    topic = topics.for_source(source)
    if i in bad:
      value, reason = _malform(b, source, payload)
      malformed.append(Malformed(topic, key.encode(), reason))
    else:
      value = _encode(payload)
    fetched = ts + datetime.timedelta(seconds=b.rng.randrange(5, 300))
    out.append(DemoEvent(topic, key.encode(), value,
                         tuple(standard_headers(source, min(fetched, now), synthetic=True))))
  return DemoData(out, b.pii(), malformed)


def publish(events: Iterable[DemoEvent], bootstrap_servers: str, *,
            config: Optional[PublisherConfig] = None, workers: int = 1,
            progress=None) -> dict[str, int]:
  """Publishes the events; returns acknowledged counts per topic. Raises PublishError on loss.

  With `workers` > 1 the context records are published first, then the source events are split
  over that many forked processes, each with its own producer: kafka-python spends ~100 µs of
  Python per record, so one process cannot keep up with a broker on the same machine.
  """
  # Bulk settings: a long linger fills big batches, which is what kafka-python needs to keep up
  # (measured with benchmarks/bench_generator.py); latency does not matter for a demo load.
  config = config or PublisherConfig(bootstrap_servers=bootstrap_servers,
                                     client_id='millionx-demo', linger_ms=BULK_LINGER_MS,
                                     batch_size=BULK_BATCH_BYTES)
  events = list(events)
  if workers <= 1:
    return _publish_slice(config, events, progress)
  n_context = 0
  while n_context < len(events) and dict(events[n_context].headers)['source'] in (
      b'catalog', b'openweather'):
    n_context += 1
  counts = collections.Counter(_publish_slice(config, events[:n_context], None))
  global _FORKED_EVENTS  # pylint: disable=global-statement
  _FORKED_EVENTS = events[n_context:]   # inherited by the forked workers, never pickled
  try:
    with multiprocessing.get_context('fork').Pool(workers) as pool:
      for part in pool.starmap(_publish_share, [(config, i, workers) for i in range(workers)]):
        counts.update(part)
  finally:
    _FORKED_EVENTS = []
  return topic_counts(counts)


_FORKED_EVENTS: list[DemoEvent] = []


def _publish_share(config: PublisherConfig, index: int, workers: int) -> dict[str, int]:
  return _publish_slice(config, _FORKED_EVENTS[index::workers], None)


def _publish_slice(config: PublisherConfig, events: Sequence[DemoEvent], progress) -> dict[str, int]:
  with KafkaPublisher(config) as publisher:
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
                      help='publishing processes (default 1; 2 or more for large --events)')
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
    counts = publish(data.events, servers, workers=args.workers,
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
