"""PrivacyShield: typed source records → normalized records with no PII in clear.

Identity survives only as keyed pseudonyms (HMAC-SHA256; key from a secret reference, resolved in
setup(); key id stored beside each pseudonym). Values are normalized first so one person gets one
pseudonym across sources and runs. What happens to each field is the table in privacy_policy.py.
"""
from __future__ import annotations

import datetime
import hmac
import re
from typing import Any, Iterable, Iterator, NamedTuple, Optional

import apache_beam as beam

from connectors.secrets import SecretRef, decode_key
from schemas.normalized import (Flag, Lineage, MarketOrder, OrderLine, Pseudonym, SocialPost,
                                event_id)
from schemas.sources import (ALL_SOURCE_MODELS, DarazAddress, DarazOrder, FacebookActor, FacebookComment,
                             FacebookPost, ShopifyAddress, ShopifyOrder, TikTokVideo,
                             pii_fields)
from transforms import pii_text
from transforms.cities import resolve_city
from transforms.config import PrivacyConfig
from transforms.dead_letter import DEAD_LETTER_TAG, VALID_TAG, DeadLetterFactory, derive_key_id
from transforms.tally import CounterTally
from transforms.privacy_policy import Policy, policy_of
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


_POSTCODE_TAIL = re.compile(r'[\s,\-]*\d{3,}[\d\s\-]*$')


def _coarse_city(city: Optional[str]) -> Optional[str]:
  """An unresolved city as written, minus any trailing postcode ('Singapore-Singapore-500001').

  Cut to 200 characters first: the pattern is anchored at the end, so its work grows with the
  square of a digit run's length."""
  if not city:
    return None
  return _POSTCODE_TAIL.sub('', city[:200]).strip()[:80] or None


def _truncation_flags(scrub: pii_text.RecordScrubber, cuts_before: int) -> tuple[str, ...]:
  """(Flag.TEXT_TRUNCATED,) when a text of this output was cut to the scanning caps."""
  return (Flag.TEXT_TRUNCATED,) if scrub.truncations > cuts_before else ()


def _first(values: Iterable[Any]) -> Any:
  for v in values:
    if v is not None:
      return v
  return None


def _lineage(record: ValidRecord) -> Lineage:
  raw = record.raw
  return Lineage(topic=raw.topic, partition=raw.partition, offset=raw.offset,
                 kafka_timestamp_ms=raw.timestamp_ms, fetched_at=record.fetched_at,
                 source_schema_version=record.schema_version)


def _fallback_time(record: ValidRecord) -> datetime.datetime:
  """When the payload has no time of its own: the fetch time, else the Kafka timestamp."""
  if record.fetched_at is not None:
    return record.fetched_at
  return datetime.datetime.fromtimestamp(record.raw.timestamp_ms / 1000.0, tz=datetime.timezone.utc)


def shield_tiktok(shield: Shield, rec: ValidRecord, video: TikTokVideo,
                  now: datetime.datetime) -> Iterator[SocialPost]:
  scrub = shield.scrubber([video.username, *(video.video_mention_list or ())])
  text = shield.field(video, 'video_description', scrub=scrub) or ''
  hashtags = tuple(scrub(h) for h in video.hashtag_names)
  yield SocialPost(
      event_id=event_id('tiktok', 'video', video.id), source='tiktok', kind='video',
      native_id=video.id, event_time=video.create_time or _fallback_time(rec), ingest_time=now,
      lineage=_lineage(rec), text=text, hashtags=hashtags,
      flags=_truncation_flags(scrub, 0),
      author=shield.field(video, 'username', namespace='tiktok_user'),
      region_code=video.region_code, like_count=video.like_count,
      comment_count=video.comment_count, share_count=video.share_count,
      view_count=video.view_count)


def _actor_names(author: Optional[FacebookActor], commenters: Iterable[Optional[FacebookActor]]):
  """Every actor's full name; for people commenting, also each word of it (they are named by
  first name: "Rakibul, check inbox"). Not for the post's author, usually a page: "Dhaka Food
  Diaries" word by word would take "Dhaka" out of every text."""
  names = [author.name] if author is not None and author.name else []
  author_id = author.id if author is not None else None
  for actor in commenters:
    if actor is None or not actor.name:
      continue
    names.append(actor.name)
    if actor.category is None and (author_id is None or actor.id != author_id):
      names.extend(actor.name.split())
  return names


def shield_facebook(shield: Shield, rec: ValidRecord, post: FacebookPost,
                    now: datetime.datetime) -> Iterator[SocialPost]:
  comments = post.comments.data if post.comments else []
  scrub = shield.scrubber(_actor_names(post.from_, [c.from_ for c in comments]))
  location = post.place.location if post.place else None
  city = resolve_city([location.city if location else None, post.place.name if post.place else None])
  post_time = post.created_time or _fallback_time(rec)
  post_id = event_id('facebook', 'post', post.id)
  lineage = _lineage(rec)
  text = shield.field(post, 'message', scrub=scrub) or ''
  yield SocialPost(
      event_id=post_id, source='facebook', kind='post', native_id=post.id,
      event_time=post_time, ingest_time=now, lineage=lineage, text=text,
      flags=_truncation_flags(scrub, 0),
      author=shield.field(post.from_, 'id', namespace='facebook_user'),
      city=city.name if city else None,
      like_count=_first([post.reactions and post.reactions.summary and post.reactions.summary.total_count,
                         post.likes and post.likes.summary and post.likes.summary.total_count]),
      comment_count=(post.comments.summary.total_count
                     if post.comments and post.comments.summary else None),
      share_count=post.shares.count if post.shares else None)
  for comment in comments:
    yield _facebook_comment(shield, lineage, comment, post_id, post_time, scrub, city, now)


def _facebook_comment(shield: Shield, lineage: Lineage, comment: FacebookComment, post_id: str,
                      post_time: datetime.datetime, scrub: pii_text.RecordScrubber, city: Any,
                      now: datetime.datetime) -> SocialPost:
  cuts_before = scrub.truncations
  text = shield.field(comment, 'message', scrub=scrub) or ''
  return SocialPost(
      event_id=event_id('facebook', 'comment', comment.id), source='facebook', kind='comment',
      native_id=comment.id, event_time=comment.created_time or post_time, ingest_time=now,
      lineage=lineage, text=text,
      author=shield.field(comment.from_, 'id', namespace='facebook_user'),
      parent_event_id=post_id, city=city.name if city else None, like_count=comment.like_count,
      flags=_truncation_flags(scrub, cuts_before))


def _shopify_city(addresses: Iterable[Optional[ShopifyAddress]]):
  addresses = [a for a in addresses if a is not None]
  city = resolve_city([t for a in addresses for t in (a.city, a.province)])
  first = addresses[0] if addresses else None
  return city, first


def shield_shopify(shield: Shield, rec: ValidRecord, order: ShopifyOrder,
                   now: datetime.datetime) -> Iterator[MarketOrder]:
  customer = order.customer
  addresses = [order.shipping_address, order.billing_address,
               customer.default_address if customer else None]
  city, address = _shopify_city(addresses)
  # Every name field of the record (schemas/sources.py: pii('name')).
  scrub = shield.scrubber([n for a in addresses if a is not None
                           for n in (a.first_name, a.last_name, a.name, a.company)]
                          + ([customer.first_name, customer.last_name] if customer else []))
  # Lazily: only the first usable value of each is pseudonymized.
  phone = _first(shield.field(o, 'phone') for o in [order, customer] + addresses)
  email = _first(shield.field(o, f) for o, f in ((order, 'email'), (order, 'contact_email'),
                                                 (customer, 'email')))
  lines = tuple(OrderLine(line_id=li.id, sku=li.sku, product_id=li.product_id,
                          title=scrub(li.title or li.name) or None,
                          quantity=li.quantity, unit_price=li.price)
                for li in order.line_items)
  note = shield.field(order, 'note', scrub=scrub) or ''
  yield MarketOrder(
      event_id=event_id('shopify', 'order', order.id), source='shopify', native_id=order.id,
      event_time=order.created_at or _fallback_time(rec), ingest_time=now, lineage=_lineage(rec),
      order_number=order.name or (str(order.order_number) if order.order_number else None),
      updated_at=order.updated_at, status=order.financial_status,
      fulfillment_status=order.fulfillment_status,
      payment_method=order.gateway or _first(order.payment_gateway_names),
      currency=order.currency, total_price=order.total_price,
      item_count=sum(li.quantity for li in order.line_items), lines=lines,
      customer=shield.field(customer, 'id', namespace='shopify_customer'), email=email,
      phone=phone,
      city=city.name if city else None,
      raw_city=None if city or address is None else _coarse_city(address.city),
      country=(address.country_code or address.country) if address else None,
      note=note, flags=_truncation_flags(scrub, 0),
      customer_name=_first(shield.full_name(o, 'first_name', 'last_name')
                           for o in [customer] + addresses))


def shield_daraz(shield: Shield, rec: ValidRecord, order: DarazOrder,
                 now: datetime.datetime) -> Iterator[MarketOrder]:
  addresses: list[DarazAddress] = [a for a in (order.address_shipping, order.address_billing) if a]
  city = resolve_city([t for a in addresses for t in (a.city, a.address_district)])
  address = addresses[0] if addresses else None
  scrub = shield.scrubber([order.customer_first_name, order.customer_last_name] + [
      n for a in addresses for n in (a.first_name, a.last_name)])
  phone = _first(shield.field(a, f) for a in addresses for f in ('phone', 'phone2'))
  items = order.order_items
  lines = tuple(OrderLine(line_id=it.order_item_id, sku=it.sku, product_id=it.product_id,
                          title=scrub(it.name) or None, quantity=1,
                          unit_price=it.item_price, status=it.status)
                for it in items)
  customer = _first(shield.field(it, 'buyer_id', namespace='daraz_buyer') for it in items)
  note = shield.field(order, 'buyer_note', scrub=scrub) or ''
  yield MarketOrder(
      event_id=event_id('daraz', 'order', order.order_id), source='daraz', native_id=order.order_id,
      event_time=order.created_at or _fallback_time(rec), ingest_time=now, lineage=_lineage(rec),
      order_number=order.order_number, updated_at=order.updated_at,
      status=_first(order.statuses) or _first(it.status for it in items),
      payment_method=order.payment_method, currency=_first(it.currency for it in items),
      total_price=order.price, item_count=order.items_count or len(items), lines=lines,
      customer=customer, phone=phone, city=city.name if city else None,
      raw_city=None if city or address is None else _coarse_city(address.city),
      country=address.country if address else None,
      note=note, flags=_truncation_flags(scrub, 0),
      customer_name=_first(
          [shield.full_name(order, 'customer_first_name', 'customer_last_name')]
          if order.customer_first_name or order.customer_last_name
          else (shield.full_name(a, 'first_name', 'last_name') for a in addresses)))


_SHIELDS = {TikTokVideo: shield_tiktok, FacebookPost: shield_facebook,
            ShopifyOrder: shield_shopify, DarazOrder: shield_daraz}


class _PrivacyShieldFn(beam.DoFn):

  def __init__(self, config: PrivacyConfig):
    self._config = config
    self._tally = CounterTally(_COUNTERS)
    self._counts = self._tally.counts

  def setup(self):
    key = SecretRef.parse(self._config.hmac_key_ref).resolve_bytes()
    self._shield = Shield(key, self._config.hmac_key_id, self._config.default_phone_region)
    self._dead_letters = DeadLetterFactory(self._config.dead_letter)

  def finish_bundle(self):
    self._tally.flush()

  def process(self, record: ValidRecord):
    tokens_before = self._shield.num_tokens
    try:
      outputs = list(_SHIELDS[type(record.model)](
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

  def __init__(self, config: PrivacyConfig):
    super().__init__()
    self._config = config

  def expand(self, valid_records) -> PrivacyResult:
    outputs = valid_records | 'PseudonymizeAndScrub' >> beam.ParDo(
        _PrivacyShieldFn(self._config)).with_outputs(DEAD_LETTER_TAG, main=VALID_TAG)
    return PrivacyResult(outputs[VALID_TAG], outputs[DEAD_LETTER_TAG])
