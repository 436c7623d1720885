"""The demo generator: deterministic, real API shapes, planted PII recorded, malformed share."""
import collections
import datetime
import hashlib
import json
import os
import re
import subprocess
import sys

import confluent_kafka
import pytest

from agents import demo
from agents.topics import load_topics
from connectors.kafka_publisher import BulkPublisher, PublisherConfig, PublishError, standard_headers
from schemas.sources import SOURCE_MODELS

TOPICS = load_topics()
SOURCE_OF = {topic: source for source, topic in TOPICS.by_source.items()}


@pytest.fixture(scope='module')
def data():
  return demo.generate(seed=11, events=1500, malformed_share=0.1)


def test_same_seed_same_bytes_other_seed_other_bytes(data):
  again = demo.generate(seed=11, events=1500, malformed_share=0.1)
  assert again == data
  assert demo.generate(seed=12, events=50, malformed_share=0.1).events[100:] != data.events[100:150]


def _digest_in_subprocess(hash_seed: str) -> str:
  code = ('import hashlib; from agents import demo; d = demo.generate(3, 600, 0.1); '
          'print(hashlib.sha256(repr((d.events, d.pii, d.malformed)).encode()).hexdigest())')
  run = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True,
                       env=dict(os.environ, PYTHONHASHSEED=hash_seed), timeout=120)
  return run.stdout.strip()


def test_same_seed_same_bytes_in_other_processes():
  """No draw may depend on set or dict-of-set order, which changes with the process's hash seed."""
  first = _digest_in_subprocess('1')
  assert first == _digest_in_subprocess('2')
  data = demo.generate(3, 600, 0.1)
  assert first == hashlib.sha256(repr((data.events, data.pii, data.malformed)).encode()).hexdigest()


def test_fast_json_writes_the_stdlib_bytes(data):
  """The optional orjson encoder and json.dumps(ensure_ascii=False) give the same bytes."""
  pytest.importorskip('orjson')
  assert demo.fast_json is not demo.stdlib_json
  assert demo.generate(seed=11, events=1500, malformed_share=0.1, encode=demo.stdlib_json) == data


def test_fetched_at_matches_standard_headers(data):
  for e in data.events[::37]:
    headers = dict(e.headers)
    fetched = datetime.datetime.fromisoformat(headers['fetched_at'].decode().replace('Z', '+00:00'))
    assert e.headers == tuple(standard_headers(headers['source'].decode(), fetched, synthetic=True))


def test_counts_context_first_and_headers(data):
  counts = collections.Counter(SOURCE_OF[e.topic] for e in data.events)
  assert counts == {'tiktok': 450, 'facebook': 375, 'shopify': 375, 'daraz': 300,
                    'openweather': counts['openweather'], 'catalog': demo.CATALOG_SIZE}
  assert 8 * 6 <= counts['openweather'] <= 8 * 7    # an observation per city and hour
  n_context = counts['openweather'] + demo.CATALOG_SIZE
  assert {SOURCE_OF[e.topic] for e in data.events[:n_context]} == {'openweather', 'catalog'}
  assert SOURCE_OF[data.events[n_context].topic] not in ('openweather', 'catalog')
  for e in data.events:
    headers = dict(e.headers)
    assert headers['source'].decode() == SOURCE_OF[e.topic]
    assert headers['schema_version'] == b'1' and headers['synthetic'] == b'true'
    assert re.fullmatch(rb'\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z', headers['fetched_at'])
  keys = collections.Counter((e.topic, e.key) for e in data.events)
  assert max(keys.values()) == 1, 'native ids are unique per topic'


def test_weather_history_covers_the_eight_cities_hour_by_hour(data):
  """One observation per city and hour of the 6-hour window, keyed as the weather agent keys
  them (city id:UTC hour), so that every event's hour has an observation within the hour."""
  from connectors.openweather import observation_key
  weather = {e.key: json.loads(e.value) for e in data.events if SOURCE_OF[e.topic] == 'openweather'}
  assert {w['name'] for w in weather.values()} == {
      'Dhaka', 'Chattogram', 'Khulna', 'Rajshahi', 'Sylhet', 'Barishal', 'Rangpur', 'Mymensingh'}
  assert all(observation_key(w['id'], w['dt']).encode() == k and w['sys']['country'] == 'BD'
             for k, w in weather.items())
  now_s = int(demo.DEFAULT_NOW.timestamp())
  for city_id in {w['id'] for w in weather.values()}:
    times = sorted(w['dt'] for w in weather.values() if w['id'] == city_id)
    assert all(now_s - 6 * 3600 - 3600 < t <= now_s for t in times)
    # every hour of the window up to now has its observation, the latest within the last hour
    assert {t // 3600 for t in times} >= set(range((now_s - 6 * 3600) // 3600, now_s // 3600))
    assert now_s - times[-1] < 3600


def test_malformed_exactly_the_listed_ones_fail_the_source_contract(data):
  bad = {(m.topic, m.key): m.reason for m in data.malformed}
  assert len(bad) == round(1500 * 0.1)
  assert {r.split(':')[0] for r in bad.values()} == set(demo.MALFORMED_KINDS)
  for e in data.events:
    model = SOURCE_MODELS[SOURCE_OF[e.topic]]
    if (e.topic, e.key) in bad:
      with pytest.raises(ValueError):  # JSONDecodeError or pydantic.ValidationError
        model.model_validate(json.loads(e.value))
    else:
      model.model_validate_json(e.value)


def test_planted_pii_is_in_the_payloads_and_varied():
  # Without malformed records, so that no truncation cuts a planted value off.
  data = demo.generate(seed=5, events=800, malformed_share=0.0)
  blob = b'\n'.join(e.value for e in data.events).decode('utf-8')
  kinds = collections.Counter(p.kind for p in data.pii)
  assert {'phone', 'email', 'name', 'address', 'national_id', 'ip', 'username'} <= set(kinds)
  for p in data.pii:
    assert p.value in blob, p
  phones = [p for p in data.pii if p.kind == 'phone']
  assert all(re.fullmatch(r'\+8801[3-9]\d{8}', p.normalized) for p in phones)
  written = {p.value for p in phones}
  assert any(v.startswith('+880') for v in written) and any(v.startswith('880') for v in written)
  assert any(v.startswith('01') for v in written) and any('০' in v or '১' in v for v in written)
  assert any('-' in v for v in written) and any(' ' in v for v in written)
  emails = [p.value for p in data.pii if p.kind == 'email']
  assert all(re.search(r'@(mail\.)?example\.(com|org|net)$', v) for v in emails)


def test_captions_mix_bangla_and_english_with_hashtags(data):
  captions = [json.loads(e.value)['video_description'] for e in data.events
              if SOURCE_OF[e.topic] == 'tiktok' and (e.topic, e.key) not in
              {(m.topic, m.key) for m in data.malformed}]
  assert any(re.search('[\u0980-\u09FF]', c) for c in captions)
  assert any(re.fullmatch(r'[\x00-\x7F৳🔥🌙😩☔—\'’]*', c.split('#')[0]) for c in captions)
  assert all('#' in c for c in captions)


def test_prices_are_bdt(data):
  products = [json.loads(e.value) for e in data.events if SOURCE_OF[e.topic] == 'catalog']
  assert all(re.fullmatch(r'\d+\.\d\d', p['price_bdt']) for p in products)
  orders = [json.loads(e.value) for e in data.events if SOURCE_OF[e.topic] == 'shopify'
            and (e.topic, e.key) not in {(m.topic, m.key) for m in data.malformed}]
  assert {o['currency'] for o in orders} == {'BDT'}


def test_pii_file_and_cli_dry_run(tmp_path, capsys):
  out = tmp_path / 'pii.json'
  assert demo.main(['--events', '40', '--seed', '3', '--pii-out', str(out), '--dry-run']) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  weather = sum(1 for line in lines if json.loads(line)['topic'].endswith('weather'))
  assert 8 * 6 <= weather <= 8 * 7                      # hourly observations per city
  assert len(lines) == 40 + weather + demo.CATALOG_SIZE
  assert json.loads(lines[0])['headers']['synthetic'] == 'true'
  planted = json.loads(out.read_text(encoding='utf-8'))
  assert planted['synthetic'] is True and planted['values'][0].keys() >= {'kind', 'value'}


class FakeRdProducer:
  """confluent_kafka.Producer stand-in: records produce() calls; scripted refusals and failures."""

  def __init__(self, config):
    self.config, self.produced, self.polls, self.closed = config, [], 0, False
    self.refusals = []            # exceptions produce() raises, one per call, before accepting
    self.fail_topics = set()      # records to these topics fail delivery at flush

  def produce(self, topic, value, key, headers):
    if self.refusals:
      raise self.refusals.pop(0)
    self.produced.append((topic, key, value, headers))

  def poll(self, timeout):
    self.polls += 1

  def flush(self, timeout=None):
    timed_out = confluent_kafka.KafkaError(confluent_kafka.KafkaError._MSG_TIMED_OUT)
    for topic, *_ in self.produced:
      if topic in self.fail_topics:
        self.config['on_delivery'](timed_out, FakeMessage(topic))
    self.produced = [p for p in self.produced if p[0] not in self.fail_topics]
    return 0

  def purge(self):
    pass

  def close(self):
    self.closed = True


class FakeMessage:
  def __init__(self, topic):
    self._topic = topic

  def topic(self):
    return self._topic


def test_bulk_publisher_has_the_kafka_python_settings():
  config = PublisherConfig(linger_ms=123, batch_size=456_789, compression='gzip')
  rd, kp = config.librdkafka_config(), config.producer_kwargs()
  assert rd['acks'] == kp['acks'] == 'all'
  assert rd['enable.idempotence'] is kp['enable_idempotence'] is True
  assert rd['retries'] == kp['retries'] and rd['delivery.timeout.ms'] == kp['delivery_timeout_ms']
  assert (rd['linger.ms'], rd['batch.size']) == (kp['linger_ms'], kp['batch_size']) == (123, 456_789)
  assert rd['compression.type'] == kp['compression_type'] == 'gzip'
  assert rd['partitioner'] == 'murmur2_random'   # kafka-python's (Java's) keyed partitioner


def test_bulk_publisher_sends_headers_waits_on_a_full_queue_and_counts_failures():
  publisher = BulkPublisher(PublisherConfig(), producer_factory=FakeRdProducer)
  headers = tuple(standard_headers('tiktok', demo.DEFAULT_NOW, synthetic=True))
  with pytest.raises(PublishError, match='1 record'):
    with publisher:
      producer = publisher._producer  # pylint: disable=protected-access
      producer.refusals.append(BufferError('queue full'))
      producer.fail_topics.add('lost')
      publisher.publish_many([('t', b'k', b'v', headers), ('lost', b'k2', b'v2', ())])
  assert producer.produced == [('t', b'k', b'v', list(headers))]
  assert producer.polls >= 1 and producer.closed
  assert publisher.acked == {'t': 1} and publisher.failed == {'lost': 1}


def test_bulk_publisher_raises_when_the_client_refuses_a_record():
  publisher = BulkPublisher(PublisherConfig(), producer_factory=FakeRdProducer)
  with pytest.raises(PublishError, match='refused a record for t'):
    with publisher:
      publisher._producer.refusals.append(  # pylint: disable=protected-access
          confluent_kafka.KafkaException(confluent_kafka.KafkaError(
              confluent_kafka.KafkaError.MSG_SIZE_TOO_LARGE)))
      publisher.send('t', b'k', b'v' * 10)
  assert publisher.sent['t'] == 0


def test_publish_refuses_an_unknown_client():
  with pytest.raises(ValueError, match='Unknown client'):
    demo.publish([], '127.0.0.1:9', client='kafka-go')
