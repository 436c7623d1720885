"""A local HTTP server that plays a third-party API for the client and agent tests.

Routes map (method, path) to scripted replies: a list is served in order (the last one repeats),
a callable computes the reply from the request. Every request is recorded for assertions.
stdlib only (http.server in a thread), bound to 127.0.0.1 on a free port.
"""
from __future__ import annotations

import copy
import http.server
import json
import pathlib
import threading
import time
import urllib.parse
from typing import Any, Callable, NamedTuple, Optional, Union

from connectors.daraz import sign

DATA = pathlib.Path(__file__).parent / 'unit' / 'data'


def fixture(name: str) -> Any:
  """A documented API payload from tests/unit/data (sources and licences in its SOURCES.md)."""
  with open(DATA / name, encoding='utf-8') as f:
    return json.load(f)


class Reply(NamedTuple):
  status: int = 200
  body: Union[bytes, Any] = b''      # bytes are sent as is; anything else as JSON
  headers: tuple[tuple[str, str], ...] = ()
  delay_s: float = 0.0               # sleep first: read timeouts


class Request(NamedTuple):
  method: str
  path: str
  query: dict[str, str]               # last value per name
  headers: dict[str, str]
  body: bytes

  def json(self) -> Any:
    return json.loads(self.body)

  def form(self) -> dict[str, str]:
    return {k: v[-1] for k, v in urllib.parse.parse_qs(self.body.decode()).items()}


Handler = Union[list[Reply], Callable[[Request], Reply]]


class FakeApi:
  """`with FakeApi() as api: api.route('GET', '/x', [Reply(429), Reply(body={...})])`."""

  def __init__(self):
    self._routes: dict[tuple[str, str], Handler] = {}
    self._lock = threading.Lock()
    self.requests: list[Request] = []
    self._server: Optional[http.server.ThreadingHTTPServer] = None

  @property
  def url(self) -> str:
    host, port = self._server.server_address[:2]
    return f'http://{host}:{port}'

  def route(self, method: str, path: str, handler: Handler) -> None:
    self._routes[(method, path)] = list(handler) if isinstance(handler, list) else handler

  def calls(self, path: str) -> list[Request]:
    return [r for r in self.requests if r.path == path]

  def _reply(self, request: Request) -> Reply:
    with self._lock:
      self.requests.append(request)
      handler = self._routes.get((request.method, request.path))
      if handler is None:
        return Reply(404, {'error': f'no fake route for {request.method} {request.path}'})
      if isinstance(handler, list):
        return handler.pop(0) if len(handler) > 1 else handler[0]
    return handler(request)

  def __enter__(self) -> 'FakeApi':
    fake = self

    class _Handler(http.server.BaseHTTPRequestHandler):
      protocol_version = 'HTTP/1.1'

      def _serve(self):
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get('Content-Length') or 0)
        request = Request(self.command, parsed.path,
                          {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()},
                          {k.lower(): v for k, v in self.headers.items()},
                          self.rfile.read(length) if length else b'')
        reply = fake._reply(request)  # pylint: disable=protected-access
        if reply.delay_s:
          time.sleep(reply.delay_s)
        body = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        try:
          self.send_response(reply.status)
          for name, value in reply.headers:
            self.send_header(name, value)
          if not any(n.lower() == 'content-type' for n, _ in reply.headers):
            self.send_header('Content-Type', 'application/json')
          self.send_header('Content-Length', str(len(body)))
          self.end_headers()
          self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
          pass  # the client gave up (timeout tests)

      do_GET = do_POST = _serve

      def log_message(self, *args):  # keep test output clean
        pass

    self._server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Handler)
    self._server.daemon_threads = True
    threading.Thread(target=self._server.serve_forever, kwargs={'poll_interval': 0.05},
                     daemon=True).start()
    return self

  def __exit__(self, *exc) -> None:
    self._server.shutdown()
    self._server.server_close()


class FakeSleep:
  """Records the delays a client asked for instead of sleeping."""

  def __init__(self):
    self.delays: list[float] = []

  def __call__(self, seconds: float) -> None:
    self.delays.append(seconds)


class DarazFake:
  """Daraz Open Platform: GetOrders (N orders from the documented example, offset paging),
  GetOrderItems, token refresh. Checks every request's signature with SECRET."""
  SECRET = 'helloworld'

  def __init__(self, api, n_orders, expired_once=False):
    self.api, self.n = api, n_orders
    self.valid_token = 'old-token'
    self.expire_next = expired_once
    self.bad_signatures = 0
    template = fixture('daraz_get_orders.json')['data']['orders'][0]
    self.orders = []
    for i in range(n_orders):
      order = copy.deepcopy(template)
      order['order_id'] = order['order_number'] = str(491253082180001 + i)
      self.orders.append(order)
    self.items = fixture('daraz_get_order_items.json')['data']
    api.route('GET', '/orders/get', self.get_orders)
    api.route('GET', '/order/items/get', self.get_items)
    api.route('GET', '/auth/token/refresh', self.refresh)

  def _check(self, req, api_path, token=True):
    q = dict(req.query)
    if sign(api_path, q, self.SECRET) != q.get('sign'):
      self.bad_signatures += 1
      return Reply(200, {'code': 'IncompleteSignature', 'type': 'ISV', 'message': 'bad sign'})
    if token and q.get('access_token') != self.valid_token:
      return Reply(200, {'code': 'IllegalAccessToken', 'type': 'ISV', 'message': 'expired'})
    return None

  def get_orders(self, req):
    if self.expire_next:
      self.expire_next = False
      self.valid_token = 'new-token'
    error = self._check(req, '/orders/get')
    if error:
      return error
    offset, limit = int(req.query['offset']), int(req.query['limit'])
    page = self.orders[offset:offset + limit]
    return Reply(200, {'code': '0', 'request_id': 'r', 'data': {
        'count': str(len(page)), 'countTotal': str(self.n), 'orders': page}})

  def get_items(self, req):
    error = self._check(req, '/order/items/get')
    if error:
      return error
    items = copy.deepcopy(self.items)
    for item in items:
      item['order_id'] = req.query['order_id']
    return Reply(200, {'code': '0', 'request_id': 'r', 'data': items})

  def refresh(self, req):
    error = self._check(req, '/auth/token/refresh', token=False)
    if error:
      return error
    assert req.query['refresh_token'] == 'refresh-1'
    return Reply(200, {'code': '0', 'access_token': 'new-token', 'refresh_token': 'refresh-2',
                       'expires_in': 604800})
