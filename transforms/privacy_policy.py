"""The per-field PII policy table: what PrivacyShield does with every PII field of every schema.

HASH     keyed pseudonym (HMAC-SHA256 + key id) of the normalized value
DROP     never leaves PrivacyShield
COARSEN  street-level detail dropped; only the city (resolved to one of the 8) / country kept
SCRUB    free text kept with emails, phones and the record's own names replaced by keyed tokens
KEEP     kept as is (only for fields that are not PII at the granularity kept)

A unit test checks that every field marked `pii(...)` in schemas/sources.py is listed here,
and that nothing listed here is missing from the models.
"""
from __future__ import annotations

import enum


class Policy(str, enum.Enum):
  HASH = 'hash'
  DROP = 'drop'
  COARSEN = 'coarsen'
  SCRUB = 'scrub'
  KEEP = 'keep'


H, D, C, S = Policy.HASH, Policy.DROP, Policy.COARSEN, Policy.SCRUB

POLICY: dict[tuple[str, str], Policy] = {
    # TikTok
    ('TikTokVideo', 'username'): H,
    ('TikTokVideo', 'video_description'): S,
    ('TikTokVideo', 'voice_to_text'): D,          # transcripts of speech: too much, too personal
    ('TikTokVideo', 'video_mention_list'): D,
    # Facebook
    ('FacebookActor', 'id'): H,
    ('FacebookActor', 'name'): D,                 # the id pseudonym identifies the author
    ('FacebookComment', 'message'): S,
    ('FacebookPost', 'message'): S,
    ('FacebookPost', 'story'): D,                 # "<name> shared a link": names by construction
    ('FacebookLocation', 'street'): C,
    ('FacebookLocation', 'zip'): C,
    ('FacebookLocation', 'latitude'): D,
    ('FacebookLocation', 'longitude'): D,
    # Shopify
    ('ShopifyAddress', 'first_name'): H,
    ('ShopifyAddress', 'last_name'): H,
    ('ShopifyAddress', 'name'): H,
    ('ShopifyAddress', 'company'): D,
    ('ShopifyAddress', 'address1'): C,
    ('ShopifyAddress', 'address2'): C,
    ('ShopifyAddress', 'zip'): C,
    ('ShopifyAddress', 'phone'): H,
    ('ShopifyAddress', 'latitude'): D,
    ('ShopifyAddress', 'longitude'): D,
    ('ShopifyCustomer', 'id'): H,
    ('ShopifyCustomer', 'email'): H,
    ('ShopifyCustomer', 'first_name'): H,
    ('ShopifyCustomer', 'last_name'): H,
    ('ShopifyCustomer', 'phone'): H,
    ('ShopifyCustomer', 'note'): D,
    ('ShopifyCustomer', 'tags'): D,
    ('ShopifyOrder', 'email'): H,
    ('ShopifyOrder', 'contact_email'): H,
    ('ShopifyOrder', 'phone'): H,
    ('ShopifyOrder', 'note'): S,
    ('ShopifyOrder', 'tags'): D,
    ('ShopifyOrder', 'browser_ip'): D,
    ('ShopifyOrder', 'client_details'): D,
    ('ShopifyOrder', 'payment_details'): D,
    ('ShopifyOrder', 'order_status_url'): D,
    ('ShopifyOrder', 'token'): D,
    ('ShopifyOrder', 'cart_token'): D,
    ('ShopifyOrder', 'checkout_token'): D,
    # Daraz
    ('DarazAddress', 'first_name'): H,
    ('DarazAddress', 'last_name'): H,
    ('DarazAddress', 'phone'): H,
    ('DarazAddress', 'phone2'): H,
    ('DarazAddress', 'address1'): C,
    ('DarazAddress', 'address2'): C,
    ('DarazAddress', 'address3'): C,
    ('DarazAddress', 'address4'): C,
    ('DarazAddress', 'address5'): C,
    ('DarazAddress', 'post_code'): C,
    ('DarazRecipientInfo', 'identify_no'): D,     # national id / passport: never kept, not even hashed
    ('DarazRecipientInfo', 'passport_no'): D,
    ('DarazRecipientInfo', 'detail_address'): C,
    ('DarazOrderItem', 'buyer_id'): H,
    ('DarazOrderItem', 'tracking_code'): D,
    ('DarazOrderItem', 'tracking_code_pre'): D,
    ('DarazOrderItem', 'gift_wrapping'): D,
    ('DarazOrderItem', 'personalization'): D,
    ('DarazOrderItem', 'pick_up_store_info'): D,
    ('DarazOrder', 'customer_first_name'): H,
    ('DarazOrder', 'customer_last_name'): H,
    ('DarazOrder', 'national_registration_number'): D,
    ('DarazOrder', 'tax_code'): D,
    ('DarazOrder', 'branch_number'): D,
    ('DarazOrder', 'buyer_note'): S,
    ('DarazOrder', 'remarks'): D,
    ('DarazOrder', 'gift_message'): D,
}


def policy_of(model: type, field: str) -> Policy:
  """The policy of `model.field`; KeyError for a field nobody classified (a bug, caught by tests)."""
  return POLICY[(model.__name__, field)]
