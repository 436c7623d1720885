"""The eight divisional cities of Bangladesh, and resolving free-written locations to them.

Ids are OpenWeather city ids (= GeoNames ids); Dhaka, Khulna and Rajshahi are confirmed from
real API responses, the other five are GeoNames ids not yet checked against the live API
(tests/unit/data/bd_cities.md). Lookups key on our id, never on the name OpenWeather returns.

Two ways in: `resolve_city` for location fields and hashtags (the first candidate naming a city
wins), and `city_in_text` for free text (a post's scrubbed caption), which must name exactly
one city: text that names two ('Rajshahi silk, delivered in Dhaka') stays unresolved. Free text
is scanned only up to TEXT_SCAN_CHARS, with one linear split pattern; Bangla names are also
found with their case endings (ঢাকায় 'in Dhaka', চট্টগ্রামের 'of Chattogram').
"""
from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from typing import Iterable, NamedTuple, Optional


@dataclasses.dataclass(frozen=True)
class City:
  city_id: int
  name: str
  lat: float
  lon: float


CITIES: tuple[City, ...] = (
    City(1185241, 'Dhaka', 23.7104, 90.4074),
    City(1205733, 'Chattogram', 22.3569, 91.7832),
    City(1336135, 'Khulna', 22.8135, 89.5672),
    City(1185128, 'Rajshahi', 24.3704, 88.6367),
    City(1185099, 'Sylhet', 24.8949, 91.8687),
    City(1336137, 'Barishal', 22.7010, 90.3535),
    City(1185188, 'Rangpur', 25.7466, 89.2517),
    City(1185162, 'Mymensingh', 24.7471, 90.4203),
)
CITY_BY_ID = {c.city_id: c for c in CITIES}

_ALIASES = {
    1185241: ('dhaka', 'dacca', 'ঢাকা'),
    1205733: ('chattogram', 'chittagong', 'chottogram', 'ctg', 'চট্টগ্রাম'),
    1336135: ('khulna', 'খুলনা'),
    1185128: ('rajshahi', 'রাজশাহী'),
    1185099: ('sylhet', 'sylet', 'srihatta', 'সিলেট'),
    1336137: ('barishal', 'barisal', 'বরিশাল'),
    1185188: ('rangpur', 'রংপুর'),
    1185162: ('mymensingh', 'maimansingh', 'ময়মনসিংহ'),
}


def _fold(text: str) -> str:
  return unicodedata.normalize('NFKC', text).casefold().strip()


ALIAS_TO_CITY: dict[str, City] = {
    _fold(alias): CITY_BY_ID[city_id] for city_id, aliases in _ALIASES.items() for alias in aliases}

_SPLIT = re.compile(r'[\s,;/|()\-_.]+')
# Free text: split on white space, ASCII punctuation, the Bangla danda and general punctuation.
# Not on \W: Bangla vowel signs are combining marks, which \W would split words at.
_TEXT_SPLIT = re.compile('[\\s!-/:-@\\[-`{-~\u00a0-\u00bf\u0964\u0965\u2000-\u206f]+')
TEXT_SCAN_CHARS = 10_000
# Bangla case endings after a city name, longest first: -এর/-ের 'of', -তে/-য়/-ে 'in'.
_BANGLA_ENDINGS = tuple(sorted((unicodedata.normalize('NFKC', e) for e in
                                ('ের', 'এর', 'র', 'তে', 'য়', 'ে')), key=len, reverse=True))
_SUFFIXES = ('city', 'division', 'district', 'sadar', 'metropolitan', 'metro', 'জেলা', 'বিভাগ')


@functools.lru_cache(maxsize=16384)
def _resolve_one(text: str) -> Optional[City]:
  folded = _fold(text)
  if not folded:
    return None
  city = ALIAS_TO_CITY.get(folded)
  if city is not None:
    return city
  for token in _SPLIT.split(folded):
    if token and token not in _SUFFIXES:
      city = ALIAS_TO_CITY.get(token)
      if city is not None:
        return city
  return None


def resolve_city(candidates: Iterable[Optional[str]]) -> Optional[City]:
  """The first candidate text that names one of the eight cities (aliases, Bangla, 'Dhaka-1207')."""
  for text in candidates:
    if text and isinstance(text, str):
      city = _resolve_one(text[:200])
      if city is not None:
        return city
  return None


_BANGLA_ALIASES = {alias: city for alias, city in ALIAS_TO_CITY.items()
                   if any('\u0980' <= ch <= '\u09ff' for ch in alias)}


def _city_of_word(word: str) -> Optional[City]:
  city = ALIAS_TO_CITY.get(word)
  if city is not None or not word or not '\u0980' <= word[0] <= '\u09ff':
    return city
  for ending in _BANGLA_ENDINGS:
    if word.endswith(ending):
      city = _BANGLA_ALIASES.get(word[:-len(ending)])
      if city is not None:
        return city
  return None


class TextCity(NamedTuple):
  city: Optional[City]      # the one city the text names, else None
  ambiguous: bool           # True when it names two or more


# Prefilters, exact: a word names a city only if it is an alias or a Bangla alias with a case
# ending, so a text in whose folded form no alias occurs even as a substring names no city (two
# thirds of the demo's captions). Found with one linear C scan instead of splitting the text and
# looking every word up. For ASCII text NFKC changes nothing and casefold is lower(), so the
# scan runs on the text itself, case-insensitively, without folding it first.
_ANY_ALIAS = re.compile('|'.join(sorted(map(re.escape, ALIAS_TO_CITY), key=len, reverse=True)))
_ASCII_ALIAS = re.compile('|'.join(sorted((re.escape(a) for a in ALIAS_TO_CITY if a.isascii()),
                                          key=len, reverse=True)), re.IGNORECASE | re.ASCII)
_NO_CITY = TextCity(None, False)


def city_in_text(text: Optional[str]) -> TextCity:
  """The city a free text names (English or Bangla names and aliases), if it names exactly one."""
  if not text:
    return _NO_CITY
  if len(text) <= _CACHED_TEXT_CHARS:
    return _city_in_short_text(text)
  return _city_in_text(text[:TEXT_SCAN_CHARS])


# Short texts repeat ('ইনবক্স চেক করুন', 'price?'): their answers are kept, bounded in number
# and size (4096 texts of at most 300 characters).
_CACHED_TEXT_CHARS = 300


@functools.lru_cache(maxsize=4096)
def _city_in_short_text(text: str) -> TextCity:
  return _city_in_text(text)


def _city_in_text(text: str) -> TextCity:
  if text.isascii():
    if _ASCII_ALIAS.search(text) is None:
      return _NO_CITY
    return _city_of_words(text.lower().strip())
  folded = _fold(text)
  if _ANY_ALIAS.search(folded) is None:
    return _NO_CITY
  return _city_of_words(folded)


def _city_of_words(folded: str) -> TextCity:
  """city_in_text without the prefilters: every word of the folded text looked up."""
  found: dict[int, City] = {}
  for word in _TEXT_SPLIT.split(folded):
    city = _city_of_word(word)
    if city is not None:
      found[city.city_id] = city
  if len(found) == 1:
    return TextCity(next(iter(found.values())), False)
  return TextCity(None, True) if found else _NO_CITY
