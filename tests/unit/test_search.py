"""python -m pipeline.search without a server: flags checked before connecting, the table, filters."""
import datetime

import pytest

from connectors.weaviate_search import SearchFilters, SearchHit
from pipeline import search

UTC = datetime.timezone.utc


@pytest.mark.parametrize('argv, message', [
    (['saree', '--alpha', '1.5'], '--alpha must be within 0..1'),
    (['saree', '--limit', '0'], '--limit must be within 1..100'),
    (['saree', '--since', 'yesterday'], 'is not a date'),
    (['saree', '--since', '2026-11-20', '--until', '2026-11-01'], '--since must be before --until'),
    (['--like', '00000000-0000-0000-0000-000000000000', '--hybrid'], 'cannot be --hybrid'),
    ([], 'give a query text or --like'),
    (['saree', '--like', '00000000-0000-0000-0000-000000000000'], 'give a query text or --like'),
    (['saree', '--city', 'Atlantis'], 'none of the cities'),
    (['saree', '--embed_backend', 'onnx', '--embed_onnx_dir', '/nonexistent'],
     'stack/stack.sh setup embed_model'),
])
def test_bad_flags_exit_2_with_a_message_before_any_connection(argv, message, capsys):
  # Port 1: were anything to connect, it would fail with another message.
  assert search.run(argv + ['--weaviate_http_port=1', '--weaviate_grpc_port=2']) == 2
  assert message in capsys.readouterr().err


def test_city_spellings_resolve_to_the_stored_name():
  assert search._city('dhaka') == search._city('ঢাকা') == 'Dhaka'
  assert search._city(None) is None


def test_filters_are_checked_and_hashtags_lose_their_hash():
  f = SearchFilters(hashtags=('#EidSale', 'offer', '#'))
  assert f.hashtags == ('EidSale', 'offer')
  with pytest.raises(ValueError):
    SearchFilters(since=datetime.datetime(2026, 11, 1))            # naive
  with pytest.raises(ValueError):
    SearchFilters(since=datetime.datetime(2026, 11, 2, tzinfo=UTC),
                  until=datetime.datetime(2026, 11, 1, tzinfo=UTC))


def test_table_has_one_line_per_hit_with_the_scrubbed_text_cut():
  hits = [SearchHit('e1', 0.91234, 'tiktok', 'video', 'Dhaka',
                    datetime.datetime(2026, 11, 28, 9, 5, tzinfo=UTC),
                    'Eid saree offer\nfree delivery ' + 'x' * 100, ('EidSale', 'saree'), 'm'),
          SearchHit('e2', 0.5, 'facebook', 'post', None, None, 'ঈদের নতুন শাড়ি', (), 'm')]
  lines = search.format_table(hits, 'cosine').splitlines()
  assert len(lines) == 4
  assert lines[2].startswith('0.9123  tiktok    Dhaka  2026-11-28 09:05  Eid saree offer free')
  assert '…' in lines[2] and lines[2].endswith('#EidSale #saree')
  assert lines[3].startswith('0.5000  facebook') and 'ঈদের নতুন শাড়ি' in lines[3]
