"""Daraz: the published signing example, signed keyset paging over GetOrders, items, token refresh."""
import copy
import datetime
import random

import pytest

from connectors.api_auth import AuthFailed
from connectors.daraz import DarazClient, DarazConfig, sign
from connectors.http import AuthExpired, HttpConfig, PermanentError, RetryPolicy
from connectors.secrets import SecretRef
from tests.fakes_http import DarazFake, FakeApi, FakeSleep, Reply

SECRET = DarazFake.SECRET


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


def test_orders_paged_with_items_attached_each_order_once(monkeypatch):
  # DarazFake serves every order whatever the window (all five share one updated_at): the
  # orders come once each, in order, and paging ends.
  with FakeApi() as api:
    fake = DarazFake(api, n_orders=5)
    with make_client(api, monkeypatch) as c:
      pages = list(c.iter_order_pages(*_window()))
  orders = [o for p in pages for o in p]
  assert [o['order_id'] for o in orders] == [str(491253082180001 + i) for i in range(5)]
  assert all(o['order_items'][0]['order_id'] == o['order_id'] for o in orders)
  assert len(api.calls('/order/items/get')) == 5    # items fetched once per order
  assert fake.bad_signatures == 0
  first = api.calls('/orders/get')[0].query
  assert first['sign_method'] == 'sha256' and first['update_after'] == '2026-11-27T00:00:00+06:00'
  assert first['sort_direction'] == 'ASC' and len(first['sign']) == 64


class WindowedDaraz(DarazFake):
  """GetOrders as the API serves it: the orders updated in [update_after, update_before], by
  updated_at, then offset/limit. `between_pages(fake, n)` changes the orders after page n."""

  def __init__(self, api, updated_ats, between_pages=None):
    super().__init__(api, n_orders=len(updated_ats))
    for order, at in zip(self.orders, updated_ats):
      order['updated_at'] = at
    self.between_pages, self.pages = between_pages, 0

  def get_orders(self, req):
    error = self._check(req, '/orders/get')
    if error:
      return error
    at = lambda text: datetime.datetime.fromisoformat(text)  # noqa: E731
    after, before = at(req.query['update_after']), at(req.query['update_before'])
    inside = sorted((o for o in self.orders if after <= at(o['updated_at']) <= before),
                    key=lambda o: (at(o['updated_at']), o['order_id']))
    offset, limit = int(req.query['offset']), int(req.query['limit'])
    page = copy.deepcopy(inside[offset:offset + limit])
    self.pages += 1
    if self.between_pages:
      self.between_pages(self, self.pages)
    return Reply(200, {'code': '0', 'request_id': 'r', 'data': {
        'count': str(len(page)), 'countTotal': str(len(inside)), 'orders': page}})


HOURS = [f'2026-11-27T0{h}:00:00+06:00' for h in range(1, 6)]


def _ids(pages):
  return [int(o['order_id']) - 491253082180000 for p in pages for o in p]


def test_an_order_updated_while_paging_does_not_make_the_next_one_skipped(monkeypatch):
  # Issue 9: order 1 is updated (out of the window) after page 1 was served; by offset, page 2
  # would start at order 4 and order 3 would never be read.
  def update_first(fake, page):
    if page == 1:
      fake.orders[0]['updated_at'] = '2026-11-28T01:00:00+06:00'
  with FakeApi() as api:
    WindowedDaraz(api, HOURS, update_first)
    with make_client(api, monkeypatch) as c:
      pages = list(c.iter_order_pages(*_window()))
  assert _ids(pages) == [1, 2, 3, 4, 5]


def test_an_order_updated_again_inside_the_window_comes_again_as_its_new_version(monkeypatch):
  def update_first(fake, page):
    if page == 1:
      fake.orders[0]['updated_at'] = '2026-11-27T09:00:00+06:00'
  with FakeApi() as api:
    WindowedDaraz(api, HOURS, update_first)
    with make_client(api, monkeypatch) as c:
      pages = list(c.iter_order_pages(*_window()))
  assert _ids(pages) == [1, 2, 3, 4, 5, 1]
  assert pages[-1][-1]['updated_at'] == '2026-11-27T09:00:00+06:00'


def test_orders_sharing_one_update_time_beyond_a_page_come_once_each(monkeypatch):
  with FakeApi() as api:
    WindowedDaraz(api, [HOURS[0]] * 7)
    with make_client(api, monkeypatch, page_size=3) as c:
      pages = list(c.iter_order_pages(*_window()))
  assert sorted(_ids(pages)) == [1, 2, 3, 4, 5, 6, 7]


def test_expired_token_is_refreshed_and_the_call_repeated(monkeypatch):
  with FakeApi() as api:
    fake = DarazFake(api, n_orders=1, expired_once=True)
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


def test_refused_refresh_token_is_one_refresh_then_a_typed_auth_error(monkeypatch):
  # Issue 9: the refresh endpoint's own IllegalRefreshToken used to trigger another refresh,
  # and another: a recursion until Python's limit.
  with FakeApi() as api:
    api.route('GET', '/orders/get', [Reply(200, {'code': 'IllegalAccessToken', 'type': 'ISV'})])
    api.route('GET', '/auth/token/refresh',
              [Reply(200, {'code': 'IllegalRefreshToken', 'type': 'ISV', 'message': 'bad'})])
    with make_client(api, monkeypatch) as c:
      with pytest.raises(AuthFailed, match='refused to issue credentials'):
        list(c.iter_order_pages(*_window()))
      assert c.token_refreshes == 0
  assert len(api.calls('/auth/token/refresh')) == 1
  assert len(api.calls('/orders/get')) == 1


def test_a_token_refused_after_its_refresh_is_an_auth_error_after_one_refresh(monkeypatch):
  with FakeApi() as api:
    fake = DarazFake(api, n_orders=1)
    fake.valid_token = 'never-issued'
    with make_client(api, monkeypatch) as c:
      with pytest.raises(AuthExpired):
        list(c.iter_order_pages(*_window()))
      assert c.token_refreshes == 1
  assert [r.query['access_token'] for r in api.calls('/orders/get')] == ['old-token', 'new-token']
