"""Fault injection against the real local servers: `kill -9` mid-run, then restart or rerun, and
count by event id that every input event is in Snowflake and in Weaviate exactly once, or in
the DLQ.

  (a) the Flink TaskManager, job submitted to the cluster  (Flink restarts it from a checkpoint)
  (b) the Kafka broker, DirectRunner                        (rerun if the run failed)
  (c) the pipeline process, DirectRunner                    (rerun: nothing was committed)
  (d) Weaviate, DirectRunner                                (the sink retries, or dead-letters)
  (e) the Snowflake (fakesnow) server, DirectRunner         (the sink retries, or dead-letters)

These kill SHARED servers: run them under the heavy lock, never beside other integration runs:

  flock /tmp/millionx-heavy.lock env HF_HUB_OFFLINE=1 .local/venv/bin/python -m pytest -q -s \\
      tests/integration/test_fault_injection.py

Every killed server is started again with stack/stack.sh before the test ends (try/finally),
and at the end of the module every shared server is checked and started if it is down. The
table of faults and what was lost is printed at the end (with -s) and written to
.local/logs/fault-injection.txt.
"""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
import zlib

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from pipeline.flink_jobs import cancel_job, list_jobs
from tests.integration import pipeline_helpers as h
from tests.integration import sink_helpers

pytestmark = pytest.mark.slow

SECRETS = {'dlq': '7c1d2a3b4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9',
           'pseudonym': 'e0d1c2b3a4958677685a4b3c2d1e0f1a2b3c4d5e6f708192a3b4c5d6e7f80912'}
EVENTS = 2000
# Small sink batches, so that writing 2,000 events takes long enough for a kill to land in it.
SMALL_BATCHES = ['--snowflake_batch_size=50', '--weaviate_batch_size=20']
RUN_DIR = h.REPO + '/.local/run'
SHARED = ('kafka', 'flink', 'worker_pool', 'snowflake', 'weaviate')
FLINK = 'localhost:8081'
_ROWS: list[tuple] = []


def _healthy(service: str) -> bool:
  return subprocess.run([h.REPO + '/stack/stack.sh', 'status', service], cwd=h.REPO,
                        capture_output=True).returncode == 0


def _start(service: str) -> None:
  sink_helpers.stack('start', service, timeout_s=300)


def kill9(pid_name: str) -> int:
  """kill -9 of a stack service's process group (stack/lib.sh starts each with setsid)."""
  with open(f'{RUN_DIR}/{pid_name}.pid', encoding='utf-8') as f:
    pid = int(f.read().strip())
  os.killpg(pid, signal.SIGKILL)
  for _ in range(100):
    try:
      os.kill(pid, 0)
    except ProcessLookupError:
      break
    time.sleep(0.1)
  return pid


@pytest.fixture(scope='module', autouse=True)
def fault_table():
  """Prints the table at the end, and leaves every shared server running."""
  yield _ROWS
  try:
    header = (f'{"fault":<48} {"runner":<14} {"killed after":<22} {"raw":>5} {"events":>6} '
              f'{"runs":>4} {"dead(sink)":>10} {"dup":>4} {"lost":>5}')
    lines = ['Fault injection: kill -9 mid-run, then restart/rerun (counted by event id)', header,
             '-' * len(header)]
    for fault, runner, when, runs, d in _ROWS:
      lines.append(f'{fault:<48} {runner:<14} {when:<22} {d.raw:>5} {d.events:>6} {runs:>4} '
                   f'{d.dead_events:>10} {d.dup_snowflake + d.dup_weaviate:>4} {d.lost:>5}')
    text = '\n'.join(lines)
    print('\n' + text)
    with open(h.REPO + '/.local/logs/fault-injection.txt', 'w', encoding='utf-8') as f:
      f.write(text + '\n')
  finally:
    for service in SHARED:
      if not _healthy(service):
        _start(service)


@contextlib.contextmanager
def restarted(service: str):
  """Whatever happens inside, `service` is running again afterwards."""
  try:
    yield
  finally:
    if not _healthy(service):
      _start(service)


@pytest.fixture()
def scenario(tmp_path, monkeypatch):
  """Fresh topics, Snowflake schema and Weaviate collections, 2,000 demo events published."""
  h.kafka_or_fail()
  secrets = {}
  for name, value in SECRETS.items():
    path = tmp_path / f'{name}.key'
    path.write_text(value + '\n')
    secrets[name] = f'file:{path}'
  password = tmp_path / 'snowflake-password'
  password.write_text('local\n')
  topics = h.make_topics(tmp_path)
  try:
    with sink_helpers.snowflake_schema() as snow, sink_helpers.weaviate_collections() as weav:
      h.publish_demo(topics, seed=zlib.crc32(tmp_path.name.encode()) % 10_000, events=EVENTS,
                     malformed_share=0.05)
      expected = h.raw_coordinates(topics)
      assert len(expected) == EVENTS
      group = f'g-{uuid.uuid4().hex[:6]}'
      args = [*topics.pipeline_args(group), '--no_embed',
              f'--dlq_key_ref={secrets["dlq"]}', f'--pseudonym_key_ref={secrets["pseudonym"]}',
              *h.sink_args(snow, weav), f'--snowflake_password_ref=file:{password}',
              *SMALL_BATCHES]
      yield Scenario(topics, snow, weav, expected, args, group)
  finally:
    with contextlib.suppress(Exception):
      h.delete_topics(topics)


class Scenario:
  def __init__(self, topics, snow, weav, expected, args, group):
    self.topics, self.snow, self.weav = topics, snow, weav
    self.expected, self.args, self.group = expected, args, group
    self.runs = 0
    self._consumer = None

  def outputs_written(self) -> int:
    """Messages in the output topics so far (0 while the broker is away)."""
    names = [self.topics.topic('out.social.posts'), self.topics.topic('out.market.orders')]
    try:
      if self._consumer is None:
        self._consumer = KafkaConsumer(bootstrap_servers=h.BOOTSTRAP, request_timeout_ms=3000)
      parts = [TopicPartition(t, p) for t in names
               for p in self._consumer.partitions_for_topic(t) or ()]
      return sum(self._consumer.end_offsets(parts).values())
    except KafkaError:   # the broker may be the one killed
      self.close()
      return 0

  def snowflake_rows(self) -> int:
    try:
      return sum(sink_helpers.count(self.snow, t) for t in ('SOCIAL_POSTS', 'MARKET_ORDERS'))
    except Exception:  # pylint: disable=broad-except  # the server may be the one killed
      return 0

  def weaviate_objects(self) -> int:
    try:
      return sum(sink_helpers.weaviate_count(self.weav, c)
                 for c in (self.weav.posts_collection, self.weav.orders_collection))
    except Exception:  # pylint: disable=broad-except  # the server may be the one killed
      return 0

  def close(self) -> None:
    if self._consumer is not None:
      with contextlib.suppress(Exception):
        self._consumer.close()
      self._consumer = None

  def wait_until(self, what: str, done, proc=None, timeout_s: float = 300) -> str:
    """Polls `done()` (a count) until it is >= 1; returns where the run was, for the table."""
    deadline = time.monotonic() + timeout_s
    while True:
      n = done()
      if n >= 1:
        return f'{n} {what}'
      if proc is not None and proc.poll() is not None:
        raise AssertionError(f'the pipeline ended ({proc.returncode}) before any {what}: '
                             'the fault would not be mid-run')
      if time.monotonic() > deadline:
        raise AssertionError(f'no {what} within {timeout_s:.0f}s')
      time.sleep(0.2)

  def start_direct(self) -> subprocess.Popen:
    self.runs += 1
    return h.start_pipeline(self.args)

  def run_direct(self, timeout_s: float = 420) -> int:
    proc = self.start_direct()
    try:
      return proc.wait(timeout_s)
    finally:
      h.stop_pipeline(proc)

  def finish(self, fault: str, runner: str, when: str, committed_group: bool = True) -> h.Delivery:
    """Reruns until the group has committed everything, then counts and records the row."""
    if committed_group:
      for _ in range(2):
        if h.committed_backlog(self.topics, self.group) == 0:
          break
        assert self.run_direct() == 0, 'the rerun failed (see .local/logs/test-pipeline-*.log)'
      assert h.committed_backlog(self.topics, self.group) == 0
    self.close()
    result = h.delivery(self.topics, self.expected, self.snow, self.weav)
    _ROWS.append((fault, runner, when, self.runs, result))
    assert result.ok(), result
    return result


def test_c_pipeline_process_killed_mid_run_commits_nothing_and_the_rerun_delivers(scenario):
  proc = scenario.start_direct()
  try:
    when = scenario.wait_until('output messages',
                               lambda: scenario.outputs_written() or scenario.snowflake_rows(), proc)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
  finally:
    h.stop_pipeline(proc)
  assert h.committed_backlog(scenario.topics, scenario.group) == EVENTS, \
      'a killed run committed offsets'
  scenario.finish('(c) kill -9 pipeline process mid-run', 'DirectRunner', when)


def test_b_kafka_broker_killed_mid_run(scenario):
  proc = scenario.start_direct()
  try:
    with restarted('kafka'):
      when = scenario.wait_until('output messages', scenario.outputs_written, proc)
      kill9('kafka')
      time.sleep(3)
      _start('kafka')
    # The run either rides out the outage (the producers retry) or fails; one that still hangs
    # after 5 minutes is killed like (c). Either way finish() reruns what was not committed.
    with contextlib.suppress(subprocess.TimeoutExpired):
      proc.wait(300)
  finally:
    h.stop_pipeline(proc)
  scenario.finish('(b) kill -9 Kafka broker mid-run', 'DirectRunner', when)


def _sink_server_killed_mid_run(scenario, service: str, written: str, count, fault: str):
  """kill -9 a sink's server once the run has written to it: the run rides out the outage (the
  sink retries) and ends well, and every event is delivered once."""
  proc = scenario.start_direct()
  try:
    with restarted(service):
      when = scenario.wait_until(written, count, proc)
      kill9(service)
      time.sleep(5)
      _start(service)
    assert proc.wait(420) == 0, 'the run failed (see .local/logs/test-pipeline-*.log)'
  finally:
    h.stop_pipeline(proc)
  scenario.finish(fault, 'DirectRunner', when)


def test_d_weaviate_killed_mid_run(scenario):
  _sink_server_killed_mid_run(scenario, 'weaviate', 'Weaviate objects', scenario.weaviate_objects,
                              '(d) kill -9 Weaviate mid-run')


def test_e_snowflake_server_killed_mid_run(scenario):
  _sink_server_killed_mid_run(scenario, 'snowflake', 'Snowflake rows', scenario.snowflake_rows,
                              '(e) kill -9 Snowflake (fakesnow) server mid-run')


def test_a_flink_taskmanager_killed_on_cluster_submission(scenario):
  try:
    list_jobs(FLINK)
  except OSError as e:
    raise AssertionError('Flink REST is not answering on 8081: `./run_local.sh start`') from e
  job_name = f'millionx-fault-{uuid.uuid4().hex[:6]}'
  proc = h.start_pipeline(['--runner=FlinkRunner', f'--flink_master={FLINK}', '--detached',
                           f'--job_name={job_name}', *scenario.args])
  scenario.runs += 1
  job_id = None
  try:
    assert proc.wait(300) == 0, 'submission failed (see .local/logs/test-pipeline-*.log)'
    job_id = {j['name']: j['jid'] for j in list_jobs(FLINK)}[job_name]
    with restarted('flink'):
      when = scenario.wait_until('output messages', scenario.outputs_written, timeout_s=300)
      kill9('flink-taskmanager')
      time.sleep(3)
      _start('flink')
    # Flink restarts the job from its last checkpoint once the TaskManager is back; wait until
    # every raw record reached an output or the DLQ, and the sinks hold every event.
    deadline = time.monotonic() + 420
    result = h.delivery(scenario.topics, scenario.expected, scenario.snow, scenario.weav)
    while not result.ok() and time.monotonic() < deadline:
      time.sleep(10)
      result = h.delivery(scenario.topics, scenario.expected, scenario.snow, scenario.weav)
  finally:
    if job_id:
      with contextlib.suppress(Exception):
        cancel_job(FLINK, job_id)
    h.stop_pipeline(proc)
  scenario.finish('(a) kill -9 Flink TaskManager (cluster job)', 'Flink cluster', when,
                  committed_group=False)
