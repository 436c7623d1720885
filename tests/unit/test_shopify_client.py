"""Shopify: Link-header (page_info) pagination, token header, call-limit throttling, 429."""
import copy
import datetime
import random

from connectors.http import HttpConfig, RetryPolicy
from connectors.secrets import SecretRef
from connectors.shopify import ShopifyClient, ShopifyConfig
from tests.fakes_http import FakeApi, FakeSleep, Reply, fixture

PATH = '/admin/api/2024-04/orders.json'
UTC = datetime.timezone.utc
START, END = datetime.datetime(2026, 11, 27, tzinfo=UTC), datetime.datetime(2026, 11, 28, tzinfo=UTC)


def orders(first_id, n):
  template = fixture('shopify_orders_page_2024-04.json')['orders'][0]
  out = []
  for i in range(n):
    order = copy.deepcopy(template)
    order['id'] = first_id + i
    out.append(order)
  return out


def paged_route(api, pages, extra_headers=()):
  """Serves `pages` in order, linking each to the next with a page_info cursor."""
  def handler(req):
    index = int(req.query.get('page_info', 'c0')[1:])
    headers = list(extra_headers)
    if index + 1 < len(pages):
      headers.append(('Link', f'<{api.url}{PATH}?limit=2&page_info=c{index + 1}>; rel="next"'))
    return Reply(200, {'orders': pages[index]}, tuple(headers))
  api.route('GET', PATH, handler)


def make_client(api, monkeypatch, sleep=None):
  monkeypatch.setenv('T_SHOPIFY_TOKEN', 'shpat_test')
  config = ShopifyConfig(api.url, SecretRef.parse('env:T_SHOPIFY_TOKEN'), page_size=2)
  return ShopifyClient(config, HttpConfig(api.url, retry=RetryPolicy(max_attempts=3)),
                       sleep=sleep or FakeSleep(), rng=random.Random(0))


def test_three_pages_followed_by_link_header(monkeypatch):
  with FakeApi() as api:
    paged_route(api, [orders(1, 2), orders(3, 2), orders(5, 1)])
    with make_client(api, monkeypatch) as c:
      got = [o['id'] for page in c.iter_order_pages(START, END) for o in page]
  assert got == [1, 2, 3, 4, 5]
  first, second = api.calls(PATH)[:2]
  assert first.query['updated_at_min'] == '2026-11-27T00:00:00+00:00'
  assert first.query['status'] == 'any' and first.headers['x-shopify-access-token'] == 'shpat_test'
  # page_info requests carry no other filter (Shopify rejects them)
  assert set(second.query) == {'limit', 'page_info'}


def test_near_full_call_bucket_slows_down(monkeypatch):
  sleep = FakeSleep()
  with FakeApi() as api:
    paged_route(api, [orders(1, 1)], extra_headers=(('X-Shopify-Shop-Api-Call-Limit', '39/40'),))
    with make_client(api, monkeypatch, sleep) as c:
      list(c.iter_order_pages(START, END))
  assert sleep.delays == [1.0]


def test_429_retry_after_then_page(monkeypatch):
  sleep = FakeSleep()
  with FakeApi() as api:
    api.route('GET', PATH, [Reply(429, {'errors': 'Exceeded 2 calls per second'},
                                  (('Retry-After', '2.0'),)),
                            Reply(200, {'orders': orders(9, 1)})])
    with make_client(api, monkeypatch, sleep) as c:
      got = [o['id'] for page in c.iter_order_pages(START, END) for o in page]
  assert got == [9] and sleep.delays == [2.0]
