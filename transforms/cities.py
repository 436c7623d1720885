"""The eight divisional cities of Bangladesh, and resolving free-written locations to them.

Ids are OpenWeather city ids (= GeoNames ids); Dhaka, Khulna and Rajshahi are confirmed from
real API responses, the other five are GeoNames ids not yet checked against the live API
(tests/unit/data/bd_cities.md). Lookups key on our id, never on the name OpenWeather returns.
"""
from __future__ import annotations

import dataclasses
import functools
import re
import unicodedata
from typing import Iterable, Optional


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
