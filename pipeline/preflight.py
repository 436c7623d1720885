"""Fail fast, before any graph is built, with a message that says what to do next."""
from __future__ import annotations

import json
import os
import time
import urllib.request
from typing import Optional

from kafka.errors import KafkaError

from connectors import kafka_client
from connectors.secrets import SecretError, SecretRef
from pipeline.flink_jobs import flink_rest_url, list_jobs

START_HINT = 'start the local stack with `./run_local.sh start`'


class PreflightError(RuntimeError):
  """Something the run needs is missing; the message says how to get it."""


def _check_kafka(bootstrap_servers: str, topics: list[str]) -> None:
  from kafka import KafkaAdminClient
  from kafka.errors import KafkaError
  try:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=5000,
                             client_id='millionx-preflight')
  except KafkaError as e:
    raise PreflightError(
        f'Kafka is not reachable at {bootstrap_servers} — {START_HINT} '
        f'(or pass --bootstrap_servers). ({type(e).__name__})') from e
  try:
    existing = set(admin.list_topics())
  finally:
    admin.close()
  missing = sorted(set(topics) - existing)
  if missing:
    raise PreflightError(
        f'Kafka at {bootstrap_servers} lacks the topics {missing} — create them with '
        '`stack/stack.sh topics` (python -m pipeline.topics create).')


def raw_backlog(bootstrap_servers: str, group_id: str, topics: list[str],
                auto_offset_reset: str = 'earliest') -> dict[tuple[str, int], int]:
  """Records waiting for `group_id` in each partition of `topics`: end offset minus the group's
  committed offset (or, where it has none, the earliest / latest offset per auto_offset_reset)."""
  return {(r.topic, r.partition): r.size
          for r in read_plan(bootstrap_servers, group_id, topics, auto_offset_reset)}


def read_plan(bootstrap_servers: str, group_id: str, topics: list[str],
              auto_offset_reset: str = 'earliest', max_records: Optional[int] = None):
  """The exact offset range per raw partition that a bounded run reads (see
  connectors.kafka_client.partition_ranges)."""
  try:
    return kafka_client.partition_ranges(bootstrap_servers, group_id, topics, auto_offset_reset,
                                         max_records)
  except (kafka_client.KafkaUnavailable, KafkaError) as e:
    raise PreflightError(f'Kafka is not reachable at {bootstrap_servers} — {START_HINT}. '
                         f'({type(e).__name__})') from e


def _check_dlq_size(bootstrap_servers: str, topic: str, needed: int) -> None:
  allowed = kafka_client.topic_max_message_bytes(bootstrap_servers, topic)
  if allowed is not None and allowed < needed:
    raise PreflightError(
        f'The DLQ topic {topic} takes messages of up to {allowed} bytes, but a dead letter may '
        f'be {needed} (max_message_bytes in pipeline/topics.yaml) — align it with '
        '`stack/stack.sh topics` (python -m pipeline.topics create).')


def _check_flink_cluster(master: str) -> None:
  try:
    with urllib.request.urlopen(f'{flink_rest_url(master)}/overview', timeout=5) as resp:
      overview = json.load(resp)
  except (OSError, ValueError) as e:
    raise PreflightError(
        f'The Flink cluster at {master} does not answer — {START_HINT} (Flink REST on 8081), '
        'or use --flink_master=[local].') from e
  if not overview.get('slots-available'):
    raise PreflightError(f'The Flink cluster at {master} has no free task slot '
                         f'({overview.get("slots-total", 0)} in all): cancel a job or add a TaskManager.')


def check(graph_config, is_flink: bool, flink_local: bool, flink_master: Optional[str]) -> None:
  kafka = graph_config.kafka
  # Only Flink runs KafkaIO in a JVM; the bounded runners read and write with librdkafka.
  if is_flink and not os.path.isfile(kafka.expansion_jar):
    raise PreflightError(
        f'The Kafka expansion service jar {kafka.expansion_jar} is missing — build it with '
        '`stack/stack.sh setup beam_jars`.')
  needed = list(graph_config.source_by_topic) + [
      graph_config.posts_topic, graph_config.orders_topic, graph_config.dlq_topic]
  _check_kafka(kafka.bootstrap_servers, needed)
  dead_letter = graph_config.process.dead_letter
  _check_dlq_size(kafka.bootstrap_servers, graph_config.dlq_topic, dead_letter.max_message_bytes)
  if is_flink and not flink_local:
    _check_flink_cluster(flink_master)
  # Resolved here only to fail fast; the workers resolve them again in setup().
  for what, ref in (('--dlq_key_ref', dead_letter.key_ref),
                    ('--pseudonym_key_ref', graph_config.process.privacy.hmac_key_ref)):
    try:
      SecretRef.parse(ref).resolve_key()
    except SecretError as e:
      raise PreflightError(f'{what}: {e}') from e


def check_prism(prism_location: Optional[str]) -> None:
  if not prism_location or '://' in prism_location:
    return
  if not os.access(prism_location, os.X_OK):
    raise PreflightError(f'The Prism runner binary {prism_location} is missing — build it with '
                         '`stack/stack.sh setup prism` (or pass --prism_location).')


def find_flink_job(master: str, job_name: str, timeout_s: float = 60.0) -> str:
  """The id of the Flink job named `job_name`, once the cluster lists it."""
  deadline = time.monotonic() + timeout_s
  while time.monotonic() < deadline:
    try:
      jobs = list_jobs(master)
    except (OSError, ValueError):
      jobs = []
    for job in jobs:
      if job.get('name') == job_name:
        return job['jid']
    time.sleep(1)
  raise PreflightError(f'job {job_name} did not appear in {master}/jobs/overview within {timeout_s:.0f}s')
