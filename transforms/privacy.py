"""PrivacyShield: typed source records → normalized records with no PII in clear.

Identity survives only as keyed pseudonyms (HMAC-SHA256; key from a secret reference, resolved in
setup(); key id stored beside each pseudonym). Values are normalized first so one person gets one
pseudonym across sources and runs. What happens to each field is the table in privacy_policy.py.

This module holds the keyed Shield (every PII operation) and the DoFn; which fields of which
source become which normalized record is transforms/normalize.py (one normalizer per source).
"""
from __future__ import annotations

import hmac
from typing import Any, Iterable, NamedTuple, Optional

import apache_beam as beam

from connectors.secrets import SecretRef, decode_key
from schemas.normalized import Pseudonym
from schemas.sources import ALL_SOURCE_MODELS, pii_fields
from transforms import pii_text
from transforms.config import DeadLetterConfig, PrivacyConfig
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG, DeadLetterFactory, derive_key_id
from transforms.normalize import NORMALIZERS
from transforms.privacy_policy import Policy, policy_of
from transforms.tally import CounterTally
from transforms.validate import ValidRecord

STAGE = 'privacy'
NUM_SHIELDED, NUM_FAILED = 'num_shielded', 'num_privacy_failed'
NUM_UNEXPECTED, NUM_TOKENS = f'num_unexpected_{STAGE}', 'num_text_pii_tokens'
_COUNTERS = (NUM_SHIELDED, NUM_FAILED, NUM_UNEXPECTED, NUM_TOKENS)
# (model class, field) → (policy, PII category), precomputed from the policy table and the schemas.
_FIELD_RULES = {(model, field): (policy_of(model, field), category)
                for model in ALL_SOURCE_MODELS for field, category in pii_fields(model).items()}
# What Shield.field does with each, as one small int per field: model class → field → (action,
# category); a lookup without building a key tuple, a comparison of ints instead of enum members.
_NOTHING, _KEEP, _SCRUB, _EMAIL, _PHONE, _NAME, _ID = range(7)


def _action(policy: Policy, category: str) -> int:
  if policy is Policy.DROP or policy is Policy.COARSEN:
    return _NOTHING
  if policy is Policy.KEEP:
    return _KEEP
  if policy is Policy.SCRUB:
    return _SCRUB
  return {'email': _EMAIL, 'phone': _PHONE, 'name': _NAME}.get(category, _ID)


_FIELD_ACTIONS: dict = {}
for (_model, _field), (_policy, _category) in _FIELD_RULES.items():
  _FIELD_ACTIONS.setdefault(_model, {})[_field] = (_action(_policy, _category), _category)
_PSEUDONYM_HEX = 32     # 128 bits
_TOKEN_HEX = 12         # in-text tokens: short, still keyed (not reversible without the key)
_MEMO_ENTRIES = 65536   # memoized pseudonyms / tokens per shield (each dict cleared when full)
_NO_PSEUDONYM = object()   # memoized "no pseudonym" (a masked phone, an empty name)


class PrivacyResult(NamedTuple):
  records: beam.PCollection       # of SocialPost | MarketOrder
  dead_letters: beam.PCollection  # of DeadLetter


class Shield:
  """The keyed, per-field PII operations. Built on the worker from the resolved key.

  Pseudonyms and in-text tokens are memoized per value (customers, pages and numbers repeat):
  bounded dicts, cleared when full, held only in the worker's memory (the shield is built in
  setup() and never pickled), like the records themselves.
  """

  def __init__(self, key: bytes, key_id: Optional[str] = None, region: str = 'BD'):
    """key: the pseudonym secret as resolved (hex or base64 of ≥ 32 random bytes)."""
    self._key = decode_key(key, 'the pseudonym key')
    self.key_id = key_id or derive_key_id(self._key, 'pseudonym')
    self._region = region
    self.num_tokens = 0
    self._pseudonyms: dict = {}      # (kind, value as written) -> Pseudonym | _NO_PSEUDONYM
    self._tokens: dict = {}          # (kind, normalized) -> token text

  def _digest(self, category: str, normalized: str) -> str:
    # hmac.digest: OpenSSL's one-shot HMAC, several times faster than hmac.new(...).copy().
    return hmac.digest(self._key, category.encode('utf-8') + b'\x00' + normalized.encode('utf-8'),
                       'sha256').hex()

  def pseudonym(self, category: str, normalized: Optional[str]) -> Optional[Pseudonym]:
    if not normalized:
      return None
    return Pseudonym(self._digest(category, normalized)[:_PSEUDONYM_HEX], self.key_id)

  def _memo(self, key: tuple, pseudonym: Optional[Pseudonym]) -> Optional[Pseudonym]:
    if len(self._pseudonyms) >= _MEMO_ENTRIES:
      self._pseudonyms.clear()
    self._pseudonyms[key] = _NO_PSEUDONYM if pseudonym is None else pseudonym
    return pseudonym

  # Normalize-then-hash, per kind of value.
  def email(self, value: Optional[str]) -> Optional[Pseudonym]:
    if not value:
      return None
    hit = self._pseudonyms.get(('email', value))
    if hit is not None:
      return None if hit is _NO_PSEUDONYM else hit
    return self._memo(('email', value), self.pseudonym('email', pii_text.normalize_email(value)))

  def phone(self, value: Optional[str]) -> Optional[Pseudonym]:
    if not value:
      return None
    hit = self._pseudonyms.get(('phone', value))
    if hit is not None:
      return None if hit is _NO_PSEUDONYM else hit
    return self._memo(('phone', value),
                      self.pseudonym('phone', pii_text.normalize_phone(value, self._region)))

  def name(self, *parts: Optional[str]) -> Optional[Pseudonym]:
    hit = self._pseudonyms.get(('name', parts))
    if hit is not None:
      return None if hit is _NO_PSEUDONYM else hit
    joined = ' '.join(p for p in parts if p)
    return self._memo(('name', parts), self.pseudonym('name', pii_text.normalize_name(joined))
                      if joined.strip() else None)

  def identifier(self, namespace: str, value: Optional[str]) -> Optional[Pseudonym]:
    if not value:
      return None
    hit = self._pseudonyms.get(('id', namespace, value))
    if hit is not None:
      return None if hit is _NO_PSEUDONYM else hit
    return self._memo(('id', namespace, value),
                      self.pseudonym(f'id:{namespace}', pii_text.normalize_name(value)))

  def _token(self, kind: str, normalized: str) -> str:
    """The in-text token of one finding: [KIND:12 hex digits of its keyed digest]."""
    self.num_tokens += 1
    token = self._tokens.get((kind, normalized))
    if token is None:
      if len(self._tokens) >= _MEMO_ENTRIES:
        self._tokens.clear()
      token = self._tokens[(kind, normalized)] = (
          f'[{kind}:{self._digest(kind.lower(), normalized)[:_TOKEN_HEX]}]')
    return token

  def scrubber(self, names: Iterable[Optional[str]] = ()) -> pii_text.RecordScrubber:
    """Scrubs the free texts of one record: emails, phones, addresses, @handles and `names` (the
    record's own names) replaced by stable keyed tokens, within one record's text budget."""
    return pii_text.RecordScrubber(self._token, names)

  def text(self, value: Optional[str], names: Iterable[Optional[str]] = ()) -> str:
    """One free text, scrubbed as a record's only text would be."""
    return self.scrubber(names)(value)

  # Policy-driven access: each PII field is read only through its policy.
  def field(self, obj: Any, field: str, *, namespace: str = '',
            scrub: Optional[pii_text.RecordScrubber] = None):
    """Applies POLICY[type(obj), field] to obj.field: Pseudonym | scrubbed str | value | None.

    scrub: the record's scrubber, for SCRUB fields (required for them)."""
    if obj is None:
      return None
    value = getattr(obj, field)
    if value is None:
      return None
    action, category = _FIELD_ACTIONS[type(obj)][field]
    if action == _ID:
      return self.identifier(namespace or category, str(value))
    if action == _SCRUB:
      return scrub(value)
    if action == _NOTHING:
      return None
    if action == _EMAIL:
      return self.email(value)
    if action == _PHONE:
      return self.phone(value)
    if action == _NAME:
      return self.name(value)
    return value                      # _KEEP

  def full_name(self, obj: Any, first: str, last: str) -> Optional[Pseudonym]:
    """One pseudonym for 'first last' (both fields must be HASH)."""
    if obj is None:
      return None
    if (_FIELD_RULES[(type(obj), first)][0] is not Policy.HASH
        or _FIELD_RULES[(type(obj), last)][0] is not Policy.HASH):
      return None
    return self.name(getattr(obj, first), getattr(obj, last))


class _PrivacyShieldFn(beam.DoFn):

  def __init__(self, config: PrivacyConfig, dead_letter: DeadLetterConfig):
    self._config = config
    self._dead_letter_config = dead_letter
    self._tally = CounterTally(_COUNTERS)
    self._counts = self._tally.counts

  def setup(self):
    key = SecretRef.parse(self._config.hmac_key_ref).resolve_bytes()
    self._shield = Shield(key, self._config.hmac_key_id, self._config.default_phone_region)
    self._dead_letters = DeadLetterFactory(self._dead_letter_config)

  def finish_bundle(self):
    self._tally.flush()

  def process(self, record: ValidRecord):
    tokens_before = self._shield.num_tokens
    try:
      outputs = list(NORMALIZERS[type(record.model)](
          self._shield, record, record.model, self._config.clock()))
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as e:
      self._counts[NUM_FAILED] += 1
      yield beam.pvalue.TaggedOutput(
          DEAD_LETTER_TAG, self._dead_letters.from_raw(STAGE, record.raw, e, sub_id=record.sub_id))
      return
    except Exception as e:  # pylint: disable=broad-except
      # The deliberate last resort (STYLE rule 16): whatever else one record raises becomes its
      # counted dead letter, never a failed bundle. Nothing of the record is logged.
      self._counts[NUM_FAILED] += 1
      self._counts[NUM_UNEXPECTED] += 1
      yield beam.pvalue.TaggedOutput(
          DEAD_LETTER_TAG, self._dead_letters.from_raw(STAGE, record.raw, e, sub_id=record.sub_id))
      return
    self._counts[NUM_TOKENS] += self._shield.num_tokens - tokens_before
    self._counts[NUM_SHIELDED] += len(outputs)
    yield from outputs


class PrivacyShield(beam.PTransform):
  """PCollection[ValidRecord] → PrivacyResult(records: SocialPost | MarketOrder, dead_letters).

  A Facebook post yields one SocialPost for the post and one per comment in its comments edge.
  """

  def __init__(self, config: PrivacyConfig, dead_letter: DeadLetterConfig):
    super().__init__()
    self._config = config
    self._dead_letter = dead_letter

  def expand(self, valid_records) -> PrivacyResult:
    outputs = valid_records | 'PseudonymizeAndScrub' >> beam.ParDo(
        _PrivacyShieldFn(self._config, self._dead_letter)).with_outputs(DEAD_LETTER_TAG, main=VALID_TAG)
    return PrivacyResult(outputs[VALID_TAG], outputs[DEAD_LETTER_TAG])
