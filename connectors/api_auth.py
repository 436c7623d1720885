"""Credentials of the API clients: a secret read once and re-read on rotation, and one refresh.

Every client caches the secret it was configured with (`CachedSecret`) and refreshes it after
the API says the credentials expired: Shopify and Facebook by re-reading the secret (a rotated
token), Daraz and TikTok by asking the API for a new token. `CredentialRefresh` is the one
refresh every client shares, and the guard that keeps it to one:

- `ApiClient.request` refreshes at most once per request, then raises the AuthExpired;
- a request made to get credentials (a token grant, a refresh-token call) never triggers a
  refresh itself: when the API refuses it (Daraz `IllegalRefreshToken`, TikTok's grant
  answered 401) the client raises AuthFailed instead of recursing into another refresh.
"""
from __future__ import annotations

import abc
import contextlib
from typing import Iterator, Optional

from connectors.http import AuthExpired
from connectors.secrets import SecretRef


class AuthFailed(AuthExpired):
  """The API refused to issue or refresh credentials: a person has to renew them (a new
  refresh token, a corrected client secret). Raised, never retried or refreshed."""


class CachedSecret:
  """A secret resolved on first use and kept; `reread()` picks up a rotated value."""

  def __init__(self, ref: SecretRef):
    self._ref = ref
    self._value: Optional[str] = None

  def get(self) -> str:
    if self._value is None:
      self._value = self._ref.resolve()
    return self._value

  def replace(self, value: str) -> None:
    """A value the API issued (a refreshed token) stands in for the secret from now on."""
    self._value = value

  def reread(self) -> bool:
    """Resolves the reference again; True when the value changed (it was rotated)."""
    fresh = self._ref.resolve()
    changed, self._value = fresh != self._value, fresh
    return changed

  def __repr__(self) -> str:
    return f'CachedSecret({self._ref})'   # the reference, never the value


class CredentialRefresh(abc.ABC):
  """Mixin for ApiClient subclasses: implements `refresh_auth` once, for all clients.

  A client implements `renew_credentials()` (True when it has new credentials to try) and
  makes any request that obtains credentials inside `with self.credential_call():`.
  """
  _credential_call_depth = 0

  @abc.abstractmethod
  def renew_credentials(self) -> bool:
    """Gets fresh credentials; False when there is nothing new to try."""

  @contextlib.contextmanager
  def credential_call(self) -> Iterator[None]:
    """Around a request for credentials: its own auth errors become AuthFailed."""
    self._credential_call_depth += 1
    try:
      yield
    except AuthFailed:
      raise
    except AuthExpired as e:
      raise AuthFailed(f'{self.source}: the API refused to issue credentials ({e}); '
                       'renew them (refresh token, client secret) and run again') from e
    finally:
      self._credential_call_depth -= 1

  def refresh_auth(self) -> bool:
    if self._credential_call_depth:
      return False   # the credential request itself was refused: no refresh of a refresh
    return self.renew_credentials()


class RotatedTokenAuth(CredentialRefresh):
  """A token sent in a header, straight from a secret (Shopify, Facebook page tokens): the
  API cannot refresh it, so a refresh re-reads the secret and retries only if it changed."""
  token_header: str
  token_prefix: str = ''
  _token: CachedSecret

  def authorize(self, request: dict) -> None:
    request['headers'][self.token_header] = self.token_prefix + self._token.get()

  def renew_credentials(self) -> bool:
    return self._token.reread()
