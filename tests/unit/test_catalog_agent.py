"""Catalog agent: Shopify products (paged) -> one product-contract record per SKU'd variant."""
import datetime
import random

from agents.catalog import CatalogAgent, product_records
from agents.runner import run_once
from connectors.http import HttpConfig, RetryPolicy
from connectors.secrets import SecretRef
from connectors.shopify import ShopifyClient, ShopifyConfig
from schemas.sources import ProductMetadata
from tests.fakes_agents import ListSink
from tests.fakes_http import FakeApi, FakeSleep, Reply

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PATH = '/admin/api/2024-04/products.json'

# Shaped like the Admin REST Product resource (fields the agent reads, plus a few it ignores).
SAREE = {
    'id': 8123456789012, 'title': 'Jamdani Saree', 'vendor': 'Shapla Fashion',
    'product_type': 'Fashion > Saree', 'status': 'active', 'tags': 'eid, handloom',
    'updated_at': '2026-11-27T10:00:00+06:00',
    'variants': [
        {'id': 1, 'product_id': 8123456789012, 'title': 'Red', 'price': '8500.00',
         'sku': 'SHA-SAR-1', 'updated_at': '2026-11-27T05:00:00-00:00'},
        {'id': 2, 'product_id': 8123456789012, 'title': 'Blue', 'price': '8700.00', 'sku': '',
         'updated_at': '2026-11-20T10:00:00+06:00'},
    ]}
TEA = {'id': 8123456789013, 'title': 'Tea 400g', 'vendor': 'Doel Foods', 'product_type': '',
       'updated_at': '2026-11-26T09:00:00+06:00',
       'variants': [{'id': 3, 'title': 'Default Title', 'price': '320.00', 'sku': 'DOE-GRO-7',
                     'updated_at': '2026-11-26T09:00:00+06:00'}]}


def test_variants_with_sku_become_product_records():
  [(sku, record)] = product_records(SAREE)
  assert sku == 'SHA-SAR-1' and record['title'] == 'Jamdani Saree - Red'
  # The later instant wins, whatever the offsets: 05:00Z (variant) is after 10:00+06:00 (04:00Z).
  assert record['updated_at'] == '2026-11-27T05:00:00-00:00'
  ProductMetadata.model_validate(record)
  [(_, tea)] = product_records(TEA)
  assert tea['title'] == 'Tea 400g' and tea['category'] is None and tea['price_bdt'] == '320.00'


def test_pages_to_records(tmp_path, monkeypatch):
  monkeypatch.setenv('T_SHOPIFY_TOKEN', 'shpat')
  with FakeApi() as api:
    api.route('GET', PATH, lambda req: Reply(200, {'products': [SAREE]}, (
        ('Link', f'<{api.url}{PATH}?page_info=2>; rel="next"'),)) if 'page_info' not in req.query
        else Reply(200, {'products': [TEA, {'id': 9, 'title': 'No SKU', 'variants': []}]}))
    client = ShopifyClient(ShopifyConfig(api.url, SecretRef.parse('env:T_SHOPIFY_TOKEN')),
                           HttpConfig(api.url, retry=RetryPolicy(max_attempts=2)),
                           sleep=FakeSleep(), rng=random.Random(0))
    sink = ListSink()
    with CatalogAgent(client) as agent:
      stats = run_once(agent, sink, None, since=NOW - datetime.timedelta(hours=2),
                       clock=lambda: NOW)
  assert [k for k, _ in sink.emitted] == ['SHA-SAR-1', 'DOE-GRO-7'] and stats.dead_lettered == 0
