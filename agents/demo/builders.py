"""Builders of the demo payloads, in the real API shapes, from one seeded random source.

Every personal value a builder writes is planted in the Builder's ledger (PlantedPii), so tests can
prove none reaches a sink.
"""
from __future__ import annotations

import random
import string
import time
from typing import NamedTuple, Optional

from agents import demo_data as D
from agents.demo.records import PlantedPii

BD_OFFSET_S = 6 * 3600              # Bangladesh time, UTC+6, no daylight saving
CATALOG_SIZE = 48


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


class Builder:
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


def fetched_at_header(ts: int) -> bytes:
  """connectors.kafka_publisher.utc_iso for whole seconds (a unit test checks they agree)."""
  return time.strftime('%Y-%m-%dT%H:%M:%S.000Z', time.gmtime(ts)).encode()


def _money(value: float) -> str:
  return f'{value:.2f}'


def _money_set(amount: str) -> dict:
  return {'shop_money': {'amount': amount, 'currency_code': 'BDT'},
          'presentment_money': {'amount': amount, 'currency_code': 'BDT'}}


_BANGLA_WORD = {category: bn for category, bn, _ in D.PRODUCTS}


def product_catalog(b: Builder) -> list[_Product]:
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


def weather(b: Builder, city: tuple, observed_s: Optional[int] = None) -> dict:
  """One OpenWeather current-weather object of `city`, observed at `observed_s` (default: drawn
  within the hour before `now`)."""
  name, _, city_id, lat, lon = city[:5]
  cond = b.pick(D.WEATHER)
  uniform = b.rng.uniform
  temp = round(uniform(17, 34), 2)
  day = b.now_s - b.now_s % 86400          # midnight UTC
  observation = {
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
      'dt': b.now_s - 60 * b.between(0, 60) if observed_s is None else observed_s,
      # Sunrise about 06:20 and sunset about 17:15 Bangladesh time (UTC+6).
      'sys': {'type': 1, 'id': 9145 + b.between(0, 50), 'country': 'BD',
              'sunrise': day + 20 * 60 + b.between(-900, 900),
              'sunset': day + 11 * 3600 + 15 * 60 + b.between(-900, 900)},
      'timezone': 21600, 'id': city_id, 'name': name, 'cod': 200,
  }
  if cond[1] in ('Rain', 'Thunderstorm'):
    observation['rain'] = {'1h': round(uniform(0.2, 12), 2)}
  return observation


def _template_fields(template: str) -> frozenset:
  return frozenset(name for _, name, _, _ in string.Formatter().parse(template) if name)


_CAPTION_FIELDS = {t: _template_fields(t)
                   for t in D.EN_CAPTIONS + D.BN_CAPTIONS + D.MIXED_CAPTIONS}
_ALL_HASHTAGS = D.EN_HASHTAGS + D.BN_HASHTAGS
_COMMENTS = D.COMMENTS_EN + D.COMMENTS_BN


def _caption(b: Builder, product: _Product) -> tuple[str, list[str]]:
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


def _tiktok(b: Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
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


def _facebook(b: Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
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


def _shopify_address(b: Builder, p: _Person) -> dict:
  return {
      'first_name': p.first, 'last_name': p.last, 'name': b.plant('name', f'{p.first} {p.last}'),
      'address1': p.street, 'address2': None, 'city': p.city[0], 'province': f'{p.city[0]} Division',
      'province_code': None, 'country': 'Bangladesh', 'country_code': 'BD', 'zip': p.post_code,
      'phone': p.phone, 'company': None,
      'latitude': round(p.city[3] - 0.03 + 0.06 * b.random(), 6),
      'longitude': round(p.city[4] - 0.03 + 0.06 * b.random(), 6),
  }


def _shopify(b: Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
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


def _daraz(b: Builder, catalog: list[_Product], ts: int) -> tuple[str, dict]:
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


def _buyer_note(b: Builder) -> str:
  note = b.pick(('', '', 'call', 'গেটে দারোয়ানকে দিবেন', 'Deliver after 5pm'))
  return 'Please call before delivery ' + b.phone() if note == 'call' else note


SOURCE_BUILDERS = {'tiktok': _tiktok, 'facebook': _facebook, 'shopify': _shopify, 'daraz': _daraz}
