"""The run summary reconciles read = valid + validation dead letters, and normalized records =
posts + orders + later dead letters (not the sinks': those records are among the posts and
orders), and lays out per-source counts."""
from pipeline.summary import RunSummary

BASE = {
    'num_records_read': 10, 'num_records_read_shopify': 6, 'num_records_read_facebook': 4,
    'num_valid': 9, 'num_dead_letters_out_validate': 1, 'num_dead_letters_out': 2,
    'num_dead_letters_out_enrich': 1, 'num_dead_letters_by_source_shopify': 2,
    'num_shielded': 12, 'num_posts_out': 7, 'num_orders_out': 4,
    'num_posts_out_facebook': 7, 'num_orders_out_shopify': 4,
    'num_written_by_source_snowflake_facebook': 7, 'num_written_by_source_snowflake_shopify': 4,
}


def test_reconciles_with_later_dead_letters():
  summary = RunSummary(dict(BASE), 1.0)
  assert summary.accounted == 10
  assert summary.normalized_accounted == 12
  assert summary.reconciled
  assert 'OK' in summary.render().splitlines()[-1]


def test_an_envelope_counts_once_whatever_it_held():
  """1 plain message + 1 Daraz GetOrders page of 3 orders (one invalid) + 1 empty Graph page:
  3 messages read, 3 valid records (the plain one, two orders), 1 validation dead letter."""
  counters = {'num_records_read': 3, 'num_valid': 3, 'num_dead_letters_out_validate': 1,
              'num_envelopes': 2, 'num_envelope_records': 3, 'num_shielded': 3,
              'num_orders_out': 2, 'num_posts_out': 1}
  summary = RunSummary(counters, 1.0)
  assert summary.accounted == 3
  assert summary.reconciled
  assert not RunSummary(dict(counters, num_envelopes=1), 1.0).reconciled


def test_a_vanished_record_is_a_mismatch():
  counters = dict(BASE, num_posts_out=6)
  summary = RunSummary(counters, 1.0)
  assert not summary.reconciled
  assert 'MISMATCH' in summary.render()


def test_per_source_rows():
  lines = RunSummary(dict(BASE), 1.0).render().splitlines()
  shopify = next(line.split() for line in lines if line.strip().startswith('shopify') and len(line.split()) == 6)
  assert shopify == ['shopify', '6', '4', '2', '0', '4']


# Issue 9: a post the Snowflake sink refused is a post out (it went to the output topic) and a
# sink dead letter; counting both made a clean run a MISMATCH and doubled the source's dead.
SINK_REFUSED = {
    'num_records_read': 3, 'num_records_read_tiktok': 3, 'num_valid': 3,
    'num_shielded': 3, 'num_posts_out': 3, 'num_posts_out_tiktok': 3,
    'num_dead_letters_out': 1, 'num_dead_letters_out_sink_snowflake': 1,
    'num_dead_letters_by_source_tiktok': 1, 'num_sink_dead_letters_by_source_tiktok': 1,
    'num_written_by_source_snowflake_tiktok': 2, 'num_written_by_source_weaviate_tiktok': 3,
}


def test_sink_dead_letters_are_not_counted_twice():
  summary = RunSummary(dict(SINK_REFUSED), 1.0)
  assert summary.normalized_accounted == 3 and summary.reconciled
  tiktok = next(line.split() for line in summary.render().splitlines()
                if line.strip().startswith('tiktok') and len(line.split()) == 7)
  assert tiktok == ['tiktok', '3', '3', '0', '1', '2', '3']
