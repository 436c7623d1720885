"""Daraz: the published signing example, signed paging over GetOrders, items, token refresh."""
import copy
import random

import pytest

from connectors.daraz import DarazClient, DarazConfig, sign
from connectors.http import HttpConfig, PermanentError, RetryPolicy
from connectors.secrets import SecretRef
from tests.fakes_http import FakeApi, FakeSleep, Reply, fixture

SECRET = 'helloworld'


def test_signature_reproduces_the_published_worked_example():
  # ../shared/fixtures/daraz_signing.md, source 2 ("HTTP request sample", docId 108069).
  params = {'app_key': '123456', 'access_token': 'test', 'timestamp': '1517820392000',
            'sign_method': 'sha256', 'order_id': '1234'}
  assert sign('/order/get', params, 'helloworld') == (
      '4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A')
  # `sign` itself never enters the string to sign.
  assert sign('/order/get', dict(params, sign='X'), 'helloworld') == sign('/order/get', params,
                                                                         'helloworld')


def test_signature_regression_vector_with_raw_timestamp_values():
  params = {'app_key': '123456', 'access_token': 'test', 'timestamp': '1517820392000',
            'sign_method': 'sha256', 'created_after': '2017-02-10T09:00:00+08:00',
            'status': 'shipped', 'offset': '0', 'limit': '10', 'sort_by': 'updated_at',
            'sort_direction': 'DESC'}
  assert sign('/orders/get', params, 'helloworld') == (
      'DE12258EA0AF80EC820AD7C257F819DA8B924EE4F97FC2B3E3D6E7942E64BFB4')


class DarazFake:
  """GetOrders (N orders, offset paging), GetOrderItems, token refresh; verifies every signature."""

  def __init__(self, api, n_orders, page_size, expired_once=False):
    self.api, self.n, self.page_size = api, n_orders, page_size
    self.valid_token = 'old-token'
    self.expire_next = expired_once
    self.bad_signatures = 0
    template = fixture('daraz_get_orders.json')['data']['orders'][0]
    self.orders = []
    for i in range(n_orders):
      order = copy.deepcopy(template)
      order['order_id'] = order['order_number'] = str(491253082180001 + i)
      self.orders.append(order)
    self.items = fixture('daraz_get_order_items.json')['data']
    api.route('GET', '/orders/get', self.get_orders)
    api.route('GET', '/order/items/get', self.get_items)
    api.route('GET', '/auth/token/refresh', self.refresh)

  def _check(self, req, api_path, token=True):
    q = dict(req.query)
    if sign(api_path, q, SECRET) != q.get('sign'):
      self.bad_signatures += 1
      return Reply(200, {'code': 'IncompleteSignature', 'type': 'ISV', 'message': 'bad sign'})
    if token and q.get('access_token') != self.valid_token:
      return Reply(200, {'code': 'IllegalAccessToken', 'type': 'ISV', 'message': 'expired'})
    return None

  def get_orders(self, req):
    if self.expire_next:
      self.expire_next = False
      self.valid_token = 'new-token'
    error = self._check(req, '/orders/get')
    if error:
      return error
    offset, limit = int(req.query['offset']), int(req.query['limit'])
    page = self.orders[offset:offset + limit]
    return Reply(200, {'code': '0', 'request_id': 'r', 'data': {
        'count': str(len(page)), 'countTotal': str(self.n), 'orders': page}})

  def get_items(self, req):
    error = self._check(req, '/order/items/get')
    if error:
      return error
    items = copy.deepcopy(self.items)
    for item in items:
      item['order_id'] = req.query['order_id']
    return Reply(200, {'code': '0', 'request_id': 'r', 'data': items})

  def refresh(self, req):
    error = self._check(req, '/auth/token/refresh', token=False)
    if error:
      return error
    assert req.query['refresh_token'] == 'refresh-1'
    return Reply(200, {'code': '0', 'access_token': 'new-token', 'refresh_token': 'refresh-2',
                       'expires_in': 604800})


def make_client(api, monkeypatch, page_size=2):
  monkeypatch.setenv('T_DARAZ_SECRET', SECRET)
  monkeypatch.setenv('T_DARAZ_TOKEN', 'old-token')
  monkeypatch.setenv('T_DARAZ_REFRESH', 'refresh-1')
  config = DarazConfig('123456', SecretRef.parse('env:T_DARAZ_SECRET'),
                       SecretRef.parse('env:T_DARAZ_TOKEN'), SecretRef.parse('env:T_DARAZ_REFRESH'),
                       base_url=api.url, page_size=page_size)
  return DarazClient(config, HttpConfig(api.url, retry=RetryPolicy(max_attempts=3)),
                     sleep=FakeSleep(), rng=random.Random(0), clock=lambda: 1517820392.0)


def _window():
  import datetime
  tz = datetime.timezone(datetime.timedelta(hours=6))
  return datetime.datetime(2026, 11, 27, tzinfo=tz), datetime.datetime(2026, 11, 28, tzinfo=tz)


def test_orders_paged_by_offset_with_items_attached(monkeypatch):
  with FakeApi() as api:
    fake = DarazFake(api, n_orders=5, page_size=2)
    with make_client(api, monkeypatch) as c:
      pages = list(c.iter_order_pages(*_window()))
  assert [len(p) for p in pages] == [2, 2, 1]
  orders = [o for p in pages for o in p]
  assert [o['order_id'] for o in orders] == [str(491253082180001 + i) for i in range(5)]
  assert all(o['order_items'][0]['order_id'] == o['order_id'] for o in orders)
  assert fake.bad_signatures == 0
  first = api.calls('/orders/get')[0].query
  assert first['sign_method'] == 'sha256' and first['update_after'] == '2026-11-27T00:00:00+06:00'
  assert first['sort_direction'] == 'ASC' and len(first['sign']) == 64


def test_expired_token_is_refreshed_and_the_call_repeated(monkeypatch):
  with FakeApi() as api:
    fake = DarazFake(api, n_orders=1, page_size=2, expired_once=True)
    with make_client(api, monkeypatch) as c:
      orders = [o for p in c.iter_order_pages(*_window()) for o in p]
      assert c.token_refreshes == 1
  assert len(orders) == 1 and fake.bad_signatures == 0
  assert [r.query.get('access_token') for r in api.calls('/orders/get')] == ['old-token',
                                                                             'new-token']


def test_api_error_code_in_a_200_is_permanent(monkeypatch):
  with FakeApi() as api:
    api.route('GET', '/orders/get', [Reply(200, {'code': 'InvalidParameter', 'type': 'ISV'})])
    with make_client(api, monkeypatch) as c:
      with pytest.raises(PermanentError):
        list(c.iter_order_pages(*_window()))
