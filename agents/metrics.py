"""The source agents' metrics (prometheus_client), served on /metrics when an agent is given
`--metrics-port`, and announced to the stack's Prometheus through a file_sd target file.

  millionx_agent_fetched_total{source}                objects (or rejected items) an API returned
  millionx_agent_published_total{source}              records sent to the source's raw topic
  millionx_agent_dead_letters_total{source,error_class}   sent to the ingest dead-letter topic
  millionx_agent_http_errors_total{source,error_class}    failed API calls, retried or not
  millionx_agent_rate_limit_waits_total{source}       waits the API asked for (HTTP 429, quota)
  millionx_agent_rate_limit_wait_seconds_total{source}
  millionx_agent_runs_total{source,outcome}           passes, outcome ok | failed
  millionx_agent_last_success_timestamp_seconds{source}   end of the last pass that succeeded;
      "seconds since the last successful fetch" is `time() - <this>` in PromQL.

error_class is one of ERROR_CLASSES (from connectors.http's exception types), never a message.
"""
from __future__ import annotations

import json
import logging
import os
import time
from typing import Optional

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from connectors import http

# No X_created series beside each counter: creation times are not figures anyone reads.
prometheus_client.disable_created_metrics()
REGISTRY = CollectorRegistry()
FETCHED = Counter('millionx_agent_fetched', 'Objects an API returned.', ['source'], registry=REGISTRY)
PUBLISHED = Counter('millionx_agent_published', 'Records published to the raw topic.', ['source'],
                    registry=REGISTRY)
DEAD_LETTERS = Counter('millionx_agent_dead_letters', 'Items sent to the ingest dead-letter topic.',
                       ['source', 'error_class'], registry=REGISTRY)
HTTP_ERRORS = Counter('millionx_agent_http_errors', 'Failed API calls (retried or not), by class.',
                      ['source', 'error_class'], registry=REGISTRY)
RATE_LIMIT_WAITS = Counter('millionx_agent_rate_limit_waits', 'Waits the API asked for.', ['source'],
                           registry=REGISTRY)
RATE_LIMIT_WAIT_SECONDS = Counter('millionx_agent_rate_limit_wait_seconds',
                                  'Seconds spent waiting as the API asked.', ['source'], registry=REGISTRY)
RUNS = Counter('millionx_agent_runs', 'Passes over the source.', ['source', 'outcome'], registry=REGISTRY)
LAST_SUCCESS = Gauge('millionx_agent_last_success_timestamp_seconds',
                     'Unix time at the end of the last successful pass.', ['source'], registry=REGISTRY)

ERROR_CLASSES = ('rate_limit', 'auth', 'timeout', 'malformed', 'too_large', 'proxy', 'retryable',
                 'permanent', 'other')
# Dead letters carry the error class the runner names (a Python class name): kept when known.
_DEAD_LETTER_CLASSES = frozenset({'ShapeError', 'MalformedResponse', 'ResponseTooLarge', 'NoNativeId'})


def error_class(error: BaseException) -> str:
  """The closed-set class of an API error."""
  for kind, name in ((http.RateLimited, 'rate_limit'), (http.AuthExpired, 'auth'),
                     (http.Timeout, 'timeout'), (http.MalformedResponse, 'malformed'),
                     (http.ResponseTooLarge, 'too_large'), (http.ProxyUnavailable, 'proxy'),
                     (http.RetryableError, 'retryable'), (http.PermanentError, 'permanent')):
    if isinstance(error, kind):
      return name
  return 'other'


def dead_letter(source: str, error_class_name: str) -> None:
  DEAD_LETTERS.labels(source, error_class_name if error_class_name in _DEAD_LETTER_CLASSES
                      else 'other').inc()


def pass_failed(source: str, error: BaseException) -> None:
  """A pass that stopped on `error` (after the client's own retries)."""
  RUNS.labels(source, 'failed').inc()
  if isinstance(error, http.ApiError):
    HTTP_ERRORS.labels(source, error_class(error)).inc()


def pass_succeeded(source: str, clock=time.time) -> None:
  RUNS.labels(source, 'ok').inc()
  LAST_SUCCESS.labels(source).set(clock())


class RetryLogHandler(logging.Handler):
  """Counts the API client's retries from its log records.

  connectors.http.ApiClient logs each retry as ('%s: %s; retry %d/%d in %.2fs', source, error,
  attempt, max, sleep_s) and owns no metrics of its own; reading the record's arguments (never
  its text) counts the error by class and a rate-limit wait with its seconds.
  tests/unit/test_agent_metrics.py drives a real ApiClient to keep this in step.
  """
  def emit(self, record: logging.LogRecord) -> None:
    args = record.args if isinstance(record.args, tuple) else ()
    if len(args) != 5 or not isinstance(args[1], BaseException) or not isinstance(args[0], str):
      return
    source, error, sleep_s = args[0], args[1], args[4]
    HTTP_ERRORS.labels(source, error_class(error)).inc()
    if isinstance(error, http.RateLimited):
      RATE_LIMIT_WAITS.labels(source).inc()
      if isinstance(sleep_s, (int, float)):
        RATE_LIMIT_WAIT_SECONDS.labels(source).inc(float(sleep_s))


_HANDLER = RetryLogHandler()


def count_client_retries() -> None:
  """Attaches RetryLogHandler to connectors.http's logger (once)."""
  logger = logging.getLogger(http.__name__)
  if _HANDLER not in logger.handlers:
    logger.addHandler(_HANDLER)


def default_targets_dir() -> str:
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return os.path.join(os.environ.get('STACK_HOME', os.path.join(repo, '.local')), 'run',
                      'prometheus-targets')


class MetricsServer:
  """Serves REGISTRY on 127.0.0.1:port (0: any free port) and, while it runs, announces itself
  in `targets_dir/agent-<source>-<pid>.json` (Prometheus file_sd), if that folder exists."""

  def __init__(self, source: str, port: int, targets_dir: Optional[str] = None):
    self.source = source
    self._server, self._thread = start_http_server(port, addr='127.0.0.1', registry=REGISTRY)
    self.port = self._server.server_port
    self._target_file = None
    targets_dir = targets_dir or default_targets_dir()
    if os.path.isdir(targets_dir):
      self._target_file = os.path.join(targets_dir, f'agent-{source}-{os.getpid()}.json')
      tmp = self._target_file + '.tmp'
      with open(tmp, 'w', encoding='utf-8') as f:
        json.dump([{'targets': [f'127.0.0.1:{self.port}'], 'labels': {'source': source}}], f)
      os.replace(tmp, self._target_file)
    count_client_retries()

  def close(self) -> None:
    if self._target_file:
      try:
        os.remove(self._target_file)
      except FileNotFoundError:
        pass
    self._server.shutdown()
    self._server.server_close()

  def __enter__(self):
    return self

  def __exit__(self, *exc) -> None:
    self.close()
