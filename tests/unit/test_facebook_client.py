"""Facebook: cursor paging of posts and of a post's comments edge, usage headers, Graph errors."""
import copy
import datetime
import json
import random

import pytest

from connectors.facebook import FacebookClient, FacebookConfig, usage_delay_s
from connectors.http import AuthExpired, HttpConfig, RetryPolicy
from connectors.secrets import SecretRef
from tests.fakes_http import FakeApi, FakeSleep, Reply, fixture

PAGE = '74133697733'
PATH = f'/v21.0/{PAGE}/posts'
UTC = datetime.timezone.utc
START, END = datetime.datetime(2014, 9, 1, tzinfo=UTC), datetime.datetime(2014, 10, 1, tzinfo=UTC)


def make_client(api, monkeypatch, sleep=None):
  monkeypatch.setenv('T_FB_TOKEN', 'page-token')
  config = FacebookConfig(PAGE, SecretRef.parse('env:T_FB_TOKEN'), base_url=api.url, page_size=10)
  return FacebookClient(config, HttpConfig(api.url, retry=RetryPolicy(max_attempts=3)),
                        sleep=sleep or FakeSleep(), rng=random.Random(0))


def test_posts_and_comments_followed_across_cursor_pages(monkeypatch):
  feed = fixture('facebook_page_posts.json')['data']
  more_comments = fixture('facebook_post_comments.json')
  with FakeApi() as api:
    first = copy.deepcopy(feed[:10])
    first[0]['comments'] = {'data': [{'id': 'c0', 'message': 'first'}],
                            'paging': {'next': f'{api.url}/v21.0/{first[0]["id"]}/comments?after=x'}}
    api.route('GET', f'/v21.0/{first[0]["id"]}/comments',
              [Reply(200, {'data': more_comments['data'], 'paging': {}})])
    api.route('GET', PATH, lambda req: Reply(200, {
        'data': first, 'paging': {'next': f'{api.url}{PATH}?after=page2'}})
              if 'after' not in req.query else Reply(200, {'data': feed[10:15], 'paging': {}}))
    with make_client(api, monkeypatch) as c:
      pages = list(c.iter_post_pages(START, END))
  assert [len(p) for p in pages] == [10, 5]
  comments = pages[0][0]['comments']
  assert len(comments['data']) == 1 + len(more_comments['data']) and 'paging' not in comments
  req = api.calls(PATH)[0]
  assert req.headers['authorization'] == 'Bearer page-token' and 'access_token' not in req.query
  assert 'comments.limit(' in req.query['fields'] and req.query['since'] == str(int(START.timestamp()))


def test_rate_limit_error_code_is_retried(monkeypatch):
  sleep = FakeSleep()
  with FakeApi() as api:
    api.route('GET', PATH, [Reply(400, {'error': {'code': 4, 'message': 'Application request limit reached'}}),
                            Reply(200, {'data': [], 'paging': {}})])
    with make_client(api, monkeypatch, sleep) as c:
      assert list(c.iter_post_pages(START, END)) == [[]]
  assert len(sleep.delays) == 1


def test_expired_token_code_190_raises_when_secret_unchanged(monkeypatch):
  with FakeApi() as api:
    api.route('GET', PATH, [Reply(400, {'error': {'code': 190, 'error_subcode': 463}})])
    with make_client(api, monkeypatch) as c:
      with pytest.raises(AuthExpired):
        list(c.iter_post_pages(START, END))


def test_usage_headers_pause_near_quota(monkeypatch):
  assert usage_delay_s({'x-app-usage': json.dumps({'call_count': 10})}, 85) == 0
  assert 5 <= usage_delay_s({'x-app-usage': json.dumps({'call_count': 90, 'total_time': 5})}, 85) <= 30
  buc = {'1234': [{'type': 'pages', 'call_count': 40, 'estimated_time_to_regain_access': 2}]}
  assert usage_delay_s({'x-business-use-case-usage': json.dumps(buc)}, 85) == 120
  sleep = FakeSleep()
  with FakeApi() as api:
    api.route('GET', PATH, [Reply(200, {'data': []}, (('x-app-usage', '{"call_count": 95}'),))])
    with make_client(api, monkeypatch, sleep) as c:
      list(c.iter_post_pages(START, END))
  assert len(sleep.delays) == 1 and sleep.delays[0] > 5
