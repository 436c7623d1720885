"""The agent loop without Kafka: windows, checkpoints, shape checks, dry run, publisher failures."""
import datetime
import io
import json

import pytest
from kafka.errors import KafkaTimeoutError
from kafka.future import Future

from agents.checkpoint import CheckpointStore
from agents.runner import DryRunSink, Rejected, SourceAgent, run_once, shape_error
from agents.topics import load_topics
from connectors.http import ApiClient, HttpConfig, MalformedResponse
from connectors.kafka_publisher import (DeadLetterCodec, KafkaPublisher, PublisherConfig,
                                        PublishError, standard_headers)
from tests.fakes_agents import ListSink

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class ScriptedAgent(SourceAgent):
  """Serves one page per window: a good video, a video without id; fails on window `fail_at`."""
  source = 'tiktok'
  window = datetime.timedelta(hours=6)
  lag = datetime.timedelta(0)

  def __init__(self, fail_at=None):
    super().__init__(ApiClient(HttpConfig('http://127.0.0.1:9')))
    self.calls, self.fail_at = [], fail_at

  def fetch(self, start, end):
    self.calls.append((start, end))
    if len(self.calls) == self.fail_at:
      raise MalformedResponse('tiktok: not JSON', body=b'{"data": ')
    yield [(str(len(self.calls)), {'id': len(self.calls), 'create_time': 1764000000}),
           (None, {'video_description': 'call 01712345678'})]


def test_windows_checkpoint_and_shape_dead_letters(tmp_path):
  store = CheckpointStore(tmp_path, 'tiktok')
  sink = ListSink()
  agent = ScriptedAgent()
  stats = run_once(agent, sink, store, since=NOW - datetime.timedelta(hours=15), clock=lambda: NOW)
  assert [e - s for s, e in agent.calls] == [datetime.timedelta(hours=6)] * 2 + [
      datetime.timedelta(hours=3)]
  assert (stats.published, stats.dead_lettered, stats.windows) == (3, 3, 3)
  assert store.load() == NOW and sink.commits == 3
  assert all('01712345678' not in r.reason for r in sink.dead)   # reasons name fields, not values
  # the next run starts where this one ended
  agent2 = ScriptedAgent()
  run_once(agent2, ListSink(), store, clock=lambda: NOW + datetime.timedelta(hours=1))
  assert agent2.calls == [(NOW, NOW + datetime.timedelta(hours=1))]


def test_malformed_response_keeps_the_last_good_checkpoint(tmp_path):
  store = CheckpointStore(tmp_path, 'tiktok')
  sink = ListSink()
  with pytest.raises(MalformedResponse):
    run_once(ScriptedAgent(fail_at=2), sink, store, since=NOW - datetime.timedelta(hours=12),
             clock=lambda: NOW)
  assert store.load() == NOW - datetime.timedelta(hours=6)
  assert sink.dead[-1] == Rejected(None, b'{"data": ', 'tiktok: not JSON', 'MalformedResponse')


def test_dry_run_prints_and_saves_nothing(tmp_path):
  out = io.StringIO()
  store = CheckpointStore(tmp_path, 'tiktok')
  run_once(ScriptedAgent(), DryRunSink(load_topics(), out, lambda: NOW), store,
           since=NOW - datetime.timedelta(hours=1), clock=lambda: NOW)
  lines = [json.loads(l) for l in out.getvalue().splitlines()]
  assert lines[0]['topic'] == 'raw.tiktok.videos' and lines[0]['headers']['source'] == 'tiktok'
  assert 'payload_size' in lines[1] and '01712345678' not in out.getvalue()
  assert store.load() is None


def test_shape_error_names_fields_only():
  assert shape_error('shopify', {'id': 'ABC', 'email': 'x@example.com'}).startswith('shape: id')
  assert 'example.com' not in shape_error('shopify', {'id': 'ABC', 'email': 'x@example.com'})
  assert shape_error('daraz', []) == 'not a JSON object (list)'
  assert shape_error('openweather', {'id': 1185241, 'dt': 1644304044}) is None


class FailingProducer:
  """Accepts sends; every record fails at flush, as when the broker is gone past the timeout."""

  def __init__(self, **kwargs):
    self.kwargs, self.futures = kwargs, []

  def send(self, topic, key, value, headers):
    self.futures.append(Future())
    return self.futures[-1]

  def flush(self, timeout=None):
    for f in self.futures:
      f.failure(KafkaTimeoutError('no broker'))
    self.futures = []

  def close(self, timeout=None):
    pass


def test_publisher_reports_lost_records_once_and_uses_acks_all():
  publisher = KafkaPublisher(PublisherConfig(), producer_factory=FailingProducer)
  with pytest.raises(PublishError, match='2 record'):
    with publisher:
      assert publisher._producer.kwargs['acks'] == 'all'   # pylint: disable=protected-access
      assert publisher._producer.kwargs['enable_idempotence'] is True  # pylint: disable=protected-access
      publisher.send('t', b'k', b'v', standard_headers('tiktok', NOW))
      publisher.send('t', b'k2', b'v', ())
  assert publisher.acked['t'] == 0 and publisher.failed['t'] == 2


def test_dead_letter_without_key_keeps_only_the_size():
  # No unkeyed hash: it would confirm a guessed payload (tests/unit/test_ingest_dead_letters.py).
  letter = json.loads(DeadLetterCodec().encode(
      source='daraz', intended_topic='raw.daraz.orders', key='1', reason='shape: order_id: missing',
      error_class='ShapeError', payload=b'{"phone": "01712345678"}', now=NOW))
  assert 'payload_fernet' not in letter and letter['payload_hmac_sha256'] is None
  assert letter['payload_size'] == 24
  assert letter['time'] == '2026-11-28T12:00:00.000Z'


def test_checkpoint_refuses_naive_times_and_reports_a_corrupt_file(tmp_path):
  store = CheckpointStore(tmp_path, 'shopify', 'shop.myshopify.com')
  with pytest.raises(ValueError):
    store.save(datetime.datetime(2026, 1, 1))
  store.path.write_text('{not json')
  with pytest.raises(RuntimeError, match='--since'):
    store.load()


ORDER = {'id': 820982911946154508, 'email': 'rahim.uddin@example.com', 'phone': '+8801712345678',
         'created_at': '2026-11-28T10:00:00+06:00', 'financial_status': 'paid',
         'customer': {'id': 115310627314723954, 'first_name': 'Rahim', 'last_name': 'Uddin'},
         'shipping_address': {'address1': 'House 12, Road 5, Dhanmondi', 'city': 'Dhaka'},
         'note': 'call 01812345678 before delivery', 'total_price': '1200.00', 'line_items': [
             {'id': 1, 'sku': 'SKU-TEA', 'title': 'Tea', 'quantity': 2}]}
PII = ('rahim', 'Rahim', 'Uddin', '01712345678', '01812345678', 'Dhanmondi', 'House 12')


def _dry_run(show_pii):
  out = io.StringIO()
  sink = DryRunSink(load_topics(), out, lambda: NOW, show_pii=show_pii)
  sink.emit('shopify', '820982911946154508', ORDER)
  return out.getvalue(), json.loads(out.getvalue())['value']


def test_dry_run_redacts_personal_data_and_keeps_ids_times_and_numbers():
  # Issue 9: --dry-run printed the fetched objects as they were, PII included.
  text, value = _dry_run(show_pii=False)
  assert not any(p in text for p in PII), text
  assert value['id'] == ORDER['id']
  # customer.id is pseudonymized by the pipeline (HASH), so the dry run hides it too (review).
  assert value['customer']['id'] == '[redacted]'
  assert value['created_at'] == ORDER['created_at'] and value['financial_status'] == 'paid'
  assert value['line_items'][0]['sku'] == 'SKU-TEA' and value['line_items'][0]['quantity'] == 2
  assert value['email'] == '[redacted 23 chars]'


def test_dry_run_shows_pii_only_when_asked():
  _, value = _dry_run(show_pii=True)
  assert value == ORDER


def test_show_pii_needs_dry_run():
  from agents import cli
  with pytest.raises(SystemExit):
    cli.main('tiktok', 'test', lambda parser: None, lambda args: None, ['--show-pii'])
