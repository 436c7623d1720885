"""Each record source's model → its normalized records (SocialPost / MarketOrder), through the Shield.

One normalizer per record source, named in schemas/registry.py: it reads the validated source
model, builds the normalized records once (a Facebook post yields the post and one record per
comment), and reads every PII field only through the Shield (transforms/privacy.py), which
pseudonymizes, scrubs or drops it as the policy table says. NORMALIZERS maps each model class to
its normalizer, built from the registry; the privacy DoFn (PrivacyShield) calls them.
"""
from __future__ import annotations

import datetime
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Optional

from schemas.normalized import Flag, Lineage, MarketOrder, OrderLine, SocialPost, event_id
from schemas.registry import SOURCES, Role
from schemas.sources import (DarazAddress, DarazOrder, FacebookActor, FacebookComment, FacebookPost,
                             ShopifyAddress, ShopifyOrder, TikTokVideo)
from transforms import pii_text
from transforms.cities import resolve_city

if TYPE_CHECKING:
  from transforms.privacy import Shield
  from transforms.validate import ValidRecord


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


def normalize_tiktok(shield: Shield, rec: ValidRecord, video: TikTokVideo,
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


def normalize_facebook(shield: Shield, rec: ValidRecord, post: FacebookPost,
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


def normalize_shopify(shield: Shield, rec: ValidRecord, order: ShopifyOrder,
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


def normalize_daraz(shield: Shield, rec: ValidRecord, order: DarazOrder,
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


# Model class → normalizer, as the registry names them (a missing function fails the import).
NORMALIZERS: dict[type, Callable[..., Iterator[Any]]] = {
    spec.model: globals()[spec.normalizer] for spec in SOURCES.values() if spec.role is Role.RECORD}
