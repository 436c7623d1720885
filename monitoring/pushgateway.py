"""A small Pushgateway: batch jobs push their final metrics here and Prometheus scrapes them.

The Prometheus Pushgateway is not served by the Go module proxy this project can reach, so the
stack starts this equivalent (`stack/stack.sh start pushgateway`, port 9091). It speaks the part
of the Pushgateway's HTTP API that `prometheus_client.push_to_gateway` / `pushadd_to_gateway` /
`delete_from_gateway` use:

  PUT    /metrics/job/<job>{/<label>/<value>}   replace the group's metrics
  POST   /metrics/job/<job>{/<label>/<value>}   replace the pushed metric families, keep the others
  DELETE /metrics/job/<job>{/<label>/<value>}   forget the group
  GET    /metrics                               every group (grouping labels added) + push_time_seconds
  GET    /-/healthy, /-/ready

A value may be given as `<label>@base64/<urlsafe-base64>` (what the client sends for values with a
slash). Bodies are the text exposition format, parsed and re-rendered (so a malformed push is a
400, never a broken scrape); sizes and group counts are capped. Groups persist in a JSON file so a
restart keeps the last run's figures. Scrape it with `honor_labels: true`.
"""
from __future__ import annotations

import argparse
import base64
import binascii
import json
import logging
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import unquote

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

_LOG = logging.getLogger('monitoring.pushgateway')

MAX_BODY_BYTES = 1 << 20          # one push
MAX_GROUPS = 200                  # distinct grouping keys held at once
MAX_SAMPLES_PER_GROUP = 20_000
_LABEL_NAME = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]{0,127}')
_MAX_LABEL_VALUE = 256

GroupKey = tuple[tuple[str, str], ...]


class PushError(ValueError):
  """A push that is refused (HTTP 400)."""


def parse_group_path(path: str) -> GroupKey:
  """'/metrics/job/pipeline/runner/direct' → (('job', 'pipeline'), ('runner', 'direct'))."""
  if not path.startswith('/metrics/job'):
    raise PushError('path must start with /metrics/job')
  parts = path[len('/metrics/'):].split('/')
  if len(parts) % 2:
    raise PushError('grouping labels come in name/value pairs')
  labels = {}
  for i in range(0, len(parts), 2):
    name, value = unquote(parts[i]), parts[i + 1]
    if name.endswith('@base64'):
      name = name[:-len('@base64')]
      try:
        value = base64.urlsafe_b64decode(value + '=' * (-len(value) % 4)).decode('utf-8')
      except (binascii.Error, UnicodeDecodeError) as e:
        raise PushError(f'bad base64 value for label {name}') from e
    else:
      value = unquote(value)
    if not _LABEL_NAME.fullmatch(name) or name in labels:
      raise PushError(f'bad or repeated label name {name[:64]!r}')
    if len(value) > _MAX_LABEL_VALUE:
      raise PushError(f'label {name} value longer than {_MAX_LABEL_VALUE}')
    labels[name] = value
  if not labels.get('job'):
    raise PushError('job must not be empty')
  return tuple(sorted(labels.items()))


def _escape(value: str) -> str:
  return value.replace('\\', '\\\\').replace('\n', '\\n').replace('"', '\\"')


def parse_families(body: str, group: GroupKey) -> dict[str, str]:
  """Text exposition → {family name: its re-rendered text, grouping labels applied}."""
  families = {}
  samples = 0
  grouping = dict(group)
  try:
    for family in text_string_to_metric_families(body):
      lines = []
      # The parser names a counter family without its _total; the exposition names it with.
      name = f'{family.name}_total' if family.type == 'counter' else family.name
      if family.documentation:
        lines.append(f'# HELP {name} {family.documentation}'.replace('\n', ' '))
      # The classic text format knows five types; the parser's 'unknown' (untyped) and
      # OpenMetrics-only types are untyped there (Prometheus 3 refuses a scrape with others).
      kind = family.type if family.type in ('counter', 'gauge', 'histogram', 'summary') else 'untyped'
      lines.append(f'# TYPE {name} {kind}')
      for sample in family.samples:
        samples += 1
        if samples > MAX_SAMPLES_PER_GROUP:
          raise PushError(f'more than {MAX_SAMPLES_PER_GROUP} samples in one push')
        labels = dict(sample.labels)
        for label, value in grouping.items():
          if label in labels and labels[label] != value:
            raise PushError(f'sample label {label}={labels[label]!r} contradicts the grouping key')
          labels[label] = value
        rendered = ','.join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        lines.append(f'{sample.name}{{{rendered}}} {floatToGoString(sample.value)}')
      families[name] = '\n'.join(lines)
  except PushError:
    raise
  except (ValueError, IndexError, KeyError) as e:
    raise PushError(f'not the text exposition format: {e}') from e
  # prometheus_client sends X_created beside a counter/histogram X: creation times, not figures.
  bases = {n[:-len('_total')] if n.endswith('_total') else n for n in families}
  return {n: text for n, text in families.items()
          if not (n.endswith('_created') and n[:-len('_created')] in bases)}


class Store:
  """Groups of metric families, thread-safe, optionally persisted to a JSON file."""
  def __init__(self, persistence_file: Optional[str] = None, clock=time.time):
    self._lock = threading.Lock()
    self._groups: dict[GroupKey, dict] = {}
    self._file = persistence_file
    self._clock = clock
    if persistence_file and os.path.exists(persistence_file):
      try:
        with open(persistence_file, encoding='utf-8') as f:
          for entry in json.load(f):
            key = tuple(tuple(pair) for pair in entry['group'])
            self._groups[key] = {'families': entry['families'], 'time': entry['time']}
      except (OSError, ValueError, KeyError, TypeError) as e:
        _LOG.warning('ignoring unreadable persistence file %s: %s', persistence_file, e)

  def push(self, group: GroupKey, body: str, replace_all: bool) -> None:
    families = parse_families(body, group)
    with self._lock:
      if group not in self._groups and len(self._groups) >= MAX_GROUPS:
        raise PushError(f'more than {MAX_GROUPS} groups: delete some first')
      entry = self._groups.get(group)
      merged = {} if replace_all or entry is None else dict(entry['families'])
      merged.update(families)
      self._groups[group] = {'families': merged, 'time': self._clock()}
      self._save()

  def delete(self, group: GroupKey) -> None:
    with self._lock:
      self._groups.pop(group, None)
      self._save()

  def render(self) -> str:
    """One exposition: families of the same name from several groups share one TYPE line."""
    with self._lock:
      by_family: dict[str, list[str]] = {}
      for group, entry in sorted(self._groups.items()):
        for name, text in entry['families'].items():
          lines = text.split('\n')
          header = [l for l in lines if l.startswith('#')]
          body = [l for l in lines if not l.startswith('#')]
          slot = by_family.setdefault(name, header)
          slot.extend(body)
        labels = ','.join(f'{k}="{_escape(v)}"' for k, v in group)
        by_family.setdefault('push_time_seconds', [
            '# HELP push_time_seconds Last Unix time when this group was changed in the Pushgateway.',
            '# TYPE push_time_seconds gauge']).append(f'push_time_seconds{{{labels}}} {entry["time"]:.3f}')
    return ''.join('\n'.join(lines) + '\n' for _, lines in sorted(by_family.items()))

  def _save(self) -> None:
    if not self._file:
      return
    tmp = self._file + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
      json.dump([{'group': list(k), 'families': v['families'], 'time': v['time']}
                 for k, v in self._groups.items()], f)
    os.replace(tmp, self._file)


def make_handler(store: Store):
  class Handler(BaseHTTPRequestHandler):
    server_version = 'millionx-pushgateway'

    def _reply(self, code: int, text: str = '', content_type='text/plain; charset=utf-8'):
      data = text.encode('utf-8')
      self.send_response(code)
      self.send_header('Content-Type', content_type)
      self.send_header('Content-Length', str(len(data)))
      self.end_headers()
      self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's naming)
      if self.path in ('/-/healthy', '/-/ready'):
        self._reply(200, 'OK\n')
      elif self.path == '/metrics':
        self._reply(200, store.render(), 'text/plain; version=0.0.4; charset=utf-8')
      else:
        self._reply(404, 'not found\n')

    def _push(self, replace_all: bool):
      try:
        group = parse_group_path(self.path.split('?', 1)[0])
        length = int(self.headers.get('Content-Length') or 0)
        if length > MAX_BODY_BYTES:
          raise PushError(f'body larger than {MAX_BODY_BYTES} bytes')
        body = self.rfile.read(length).decode('utf-8')
        store.push(group, body, replace_all)
      except (PushError, UnicodeDecodeError, ValueError) as e:
        self._reply(400, f'{e}\n')
        return
      self._reply(200)

    def do_PUT(self):  # noqa: N802
      self._push(replace_all=True)

    def do_POST(self):  # noqa: N802
      self._push(replace_all=False)

    def do_DELETE(self):  # noqa: N802
      try:
        store.delete(parse_group_path(self.path.split('?', 1)[0]))
      except PushError as e:
        self._reply(400, f'{e}\n')
        return
      self._reply(202)

    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
      _LOG.debug('%s %s', self.address_string(), format % args)

  return Handler


def serve(host: str, port: int, persistence_file: Optional[str] = None) -> ThreadingHTTPServer:
  """Starts the server (not yet serving: call serve_forever() on the result)."""
  server = ThreadingHTTPServer((host, port), make_handler(Store(persistence_file)))
  server.daemon_threads = True
  return server


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog='python -m monitoring.pushgateway', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--host', default='127.0.0.1', help='Address to listen on (default 127.0.0.1).')
  parser.add_argument('--port', type=int, default=9091, help='Port to listen on (default 9091).')
  parser.add_argument('--persistence-file', default=None,
                      help='JSON file that keeps the pushed groups across restarts (default: none).')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(asctime)s %(levelname)s %(name)s: %(message)s')
  server = serve(args.host, args.port, args.persistence_file)
  _LOG.info('pushgateway listening on http://%s:%d', args.host, server.server_port)
  try:
    server.serve_forever()
  except KeyboardInterrupt:
    pass
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
