"""Progress while a run works through a backlog: records done, rate, time left, every few seconds.

  DirectRunner / Prism / Flink [local]: the graph's CountRead step runs in this process (in
      process, or LOOPBACK workers) and adds to `RECORDS_READ`; a `ProgressReporter` thread logs it.
  Flink cluster: the Python steps run in the worker pool, so the figure comes from the job's own
      metrics (our `num_records_read` counter summed over subtasks, from the TaskManagers'
      Prometheus reporters):
      `python -m pipeline.progress --flink_master localhost:8081 --job JOB_ID --backlog N`, or
      `run()` does it for an attached cluster job.

A line looks like
    progress: 4,200 of 20,000 records (21.0%), 35.2 records/s, about 7 min 29 s left
and before the first record arrives (JVM start, the Kafka read) it says what it waits for.
"""
from __future__ import annotations

import argparse
import json
import logging
import threading
import time
import urllib.request
from typing import Callable, Optional, Sequence

_LOG = logging.getLogger('pipeline.progress')

DEFAULT_INTERVAL_S = 5.0
# Beam's num_records_read as Flink's Prometheus reporter exports it, and the local stack's
# TaskManager reporter (stack/services/flink.sh).
READ_METRIC = 'flink_taskmanager_job_task_operator_millionx_num_records_read'
LOCAL_TASKMANAGER_REPORTER = 'http://127.0.0.1:9250/metrics'


class Tally:
  """A counter shared by the graph's threads in this process."""
  def __init__(self):
    self._lock = threading.Lock()
    self._value = 0

  def add(self, n: int = 1) -> None:
    with self._lock:
      self._value += n

  def reset(self) -> None:
    with self._lock:
      self._value = 0

  @property
  def value(self) -> int:
    return self._value


# Raw records that reached CountRead in this process (pipeline/graph.py adds to it).
RECORDS_READ = Tally()


def _duration(seconds: float) -> str:
  seconds = int(round(seconds))
  if seconds < 60:
    return f'{seconds} s'
  minutes, seconds = divmod(seconds, 60)
  if minutes < 60:
    return f'{minutes} min {seconds} s'
  hours, minutes = divmod(minutes, 60)
  return f'{hours} h {minutes} min'


def progress_line(done: int, backlog: Optional[int], rate: Optional[float], waited_s: float) -> str:
  """One line of progress: what is done of the backlog, the rate, the time left."""
  if done == 0:
    return (f'progress: waiting for the first records ({_duration(waited_s)}: starting the '
            'runner and the Kafka read)')
  text = f'progress: {done:,}'
  if backlog:
    text += f' of {backlog:,} records ({100.0 * min(done, backlog) / backlog:.1f}%)'
  else:
    text += ' records'
  if rate:
    text += f', {rate:,.1f} records/s'
    if backlog and done < backlog:
      text += f', about {_duration((backlog - done) / rate)} left'
  return text


class ProgressReporter:
  """Logs progress every `interval_s` from `read_done()` until stopped (a daemon thread)."""

  def __init__(self, read_done: Callable[[], Optional[int]], backlog: Optional[int],
               interval_s: float = DEFAULT_INTERVAL_S, log: logging.Logger = _LOG,
               clock: Callable[[], float] = time.monotonic):
    self._read_done = read_done
    self._backlog = backlog
    self._interval_s = interval_s
    self._log = log
    self._clock = clock
    self._stop = threading.Event()
    self._thread: Optional[threading.Thread] = None
    self._started = clock()
    self._first: Optional[tuple[float, int]] = None   # (time, done) when records first showed

  def line(self) -> Optional[str]:
    """The current progress line (None when the count cannot be read)."""
    try:
      done = self._read_done()
    except Exception as e:  # pylint: disable=broad-except  # progress must never stop a run
      self._log.debug('progress unavailable: %s', e)
      return None
    if done is None:
      return None
    now = self._clock()
    rate = None
    if done and self._first is None:
      self._first = (now, done)
    elif self._first is not None and now > self._first[0]:
      # From the first record on: the start-up before it is not throughput.
      rate = (done - self._first[1]) / (now - self._first[0]) or None
    return progress_line(done, self._backlog, rate, now - self._started)

  def _run(self) -> None:
    while not self._stop.wait(self._interval_s):
      text = self.line()
      if text:
        self._log.info('%s', text)

  def start(self) -> 'ProgressReporter':
    self._started = self._clock()
    self._thread = threading.Thread(target=self._run, name='progress', daemon=True)
    self._thread.start()
    return self

  def stop(self) -> None:
    """Stops the thread and logs a last line (a short run may end between two lines)."""
    self._stop.set()
    if self._thread is not None:
      self._thread.join(timeout=2)
      self._thread = None
      text = self.line()
      if text and not text.startswith('progress: waiting'):
        self._log.info('%s', text)

  def __enter__(self):
    return self.start()

  def __exit__(self, *exc) -> None:
    self.stop()


def _get_json(url: str, timeout_s: float = 5.0):
  with urllib.request.urlopen(url, timeout=timeout_s) as response:
    return json.load(response)


def flink_records_read(reporter_urls: Sequence[str], job_id: str) -> Optional[int]:
  """The job's `num_records_read` counter, summed over its subtasks, from the TaskManagers'
  Prometheus reporters (None until the counter shows). Flink's REST API cannot be asked for it:
  Beam fuses the graph into operators named "[34]{ReadRawRecords/CountRead, ProcessRecords, ...}",
  and REST's `get=` parameter splits metric ids at commas."""
  from prometheus_client.parser import text_string_to_metric_families  # pylint: disable=import-outside-toplevel
  total, found = 0.0, False
  for url in reporter_urls:
    with urllib.request.urlopen(url, timeout=5) as response:
      text = response.read().decode('utf-8')
    for family in text_string_to_metric_families(text):
      if family.name != READ_METRIC:
        continue
      for sample in family.samples:
        if sample.labels.get('job_id') == job_id:
          total += sample.value
          found = True
  return int(total) if found else None


def reporter_for_run(interval_s: float, records_to_read: Optional[int],
                     flink_reporters: Optional[Sequence[str]] = None,
                     find_job: Optional[Callable[[], Optional[str]]] = None):
  """The progress reporter for one `python -m pipeline` run (a context manager; a no-op when
  interval_s is 0). In-process runs read RECORDS_READ; an attached Flink cluster job reads its
  metrics from the TaskManagers' reporters, once `find_job()` names the job."""
  import contextlib
  if interval_s <= 0:
    return contextlib.nullcontext()
  RECORDS_READ.reset()
  if flink_reporters is None:
    return ProgressReporter(lambda: RECORDS_READ.value, records_to_read, interval_s)
  job: dict[str, Optional[str]] = {'id': None}

  def read_done() -> Optional[int]:
    if job['id'] is None and find_job is not None:
      job['id'] = find_job()
    return flink_records_read(flink_reporters, job['id']) if job['id'] else 0
  return ProgressReporter(read_done, records_to_read, interval_s)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m pipeline.progress', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--flink_master', default='localhost:8081', help='Flink REST address (default localhost:8081).')
  parser.add_argument('--job', required=True, help='Flink job id (printed by --detached).')
  parser.add_argument('--reporter', action='append', default=None, metavar='URL',
                      help='A TaskManager\'s Prometheus reporter (repeat for several; default '
                      f'{LOCAL_TASKMANAGER_REPORTER}).')
  parser.add_argument('--backlog', type=int, default=None,
                      help='Records the job has to work through (default: unknown, rate only).')
  parser.add_argument('--interval', type=float, default=DEFAULT_INTERVAL_S,
                      help=f'Seconds between lines (default {DEFAULT_INTERVAL_S:g}).')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(message)s')
  rest = args.flink_master if args.flink_master.startswith('http') else f'http://{args.flink_master}'
  reporters = args.reporter or [LOCAL_TASKMANAGER_REPORTER]
  reporter = ProgressReporter(lambda: flink_records_read(reporters, args.job), args.backlog, args.interval)
  try:
    with reporter:
      while True:
        state = _get_json(f'{rest}/jobs/{args.job}').get('state')
        if state not in ('RUNNING', 'CREATED', 'INITIALIZING', 'RESTARTING'):
          _LOG.info('job %s is %s', args.job, state)
          return 0
        time.sleep(args.interval)
  except KeyboardInterrupt:
    return 130


if __name__ == '__main__':
  raise SystemExit(main())
