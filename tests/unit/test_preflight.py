"""preflight.check asks for the Kafka expansion jar only where a JVM runs KafkaIO (Flink): the
bounded runners read and write with librdkafka."""
from __future__ import annotations

import types

import pytest

from pipeline import preflight


class _PastTheJarCheck(Exception):
  pass


def _config(tmp_path):
  kafka = types.SimpleNamespace(expansion_jar=str(tmp_path / 'missing.jar'),
                                bootstrap_servers='127.0.0.1:9')
  return types.SimpleNamespace(kafka=kafka, source_by_topic={'raw.shopify.orders': 'shopify'},
                               posts_topic='p', orders_topic='o', dlq_topic='d')


def _stop(*_args, **_kwargs):
  raise _PastTheJarCheck()


def test_a_bounded_run_needs_no_expansion_jar(tmp_path, monkeypatch):
  monkeypatch.setattr(preflight, '_check_kafka', _stop)
  with pytest.raises(_PastTheJarCheck):
    preflight.check(_config(tmp_path), is_flink=False, flink_local=False, flink_master=None)


def test_flink_without_the_expansion_jar_says_how_to_build_it(tmp_path, monkeypatch):
  monkeypatch.setattr(preflight, '_check_kafka', _stop)
  with pytest.raises(preflight.PreflightError, match='setup beam_jars'):
    preflight.check(_config(tmp_path), is_flink=True, flink_local=True, flink_master=None)
