"""Daraz: the published signing example, signed paging over GetOrders, items, token refresh."""
import random

import pytest

from connectors.daraz import DarazClient, DarazConfig, sign
from connectors.http import HttpConfig, PermanentError, RetryPolicy
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


def test_orders_paged_by_offset_with_items_attached(monkeypatch):
  with FakeApi() as api:
    fake = DarazFake(api, n_orders=5)
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
