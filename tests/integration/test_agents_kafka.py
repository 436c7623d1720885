"""Source agents end to end: local HTTP replay of the documented payloads -> real local Kafka.

Needs the local broker (pipeline/topics.yaml bootstrap_servers). Every test uses its own topics.
"""
import copy
import datetime
import json
import os
import random
import secrets
import subprocess
import sys

import pytest

from agents.checkpoint import CheckpointStore
from agents.daraz import DarazAgent
from agents.facebook import FacebookAgent
from agents.openweather import OpenWeatherAgent
from agents.runner import KafkaSink, run_once
from agents.shopify import ShopifyAgent
from connectors.daraz import DarazClient, DarazConfig
from connectors.facebook import FacebookClient, FacebookConfig
from connectors.http import HttpConfig, MalformedResponse, RetryPolicy
from connectors.kafka_publisher import DeadLetterCodec, KafkaPublisher, PublisherConfig
from connectors.openweather import OpenWeatherClient, OpenWeatherConfig
from connectors.secrets import SecretRef
from connectors.shopify import ShopifyClient, ShopifyConfig
from tests.fakes_http import DarazFake, FakeApi, FakeSleep, Reply, fixture
from tests.integration.kafka_topics import BOOTSTRAP, headers_of, read_all, unique_topics

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01)


def clock():
  return NOW


@pytest.fixture
def dlq_key(monkeypatch):
  key = secrets.token_hex(32)               # a project key, as run_local.sh makes them
  monkeypatch.setenv('T_DLQ_KEY', key)
  return DeadLetterCodec(SecretRef.parse('env:T_DLQ_KEY'))


def run(agent, topics, store, dlq_key, now=clock, **kwargs):
  with KafkaPublisher(PublisherConfig(BOOTSTRAP, client_id='test-agents')) as publisher:
    sink = KafkaSink(publisher, topics, dlq_key, now)
    with agent:
      return run_once(agent, sink, store, clock=now, **kwargs)


def test_shopify_pages_429_and_5xx_bad_order_to_dlq_then_resume(tmp_path, monkeypatch, dlq_key):
  monkeypatch.setenv('T_SHOPIFY_TOKEN', 'shpat_test')
  template = fixture('shopify_orders_page_2024-04.json')['orders'][0]
  orders = [dict(copy.deepcopy(template), id=1000 + i) for i in range(5)]
  del orders[3]['id']                                   # fails the shape check -> dlq
  path = '/admin/api/2024-04/orders.json'
  with FakeApi() as api, unique_topics() as topics:
    pages = [orders[:2], orders[2:4], orders[4:]]
    script = [Reply(429, {}, (('Retry-After', '0'),)), Reply(503)]

    def handler(req):
      if script:
        return script.pop(0)
      index = int(req.query.get('page_info', 'p0')[1:])
      link = (('Link', f'<{api.url}{path}?page_info=p{index + 1}>; rel="next"'),) \
          if index + 1 < len(pages) else ()
      return Reply(200, {'orders': pages[index]}, link)
    api.route('GET', path, handler)
    client = ShopifyClient(ShopifyConfig(api.url, SecretRef.parse('env:T_SHOPIFY_TOKEN')),
                           HttpConfig(api.url, retry=FAST), sleep=FakeSleep(), rng=random.Random(0))
    store = CheckpointStore(tmp_path, 'shopify', 'test-shop')
    since = NOW - datetime.timedelta(hours=3)
    stats = run(ShopifyAgent(client), topics, store, dlq_key, since=since)
    assert (stats.published, stats.dead_lettered, stats.pages) == (4, 1, 3)
    assert client.retries == 2

    records = read_all(topics.for_source('shopify'), 4)
    assert sorted(r.key for r in records) == [b'1000', b'1001', b'1002', b'1004']
    first = records[0]
    h = headers_of(first)
    assert h['source'] == b'shopify' and h['schema_version'] == b'1' and b'T' in h['fetched_at']
    assert json.loads(first.value)['line_items'] == template['line_items']

    [letter] = read_all(topics.ingest_dlq, 1)
    body = json.loads(letter.value)
    assert body['stage'] == 'ingest' and body['reason'].startswith('shape: id')
    assert json.loads(dlq_key.open(body)) == orders[3]
    assert b'bob.norman' not in letter.value                # payload only encrypted

    end = NOW - datetime.timedelta(minutes=1)
    assert store.load() == end
    api.requests.clear()
    later = lambda: NOW + datetime.timedelta(hours=1)
    run(ShopifyAgent(client), topics, store, dlq_key, now=later)   # resumes from the checkpoint
    assert api.requests[0].query['updated_at_min'] == end.isoformat(timespec='seconds')
    assert store.load() == later() - datetime.timedelta(minutes=1)


def test_daraz_expired_token_refreshed_orders_published_with_items(tmp_path, monkeypatch, dlq_key):
  monkeypatch.setenv('T_DARAZ_SECRET', DarazFake.SECRET)
  monkeypatch.setenv('T_DARAZ_TOKEN', 'old-token')
  monkeypatch.setenv('T_DARAZ_REFRESH', 'refresh-1')
  with FakeApi() as api, unique_topics() as topics:
    fake = DarazFake(api, n_orders=3, expired_once=True)
    config = DarazConfig('123456', SecretRef.parse('env:T_DARAZ_SECRET'),
                         SecretRef.parse('env:T_DARAZ_TOKEN'), SecretRef.parse('env:T_DARAZ_REFRESH'),
                         base_url=api.url, page_size=2)
    client = DarazClient(config, HttpConfig(api.url, retry=FAST), sleep=FakeSleep())
    stats = run(DarazAgent(client), topics, CheckpointStore(tmp_path, 'daraz'), dlq_key,
                since=NOW - datetime.timedelta(hours=2))
    assert (stats.published, stats.dead_lettered) == (3, 0) and client.token_refreshes == 1
    assert fake.bad_signatures == 0
    records = read_all(topics.for_source('daraz'), 3)
    assert sorted(r.key for r in records) == [b'491253082180001', b'491253082180002',
                                              b'491253082180003']
    value = json.loads(records[0].value)
    assert value['order_items'][0]['order_id'] == records[0].key.decode()


def test_facebook_malformed_json_page_goes_to_dlq_and_checkpoint_holds(tmp_path, monkeypatch,
                                                                        dlq_key):
  monkeypatch.setenv('T_FB_TOKEN', 'page-token')
  feed = fixture('facebook_page_posts.json')['data']
  path = '/v21.0/74133697733/posts'
  with FakeApi() as api, unique_topics() as topics:
    day1 = str(int((NOW - datetime.timedelta(days=2)).timestamp()))
    api.route('GET', path, lambda req: Reply(200, {'data': feed[:3], 'paging': {}})
              if req.query['since'] == day1 else Reply(200, b'{"data": [{"id": "1_2", "mess'))
    client = FacebookClient(FacebookConfig('74133697733', SecretRef.parse('env:T_FB_TOKEN'),
                                           base_url=api.url),
                            HttpConfig(api.url, retry=FAST), sleep=FakeSleep())
    store = CheckpointStore(tmp_path, 'facebook', '74133697733')
    agent = FacebookAgent(client)
    agent.window = datetime.timedelta(days=1)   # two windows: the second one gets the bad page
    with pytest.raises(MalformedResponse):
      run(agent, topics, store, dlq_key, since=NOW - datetime.timedelta(days=2))
    assert store.load() == NOW - datetime.timedelta(days=1)   # end of the first, good window
    assert len(read_all(topics.for_source('facebook'), 3)) == 3
    [letter] = read_all(topics.ingest_dlq, 1)
    body = json.loads(letter.value)
    assert 'not JSON' in body['reason'] and body['error_class'] == 'MalformedResponse'
    assert dlq_key.open(body) == b'{"data": [{"id": "1_2", "mess'
    assert headers_of(letter)['dlq_reason'].startswith(b'facebook')


def test_openweather_cities_keyed_by_id_and_hour_one_bad_answer_dead_lettered(monkeypatch, dlq_key):
  monkeypatch.setenv('T_OWM_KEY', 'k')
  dhaka = fixture('openweather_current_dhaka.json')
  with FakeApi() as api, unique_topics() as topics:
    api.route('GET', '/data/2.5/weather', lambda req: Reply(200, b'<html>502</html>')
              if req.query.get('lat') == '24.8949' else Reply(200, dhaka))   # Sylhet
    client = OpenWeatherClient(OpenWeatherConfig(SecretRef.parse('env:T_OWM_KEY'), base_url=api.url),
                               HttpConfig(api.url, retry=FAST), sleep=FakeSleep())
    stats = run(OpenWeatherAgent(client), topics, None, dlq_key)
    assert (stats.published, stats.dead_lettered) == (7, 1)
    keys = sorted(r.key for r in read_all(topics.for_source('openweather'), 7))
    # City id and the UTC hour of the observation: the topic keeps one per city and hour.
    assert b'1185241:2022-02-08T07' in keys and len(keys) == 7
    assert not any(k.startswith(b'1185099') for k in keys)
    assert read_all(topics.ingest_dlq, 1)[0].key == b'1185099'


def test_tiktok_command_once_dry_run_and_checkpoint(tmp_path):
  video = fixture('tiktok_videos_example.json')['data']['videos'][1]
  with FakeApi() as api, unique_topics() as topics:
    api.route('POST', '/v2/oauth/token/', [Reply(200, {'access_token': 't', 'expires_in': 7200})])
    api.route('POST', '/v2/research/video/query/', lambda req: Reply(200, {
        'data': {'videos': [dict(video, id=7000 + req.json()['cursor'] + i) for i in range(2)],
                 'cursor': req.json()['cursor'] + 2, 'search_id': 's',
                 'has_more': req.json()['cursor'] < 2},
        'error': {'code': 'ok'}}))
    prefix = topics.ingest_dlq[:-len('dlq.ingest')]
    args = [sys.executable, '-m', 'agents.tiktok', '--client-key', 'ck',
            '--client-secret', 'env:T_TIKTOK_SECRET', '--base-url', api.url,
            '--topic-prefix', prefix, '--checkpoint-dir', str(tmp_path),
            '--since', '2026-11-20', '--max-attempts', '2']
    env = dict(os.environ, T_TIKTOK_SECRET='secret-value')
    dry = subprocess.run(args + ['--dry-run'], env=env, capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    lines = [json.loads(l) for l in dry.stdout.splitlines()]
    assert len(lines) == 4 and lines[0]['topic'] == topics.for_source('tiktok')
    assert not list(tmp_path.iterdir()), 'a dry run saves no checkpoint'
    assert 'secret-value' not in dry.stderr + dry.stdout

    real = subprocess.run(args + ['--once'], env=env, capture_output=True, text=True, timeout=60)
    assert real.returncode == 0, real.stderr
    assert 'done: 4 published' in real.stderr
    assert sorted(r.key for r in read_all(topics.for_source('tiktok'), 4)) == [
        b'7000', b'7001', b'7002', b'7003']
    assert [p.name for p in tmp_path.iterdir()] == ['tiktok-ck.json']
