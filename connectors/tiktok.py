"""TikTok Research API: video query with cursor / search_id paging, in date windows of <= 30 days.

Authentication is the client-credentials grant (client key + secret -> a 2-hour bearer token);
an expired token is replaced by a new grant. Errors come in the body's `error.code`.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import logging
from typing import Iterator, Optional

import requests

from connectors.api_auth import AuthFailed, CachedSecret, CredentialRefresh
from connectors.http import (ApiClient, ApiError, AuthExpired, HttpConfig, PermanentError,
                             RateLimited, RetryableError)
from connectors.secrets import SecretRef

_LOG = logging.getLogger(__name__)

DEFAULT_BASE_URL = 'https://open.tiktokapis.com'
MAX_WINDOW_DAYS = 30    # the API refuses end_date - start_date > 30 days
VIDEO_FIELDS = ('id', 'create_time', 'username', 'region_code', 'video_description',
                'voice_to_text', 'music_id', 'like_count', 'comment_count', 'share_count',
                'view_count', 'favorites_count', 'hashtag_names', 'effect_ids', 'playlist_id',
                'video_duration', 'is_stem_verified')
_AUTH_CODES = frozenset({'access_token_invalid', 'access_token_expired', 'token_expired'})
_RATE_CODES = frozenset({'rate_limit_exceeded', 'daily_quota_limit_exceeded'})
_RETRY_CODES = frozenset({'internal_error', 'server_error', 'service_unavailable'})


@dataclasses.dataclass(frozen=True)
class TikTokConfig:
  client_key: str
  client_secret: SecretRef
  # The Research API query object (JSON); default: videos from Bangladesh.
  query_text: str = json.dumps(
      {'and': [{'operation': 'IN', 'field_name': 'region_code', 'field_values': ['BD']}]})
  base_url: str = DEFAULT_BASE_URL
  page_size: int = 100

  def __post_init__(self):
    if not self.client_key:
      raise ValueError('TikTok client_key is empty (from the Research API app page)')
    if not 1 <= self.page_size <= 100:
      raise ValueError('TikTok page_size (max_count) must be within 1..100')
    try:
      query = json.loads(self.query_text)
    except ValueError as e:
      raise ValueError(f'TikTok query is not JSON: {e}') from e
    if not isinstance(query, dict) or not set(query) <= {'and', 'or', 'not'}:
      raise ValueError('TikTok query must be an object with and/or/not condition lists')

  def query_json(self) -> dict:
    return json.loads(self.query_text)


def date_windows(start: datetime.date, end: datetime.date,
                 max_days: int = MAX_WINDOW_DAYS) -> list[tuple[datetime.date, datetime.date]]:
  """Splits [start, end] (inclusive dates) into windows the API accepts."""
  windows = []
  while start <= end:
    stop = min(end, start + datetime.timedelta(days=max_days - 1))
    windows.append((start, stop))
    start = stop + datetime.timedelta(days=1)
  return windows


class TikTokClient(CredentialRefresh, ApiClient):
  """Videos matching the configured query, window by window, page by page. A refused grant
  raises AuthFailed."""

  source = 'tiktok'

  def __init__(self, config: TikTokConfig, http: Optional[HttpConfig] = None, **kwargs):
    super().__init__(http or HttpConfig(config.base_url), **kwargs)
    self.tiktok = config
    self._client_secret = CachedSecret(config.client_secret)
    self._token: Optional[str] = None
    self.token_grants = 0

  def authorize(self, request: dict) -> None:
    if request.pop('anonymous', False):
      return
    if self._token is None:
      self._grant()
    request['headers']['Authorization'] = f'Bearer {self._token}'

  def _grant(self) -> None:
    with self.credential_call():
      body = self.request_json('POST', '/v2/oauth/token/', anonymous=True, data={
          'client_key': self.tiktok.client_key,
          'client_secret': self._client_secret.get(),
          'grant_type': 'client_credentials'})
    token = body.get('access_token') if isinstance(body, dict) else None
    if not token:
      reason = body.get('error', 'no error code') if isinstance(body, dict) else 'not an object'
      raise AuthFailed(f'tiktok: client-credentials grant returned no access_token ({reason}); '
                       'check --client-key and the client secret')
    self._token = token
    self.token_grants += 1

  def renew_credentials(self) -> bool:
    self._token = None
    self._grant()
    return True

  def classify(self, response: requests.Response) -> Optional[ApiError]:
    try:
      body = response.json()
    except ValueError:
      return super().classify(response)
    error = body.get('error') if isinstance(body, dict) else None
    code = error.get('code') if isinstance(error, dict) else None
    if code in (None, 'ok'):
      return super().classify(response)
    label = f'tiktok API error {code} HTTP {response.status_code}'
    if code in _AUTH_CODES or response.status_code == 401:
      return AuthExpired(label, status=response.status_code)
    if code in _RATE_CODES or response.status_code == 429:
      return RateLimited(label, status=response.status_code)
    if code in _RETRY_CODES or response.status_code >= 500:
      return RetryableError(label, status=response.status_code)
    return PermanentError(label, status=response.status_code)

  def iter_video_pages(self, start: datetime.date, end: datetime.date) -> Iterator[list[dict]]:
    """Lists of video objects created on [start, end] (UTC dates), <= 30-day windows."""
    for window_start, window_end in date_windows(start, end):
      cursor, search_id = 0, None
      while True:
        request = {'query': self.tiktok.query_json(),
                   'start_date': window_start.strftime('%Y%m%d'),
                   'end_date': window_end.strftime('%Y%m%d'),
                   'max_count': self.tiktok.page_size, 'cursor': cursor}
        if search_id:
          request['search_id'] = search_id   # keeps later pages on the same result set
        response, body = self.fetch_json('POST', '/v2/research/video/query/',
                                         params={'fields': ','.join(VIDEO_FIELDS)}, json=request)
        data = body.get('data') if isinstance(body, dict) else None
        videos = data.get('videos') if isinstance(data, dict) else None
        if not isinstance(videos, list):
          raise self.malformed('no data.videos list in the video query response', response)
        yield videos
        if not data.get('has_more') or not videos:
          break
        cursor, search_id = data.get('cursor', cursor + len(videos)), data.get('search_id')
