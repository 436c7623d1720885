"""Free-text scrubbing, table-driven: every writing of a phone number a Bangladeshi user types, the
record's own names on word boundaries, street addresses and @handles, emails — and the negatives
(dates, prices, order quantities, SKUs) that must come out exactly as they went in.

Expected outputs are templates: `{P:+8801712345678}` is the phone token of that number,
`{E:…}` an email token, `{N:…}` a name token, `{A:…}` an address token, `{H:…}` a handle token
(the shield's token of that normalized value, so the table also pins what each finding
normalizes to).
"""
import re

import pytest

from tests.unit import fakes
from transforms.validate import parse_raw


_TEMPLATE = re.compile(r'\{([PENAH]):([^{}]+)\}')
_KINDS = {'P': 'PHONE', 'E': 'EMAIL', 'N': 'NAME', 'A': 'ADDRESS', 'H': 'HANDLE'}
_ANY_TOKEN = re.compile(r'\[(?:PHONE|EMAIL|NAME|ADDRESS|HANDLE):[0-9a-f]{12}\]')


def _token(kind: str, normalized: str) -> str:
  """The token the shield writes for one finding whose normalized value is `normalized`."""
  return fakes.test_shield()._token(_KINDS[kind], normalized)


def _expand(template: str) -> str:
  return _TEMPLATE.sub(lambda m: _token(m.group(1), m.group(2)), template)


def _scrub(text: str, names=()) -> str:
  return fakes.test_shield().text(text, names=list(names))


# (text as typed, expected output)
PHONES = [
    ('01712345678', '{P:+8801712345678}'),
    ('call 01712 345678 01812 345678 now', 'call {P:+8801712345678} {P:+8801812345678} now'),
    ('01712–345678', '{P:+8801712345678}'),                       # en dash
    ('01712—345678', '{P:+8801712345678}'),                       # em dash
    ('01712 – 345678', '{P:+8801712345678}'),                     # spaced en dash
    ('01712\u2011345678 or 01712\u2212345678',                    # non-breaking hyphen, minus
     '{P:+8801712345678} or {P:+8801712345678}'),
    ('qty 1000 2000 01712 345 678', 'qty 1000 2000 {P:+8801712345678}'),
    ('01712\u00a0345678', '{P:+8801712345678}'),                  # non-breaking space
    ('017\u200b1234\u200c5678', '{P:+8801712345678}'),            # zero-width space / non-joiner
    ('\ufeff01712\u2060345678', '\ufeff{P:+8801712345678}'),      # BOM, word joiner
    ('01712/345678', '{P:+8801712345678}'),
    ('01712345678/01812345678', '{P:+8801712345678}/{P:+8801812345678}'),
    ('01712-345678 / 01812-345678', '{P:+8801712345678} / {P:+8801812345678}'),
    ('+88 01712345678', '{P:+8801712345678}'),
    ('+88 017-1234-5678', '{P:+8801712345678}'),
    ('+880 1712-345678, 01812345678', '{P:+8801712345678}, {P:+8801812345678}'),
    ('(+880) 1712 345678', '{P:+8801712345678}'),
    ('8801712345678', '{P:+8801712345678}'),
    ('০১৭১২৩৪৫৬৭৮', '{P:+8801712345678}'),                          # Bangla digits
    ('ফোন: ০১৭১২ ৩৪৫৬৭৮', 'ফোন: {P:+8801712345678}'),
    ('+৮৮০ ১৭১২–৩৪৫৬৭৮', '{P:+8801712345678}'),
    ('٠١٧١٢٣٤٥٦٧٨', '{P:+8801712345678}'),                          # Arabic-Indic digits
    ('０１７１２３４５６７８', '{P:+8801712345678}'),                # full-width digits
    ('call01712345678now', 'call{P:+8801712345678}now'),
    ('+1 613-612-0707', '{P:+16136120707}'),
    ('00 1 613 612 0707', '{P:+16136120707}'),
    ('Dhaka office 02-9123456', 'Dhaka office {P:+88029123456}'),
    ('555-625-1199', '{P:digits:5556251199}'),
]

NOT_PHONES = [
    'Eid sale 2024-04-10, price 1,299.00 BDT',
    'Delivered on 10/04/2024 between 10:30-18:00',
    'delivery 01/12/2024 10 items',
    'দাম মাত্র ৳২,২০০',
    'Only ৳1700 🔥 Order now',
    'Total 18060.00 BDT, paid 1,29,999 tk',
    'price 1299000.00 taka',
    'Only ৳1500000 for the set',
    'qty 1000 2000',
    'order 2 x 1500 = 3000 tk',
    'size 42 44 46 48 50',
    '12,500,000 views',
    'SKU-10023456 and BRSCR#06 and IPOD2008BLACK',
    'MEG-SAR-1001, 12345678-ABC',
    '৫০০ গ্রাম ২ প্যাকেট',
    'Model 2024 1TB, 10.30-18.00',
]

OTHER_FINDINGS = [
    ('mail Rahim.Uddin@Example.COM now', 'mail {E:rahim.uddin@example.com} now'),
    ('follow @dhaka.foodie!', 'follow {H:dhaka.foodie}!'),
    ('thanks @Mahbuba_Akter1904 and @dhaka.foodie.', 'thanks {H:mahbuba_akter1904} and {H:dhaka.foodie}.'),
    ('contact Rahim Uddin at House 12, Road 5, Dhanmondi',
     'contact Rahim Uddin at {A:house 12, road 5}, Dhanmondi'),
    ('Flat 7B, House 91/B, Road 12, Daulatpur', '{A:flat 7b, house 91/b, road 12}, Daulatpur'),
    ('House#12 Road#5 Block-C Sector 7, Uttara', '{A:house#12 road#5 block-c sector 7}, Uttara'),
    ('Plot 23, Lane 4, Mirpur', '{A:plot 23, lane 4}, Mirpur'),
    ('বাড়ি ১২, রোড ৫, মিরপুর', '{A:বাড়ি ১২, রোড ৫}, মিরপুর'),
    ('বাসা নং ১২, সেক্টর ৭', '{A:বাসা নং ১২, সেক্টর ৭}'),
]

NOT_FINDINGS = [
    'Flat 50% off on every saree',
    'flat 500 tk discount today',
    'the road to Dhaka, house of fashion',
    'price @ 500 each, a @ b',
    'Block buster sale, Sector wise delivery',
]


@pytest.mark.parametrize('text,expected', PHONES, ids=[t for t, _ in PHONES])
def test_phone_writings_are_found(text, expected):
  assert _scrub(text) == _expand(expected)


@pytest.mark.parametrize('text', NOT_PHONES)
def test_dates_prices_quantities_and_skus_stay(text):
  assert _scrub(text) == text


@pytest.mark.parametrize('text,expected', OTHER_FINDINGS, ids=[t for t, _ in OTHER_FINDINGS])
def test_emails_handles_and_addresses_become_tokens(text, expected):
  assert _scrub(text) == _expand(expected)


@pytest.mark.parametrize('text', NOT_FINDINGS)
def test_offers_and_plain_words_stay(text):
  assert _scrub(text) == text


NAMES = [
    # (names of the record, text, expected)
    (['Ali'], 'quality product, Ali bhai', 'quality product, {N:ali} bhai'),
    (['Ali'], 'ALI said: ali. Alibaba, Kali, Ali_2 stay', '{N:ali} said: {N:ali}. Alibaba, Kali, Ali_2 stay'),
    (['Rahim Uddin'], 'RAHIM UDDIN called; rahim  uddin again; Rahimuddin stays',
     '{N:rahim uddin} called; {N:rahim uddin} again; Rahimuddin stays'),
    (['Rahim', 'Uddin', 'Rahim Uddin'], 'ask Rahim Uddin or rahim',
     'ask {N:rahim uddin} or {N:rahim}'),
    (['রহিম'], 'রহিম ভাই, রহিমা আপু', '{N:রহিম} ভাই, রহিমা আপু'),
    (['Straße'], 'STRASSE and straße', '{N:strasse} and {N:strasse}'),
]


@pytest.mark.parametrize('names,text,expected', NAMES, ids=[t for _, t, _ in NAMES])
def test_names_replaced_on_word_boundaries_whatever_their_case(names, text, expected):
  assert _scrub(text, names) == _expand(expected)


def test_a_finding_is_the_same_token_in_every_writing():
  tokens = {_scrub(w) for w in ['01712345678', '+880 1712-345678', '০১৭১২–৩৪৫৬৭৮', '01712 345 678']}
  assert len(tokens) == 1 and _ANY_TOKEN.fullmatch(tokens.pop())


# --- through the record: names from every name field of the record --------------------------

def _outputs(source, payload):
  from transforms.normalize import NORMALIZERS
  valid = parse_raw(fakes.raw_record(source, payload), 10**7)
  return list(NORMALIZERS[type(valid.model)](fakes.test_shield(), valid, valid.model, fakes.FIXED_NOW))


def _leftovers(text: str) -> str:
  return _ANY_TOKEN.sub('', text).casefold()


def test_shopify_note_loses_every_name_of_the_record():
  address = {'first_name': 'Nusrat', 'last_name': 'Jahan', 'name': 'Nusrat Jahan',
             'company': 'Jahan Traders', 'city': 'Dhaka'}
  order = {'id': 1, 'note': 'Give it to NUSRAT or to the JAHAN TRADERS office; Ali quality check by ali',
           'customer': {'id': 5, 'first_name': 'Ali', 'last_name': 'Akbar'},
           'shipping_address': address,
           'billing_address': dict(address, first_name='Karim', last_name='Sheikh', name='Karim Sheikh',
                                   company=None),
           'line_items': [{'id': 2, 'title': 'Gift for karim sheikh', 'quantity': 1, 'price': '10'}]}
  [out] = _outputs('shopify', order)
  note = _leftovers(out.note)
  assert 'nusrat' not in note and 'jahan traders' not in note and 'ali ' not in note
  assert 'quality check by' in note                 # "quality" keeps its "ali"
  assert 'karim' not in _leftovers(out.lines[0].title)


def test_daraz_note_loses_address_names():
  order = {'order_id': '9', 'customer_first_name': 'Farhana', 'customer_last_name': 'Akter',
           'buyer_note': 'Call shirin or FARHANA before delivery',
           'address_shipping': {'first_name': 'Shirin', 'last_name': 'Begum', 'city': 'Dhaka'},
           'order_items': [{'order_item_id': '1', 'name': 'Saree'}]}
  [out] = _outputs('daraz', order)
  assert 'shirin' not in _leftovers(out.note) and 'farhana' not in _leftovers(out.note)


def test_facebook_texts_lose_the_names_of_every_actor():
  post = {'id': '1_2', 'message': 'Winner: Rakibul Chowdhury! rakibul, check inbox',
          'from': {'id': '10', 'name': 'Megh Tech BD', 'category': 'Shop'},
          'comments': {'data': [{'id': '2_3', 'message': 'Thanks megh tech bd, Rakibul here',
                                 'from': {'id': '11', 'name': 'Rakibul Chowdhury'}}]}}
  post_out, comment_out = _outputs('facebook', post)
  assert 'rakibul' not in _leftovers(post_out.text) and 'chowdhury' not in _leftovers(post_out.text)
  assert 'megh tech bd' not in _leftovers(comment_out.text)
  assert 'rakibul' not in _leftovers(comment_out.text)
  # A page's name is replaced as a whole; its words alone are ordinary words.
  assert _leftovers(_outputs('facebook', dict(post, message='Tech news from BD'))[0].text) == \
      'tech news from bd'


def test_tiktok_caption_loses_username_and_mentions():
  video = {'id': 7, 'username': 'mahbuba_akter1904', 'video_mention_list': ['rakib.shop'],
           'video_description': 'by MAHBUBA_AKTER1904 with rakib.shop, contact @rakib.shop'}
  [out] = _outputs('tiktok', video)
  assert 'mahbuba' not in _leftovers(out.text) and 'rakib' not in _leftovers(out.text)
