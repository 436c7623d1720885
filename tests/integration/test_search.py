"""python -m pipeline.search against the real local Weaviate: posts written by WriteToWeaviate
with vectors from the real model (default backend), searched through the CLI; the expected
neighbours are computed by brute force from the same vectors. Start Weaviate with
`./run_local.sh start` (or `stack/stack.sh start weaviate`)."""
from __future__ import annotations

import dataclasses
import datetime
import io
import json

import apache_beam as beam
import numpy as np
import pytest

from connectors.weaviate import WriteToWeaviate, open_client
from pipeline import search
from tests.integration import sink_helpers as h
from tests.unit import fakes
from transforms.embed import load_encoder

UTC = datetime.timezone.utc
# (text, hashtags, city, source, day of November 2026)
POSTS = [
    ('Eid special Jamdani saree offer, free delivery', ('EidSale', 'saree'), 'Dhaka', 'tiktok', 20),
    ('Katan silk saree for Eid at a discount price', ('saree',), 'Chattogram', 'facebook', 21),
    ('New Tangail cotton saree collection for the festival', ('fashion',), 'Dhaka', 'facebook', 22),
    ('Rice cooker 1.8L with a pressure cooker combo deal', ('kitchen',), 'Dhaka', 'tiktok', 23),
    ('Non-stick fry pan and rice cooker for your kitchen', ('kitchen',), 'Khulna', 'tiktok', 24),
    ('20W fast charger and type-C cable, fast delivery', ('gadget',), 'Dhaka', 'facebook', 25),
    ('Wireless earbuds and power bank flash sale', ('gadget', 'sale'), 'Sylhet', 'tiktok', 26),
    ('Traffic jam in Mirpur again, stuck for two hours', ('dhaka',), 'Dhaka', 'facebook', 27),
    ('Heavy rain in Sylhet today, stay safe everyone', ('rain',), 'Sylhet', 'tiktok', 27),
    ('ঈদের নতুন শাড়ি এসেছে, হোম ডেলিভারি', ('অফার',), 'Dhaka', 'facebook', 28),
]


@pytest.fixture(scope='module')
def encoder():
  return load_encoder(fakes.embed_config())


@pytest.fixture(scope='module')
def stored(encoder):
  """The posts in a fresh pair of collections, and their vectors (deleted afterwards)."""
  vectors = encoder.encode([p[0] + ' ' + ' '.join('#' + t for t in p[1]) for p in POSTS])
  records = []
  for i, ((text, tags, city, source, day), vector) in enumerate(zip(POSTS, vectors)):
    records.append(h.post(i, source=source, hashtags=tags, text=text, city=city,
                          event_time=datetime.datetime(2026, 11, day, 9, i, tzinfo=UTC),
                          embedding=tuple(vector),
                          embedding_model=fakes.embed_config().model_id))
  with h.weaviate_collections() as config:
    h.run_pipeline(lambda p: p | beam.Create(records) | WriteToWeaviate(config))
    assert h.weaviate_count(config, config.posts_collection) == len(records)
    yield config, records, np.array(vectors)


def _search(config, *args):
  out = io.StringIO()
  code = search.run(list(args) + [f'--weaviate_posts_collection={config.posts_collection}',
                                  f'--weaviate_http_port={config.http_port}',
                                  f'--weaviate_grpc_port={config.grpc_port}', '--json'], out)
  return code, (json.loads(out.getvalue()) if code == 0 else None)


def _expected(records, vectors, query_vector, keep=lambda r: True, limit=10, exclude=None):
  scores = vectors @ np.asarray(query_vector)
  order = [i for i in np.argsort(-scores, kind='stable')
           if keep(records[i]) and records[i].event_id != exclude]
  return [records[i].event_id for i in order[:limit]], scores


def test_query_finds_the_nearest_posts_with_cosine_scores(stored, encoder):
  config, records, vectors = stored
  code, result = _search(config, 'eid saree offer', '--limit', '4')
  assert code == 0 and result['searched'] == len(records)
  query = encoder.encode(['eid saree offer'])[0]
  expected, scores = _expected(records, vectors, query, limit=4)
  assert [hit['event_id'] for hit in result['hits']] == expected
  assert {records[i].event_id for i in (0, 1, 2)} <= set(expected)   # the three saree posts
  by_id = {r.event_id: i for i, r in enumerate(records)}
  for hit in result['hits']:
    assert hit['score'] == pytest.approx(scores[by_id[hit['event_id']]], abs=2e-3)
    assert hit['text'] == records[by_id[hit['event_id']]].text


def test_filters_city_source_time_and_hashtag(stored, encoder):
  config, records, vectors = stored
  query = encoder.encode(['rice cooker'])[0]
  code, result = _search(config, 'rice cooker', '--city', 'dhaka', '--source', 'tiktok')
  assert code == 0
  expected, _ = _expected(records, vectors, query,
                          lambda r: r.city == 'Dhaka' and r.source == 'tiktok')
  assert [hit['event_id'] for hit in result['hits']] == expected and len(expected) == 2
  assert all(hit['city'] == 'Dhaka' and hit['source'] == 'tiktok' for hit in result['hits'])

  code, result = _search(config, 'rice cooker', '--since', '2026-11-23', '--until',
                         '2026-11-26T00:00:00+00:00')
  since, until = datetime.datetime(2026, 11, 23, tzinfo=UTC), datetime.datetime(2026, 11, 26, tzinfo=UTC)
  expected, _ = _expected(records, vectors, query, lambda r: since <= r.event_time < until)
  assert [hit['event_id'] for hit in result['hits']] == expected and len(expected) == 3

  code, result = _search(config, 'rice cooker', '--hashtag', '#gadget', '--hashtag', 'rain')
  expected, _ = _expected(records, vectors, query, lambda r: {'gadget', 'rain'} & set(r.hashtags))
  assert [hit['event_id'] for hit in result['hits']] == expected and len(expected) == 3


def test_like_an_event_finds_its_neighbours_but_not_itself(stored):
  config, records, vectors = stored
  code, result = _search(config, '--like', records[3].event_id, '--limit', '3')
  assert code == 0
  expected, _ = _expected(records, vectors, vectors[3], limit=3, exclude=records[3].event_id)
  assert [hit['event_id'] for hit in result['hits']] == expected
  assert records[4].event_id == expected[0]          # the other rice-cooker post


def test_hybrid_alpha_weights_keywords_against_vectors(stored, encoder):
  config, records, vectors = stored
  # alpha=0: BM25 only, so the one post with the rare word "Jamdani" comes first.
  code, result = _search(config, 'Jamdani', '--hybrid', '--alpha', '0', '--limit', '3')
  assert code == 0 and result['hits'][0]['event_id'] == records[0].event_id
  assert len(result['hits']) == 1                  # no other post has the word
  # Bengali words are matched too (the model's vectors cannot do that, README).
  code, result = _search(config, 'শাড়ি', '--hybrid', '--alpha', '0', '--limit', '3')
  assert code == 0 and result['hits'][0]['event_id'] == records[9].event_id
  # alpha=1: vectors only, the same order as near-vector search.
  code, result = _search(config, 'phone charger', '--hybrid', '--alpha', '1', '--limit', '3')
  expected, _ = _expected(records, vectors, encoder.encode(['phone charger'])[0], limit=3)
  assert [hit['event_id'] for hit in result['hits']] == expected


def test_table_output_is_readable(stored):
  config, records, _ = stored
  out = io.StringIO()
  code = search.run(['eid saree offer', '--limit', '2',
                     f'--weaviate_posts_collection={config.posts_collection}'], out)
  lines = out.getvalue().splitlines()
  assert code == 0
  assert lines[0].split() == ['cosine', 'source', 'city', 'time', '(UTC)', 'text', 'hashtags']
  assert len(lines) == 2 + 2 + 1 and lines[-1] == f'2 of {len(records)} posts'
  assert '2026-11-' in lines[2] and '#' in lines[2]


def test_clear_errors_for_missing_empty_collection_unknown_event_and_no_server(capsys):
  with h.weaviate_collections() as config:
    code, _ = _search(config, 'saree')
    assert code == 2 and 'is empty' in capsys.readouterr().err
    code, _ = _search(dataclasses.replace(config, posts_collection='NoSuchCollectionHere'), 'saree')
    assert code == 2 and 'no collection' in capsys.readouterr().err
  with h.weaviate_collections() as config:
    h.run_pipeline(lambda p: p | beam.Create([h.post(1)]) | WriteToWeaviate(config))
    code, _ = _search(config, '--like', h.post(2).event_id)
    assert code == 2 and 'no post with event id' in capsys.readouterr().err
  code, _ = _search(dataclasses.replace(h.weaviate_config(), http_port=1, grpc_port=2), 'saree')
  assert code == 2 and 'not reachable' in capsys.readouterr().err
  with open_client(h.weaviate_config()) as client:
    assert client.is_ready()                         # the shared server was never touched
