"""TikTok Research API: client-credentials token, cursor/search_id paging, <= 30-day windows."""
import datetime
import random

import pytest

from connectors.api_auth import AuthFailed
from connectors.http import AuthExpired, HttpConfig, RetryPolicy
from connectors.secrets import SecretRef
from connectors.tiktok import TikTokClient, TikTokConfig, date_windows
from tests.fakes_http import FakeApi, FakeSleep, Reply, fixture

QUERY = '/v2/research/video/query/'
TOKEN = '/v2/oauth/token/'


def videos(first_id, n):
  base = fixture('tiktok_videos_example.json')['data']['videos'][1]
  return [dict(base, id=first_id + i) for i in range(n)]


def make_client(api, monkeypatch):
  monkeypatch.setenv('T_TIKTOK_SECRET', 'client-secret')
  config = TikTokConfig('client-key', SecretRef.parse('env:T_TIKTOK_SECRET'), base_url=api.url,
                        page_size=2)
  return TikTokClient(config, HttpConfig(api.url, retry=RetryPolicy(max_attempts=3)),
                      sleep=FakeSleep(), rng=random.Random(0))


def test_windows_never_exceed_30_days():
  wins = date_windows(datetime.date(2026, 1, 1), datetime.date(2026, 3, 15))
  assert wins[0] == (datetime.date(2026, 1, 1), datetime.date(2026, 1, 30))
  assert all((b - a).days <= 29 for a, b in wins) and wins[-1][1] == datetime.date(2026, 3, 15)


def test_token_grant_paging_and_regrant_on_expiry(monkeypatch):
  grants = []

  def token(req):
    grants.append(req.form())
    return Reply(200, {'access_token': f'tok{len(grants)}', 'expires_in': 7200,
                       'token_type': 'Bearer'})

  def query(req):
    body = req.json()
    if req.headers['authorization'] == 'Bearer tok1' and body['cursor'] == 2:
      return Reply(401, {'data': {}, 'error': {'code': 'access_token_invalid', 'message': ''}})
    pages = {0: (videos(100, 2), True), 2: (videos(200, 2), True), 4: (videos(300, 1), False)}
    page, more = pages[body['cursor']]
    return Reply(200, {'data': {'videos': page, 'cursor': body['cursor'] + len(page),
                                'search_id': 'sid-1', 'has_more': more},
                       'error': {'code': 'ok', 'message': '', 'log_id': 'x'}})

  with FakeApi() as api:
    api.route('POST', TOKEN, token)
    api.route('POST', QUERY, query)
    with make_client(api, monkeypatch) as c:
      got = [v['id'] for page in c.iter_video_pages(datetime.date(2026, 11, 1),
                                                     datetime.date(2026, 11, 20)) for v in page]
  assert got == [100, 101, 200, 201, 300]   # the page refused with tok1 is asked again with tok2
  assert [g['grant_type'] for g in grants] == ['client_credentials'] * 2
  calls = [r.json() for r in api.calls(QUERY)]
  assert calls[0]['start_date'] == '20261101' and calls[0]['end_date'] == '20261120'
  assert 'search_id' not in calls[0] and calls[-1]['search_id'] == 'sid-1'
  assert 'region_code' in str(calls[0]['query'])


def test_long_range_is_split_into_api_windows(monkeypatch):
  with FakeApi() as api:
    api.route('POST', TOKEN, [Reply(200, {'access_token': 't', 'expires_in': 7200})])
    api.route('POST', QUERY, [Reply(200, {'data': {'videos': videos(1, 1), 'cursor': 1,
                                                   'search_id': 's', 'has_more': False},
                                          'error': {'code': 'ok'}})])
    with make_client(api, monkeypatch) as c:
      list(c.iter_video_pages(datetime.date(2026, 9, 1), datetime.date(2026, 11, 10)))
  spans = [(r.json()['start_date'], r.json()['end_date']) for r in api.calls(QUERY)]
  assert spans == [('20260901', '20260930'), ('20261001', '20261030'), ('20261031', '20261110')]


def test_a_refused_grant_is_one_call_then_a_typed_auth_error(monkeypatch):
  # Issue 9: the grant answered 401 used to trigger a refresh, i.e. another grant.
  with FakeApi() as api:
    api.route('POST', TOKEN, [Reply(401, {'error': 'invalid_client',
                                          'error_description': 'Client secret is invalid'})])
    api.route('POST', QUERY, [Reply(200, {'data': {'videos': [], 'has_more': False},
                                          'error': {'code': 'ok'}})])
    with make_client(api, monkeypatch) as c:
      with pytest.raises(AuthFailed, match='refused to issue credentials'):
        list(c.iter_video_pages(datetime.date(2026, 11, 1), datetime.date(2026, 11, 2)))
  assert len(api.calls(TOKEN)) == 1 and api.calls(QUERY) == []


def test_a_token_refused_after_a_new_grant_is_an_auth_error_after_one_regrant(monkeypatch):
  with FakeApi() as api:
    api.route('POST', TOKEN, [Reply(200, {'access_token': 't', 'expires_in': 7200})])
    api.route('POST', QUERY, [Reply(401, {'data': {}, 'error': {'code': 'access_token_invalid'}})])
    with make_client(api, monkeypatch) as c:
      with pytest.raises(AuthExpired):
        list(c.iter_video_pages(datetime.date(2026, 11, 1), datetime.date(2026, 11, 2)))
      assert c.token_grants == 2
  assert len(api.calls(QUERY)) == 2
