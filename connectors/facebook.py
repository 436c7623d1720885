"""Facebook Graph API: a page's posts with their comments, cursor-paged, with explicit field lists.

Throttling follows Meta's usage headers: `x-app-usage` (percent of the app's hourly quota) and
`x-business-use-case-usage` (per business object, with `estimated_time_to_regain_access` in
minutes). Above the high-water mark the client slows down before Graph starts refusing calls.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from typing import Iterator, Optional

import requests

from connectors.api_auth import CachedSecret, RotatedTokenAuth
from connectors.http import (ApiClient, ApiError, AuthExpired, HttpConfig, PermanentError,
                             RateLimited, RetryableError)
from connectors.secrets import SecretRef

_LOG = logging.getLogger(__name__)

DEFAULT_BASE_URL = 'https://graph.facebook.com'
POST_FIELDS = ('id', 'created_time', 'updated_time', 'message', 'permalink_url', 'status_type',
               'from', 'shares')
COMMENT_FIELDS = ('id', 'created_time', 'from', 'message', 'like_count')
# Graph error codes: https://developers.facebook.com/docs/graph-api/guides/error-handling
_RATE_CODES = frozenset({4, 17, 32, 613, 80001, 80002, 80003, 80004, 80005, 80006, 80008, 80014})
_AUTH_CODES = frozenset({102, 190, 463, 467})
_RETRY_CODES = frozenset({1, 2})


@dataclasses.dataclass(frozen=True)
class FacebookConfig:
  page_id: str
  access_token: SecretRef           # a page access token
  api_version: str = 'v21.0'
  base_url: str = DEFAULT_BASE_URL
  page_size: int = 50
  comments_per_post: int = 100       # comment pages followed per post, at most this many comments
  usage_high_water_pct: float = 85.0
  max_throttle_sleep_s: float = 300.0

  def __post_init__(self):
    if not self.page_id:
      raise ValueError('Facebook page_id is empty')
    if not self.api_version.startswith('v'):
      raise ValueError(f'api_version looks like v21.0, got {self.api_version!r}')
    if not 1 <= self.page_size <= 100:
      raise ValueError('Facebook page_size must be within 1..100')


def usage_delay_s(headers, high_water_pct: float) -> float:
  """Seconds to pause, from the usage headers: 0 below the high-water mark."""
  worst, regain_min = 0.0, 0.0
  app = headers.get('x-app-usage')
  if app:
    try:
      usage = json.loads(app)
      worst = max(worst, *(float(usage.get(k, 0)) for k in ('call_count', 'total_time',
                                                            'total_cputime')))
    except (ValueError, TypeError, AttributeError):
      pass
  buc = headers.get('x-business-use-case-usage')
  if buc:
    try:
      for entries in json.loads(buc).values():
        for entry in entries:
          worst = max(worst, *(float(entry.get(k, 0)) for k in ('call_count', 'total_time',
                                                                'total_cputime')))
          regain_min = max(regain_min, float(entry.get('estimated_time_to_regain_access', 0)))
    except (ValueError, TypeError, AttributeError):
      pass
  if regain_min > 0:
    return regain_min * 60
  if worst >= 100:
    return 60.0
  if worst >= high_water_pct:
    # From 5 s at the mark up to 30 s just under 100 %: slow down more the closer the quota.
    return 5.0 + 25.0 * (worst - high_water_pct) / max(1.0, 100.0 - high_water_pct)
  return 0.0


class FacebookClient(RotatedTokenAuth, ApiClient):
  """Page posts created in a time window, newest first, each with all its comments merged in.

  The page token is sent as a header, so it never sits in a URL (logs, proxies, paging links).
  Page tokens cannot be refreshed by the API alone; a rotated secret may hold a new one.
  """

  source = 'facebook'
  token_header = 'Authorization'
  token_prefix = 'Bearer '

  def __init__(self, config: FacebookConfig, http: Optional[HttpConfig] = None, **kwargs):
    super().__init__(http or HttpConfig(config.base_url), **kwargs)
    self.fb = config
    self._token = CachedSecret(config.access_token)

  def observe(self, response: requests.Response) -> None:
    delay = usage_delay_s(response.headers, self.fb.usage_high_water_pct)
    if delay > 0:
      delay = min(delay, self.fb.max_throttle_sleep_s)
      _LOG.warning('facebook: usage headers near quota; pausing %.1fs', delay)
      self._sleep(delay)

  def classify(self, response: requests.Response) -> Optional[ApiError]:
    if response.status_code < 400:
      return None
    try:
      error = response.json().get('error') or {}
    except (ValueError, AttributeError):
      error = {}
    if not isinstance(error, dict) or 'code' not in error:
      return super().classify(response)
    code, sub = error.get('code'), error.get('error_subcode')
    label = f'facebook Graph error {code}/{sub} ({error.get("type", "")}) HTTP {response.status_code}'
    if code in _RATE_CODES:
      delay = usage_delay_s(response.headers, self.fb.usage_high_water_pct) or None
      return RateLimited(label, status=response.status_code, retry_after_s=delay)
    if code in _AUTH_CODES:
      return AuthExpired(label, status=response.status_code)
    if code in _RETRY_CODES or error.get('is_transient') or response.status_code >= 500:
      return RetryableError(label, status=response.status_code)
    return PermanentError(label, status=response.status_code)

  def _fields(self) -> str:
    comments = f'comments.limit({min(self.fb.comments_per_post, 100)}).summary(true)' \
               f'{{{",".join(COMMENT_FIELDS)}}}'
    return ','.join(POST_FIELDS + (comments,))

  def iter_post_pages(self, since: datetime.datetime,
                      until: datetime.datetime) -> Iterator[list[dict]]:
    """Lists of page posts created in [since, until), one list per Graph page."""
    path: Optional[str] = f'/{self.fb.api_version}/{self.fb.page_id}/posts'
    params: dict = {'fields': self._fields(), 'limit': self.fb.page_size,
                    'since': int(since.timestamp()), 'until': int(until.timestamp())}
    while path:
      response, body = self.fetch_json('GET', path, params=params)
      posts = body.get('data') if isinstance(body, dict) else None
      if not isinstance(posts, list):
        raise self.malformed(f'no "data" list in the response of {self.where(path)}', response)
      for post in posts:
        if isinstance(post, dict):
          self._complete_comments(post)
      yield posts
      path = (body.get('paging') or {}).get('next')
      params = {}  # the next URL carries fields, limit and the cursor

  def _complete_comments(self, post: dict) -> None:
    """Follows the comments edge's own `paging.next` until all (or comments_per_post) are in."""
    edge = post.get('comments')
    if not isinstance(edge, dict) or not isinstance(edge.get('data'), list):
      return
    comments = edge['data']
    next_url = (edge.get('paging') or {}).get('next')
    while next_url and len(comments) < self.fb.comments_per_post:
      response, body = self.fetch_json('GET', next_url)
      page = body.get('data') if isinstance(body, dict) else None
      if not isinstance(page, list):
        raise self.malformed('no "data" list in a comments page', response)
      comments.extend(page)
      next_url = (body.get('paging') or {}).get('next')
    del comments[self.fb.comments_per_post:]
    edge.pop('paging', None)  # cursors are useless downstream, and paging URLs can hold tokens
