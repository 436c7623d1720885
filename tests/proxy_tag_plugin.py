"""A proxy.py plugin for the tests: tags every forwarded request with `X-Test-Proxy: <tag>`
(the tag comes from MILLIONX_TEST_PROXY_TAG), so the API behind the proxies sees which proxy
carried each request. Loaded by tests/proxy_servers.py with `--plugins`."""
import os

from proxy.http.proxy import HttpProxyBasePlugin


class TagPlugin(HttpProxyBasePlugin):

  def handle_client_request(self, request):
    request.add_header(b'X-Test-Proxy', os.environ.get('MILLIONX_TEST_PROXY_TAG', '?').encode())
    return request
