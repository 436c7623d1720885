"""Finding and normalizing PII in text: emails, phone numbers (any writing), names.

Pure functions, no keys: PrivacyShield decides what a found value becomes (a keyed token);
`redact` replaces findings with fixed markers for error messages.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable, Iterable, Optional

import phonenumbers

EMAIL_RE = re.compile(r'[\w.+\-%]+@[\w\-]+(?:\.[\w\-]+)+', re.UNICODE)
# A run of digits (any script: \d matches ০-৯) with phone separators, optional leading +.
PHONE_CANDIDATE_RE = re.compile(r'\+?\(?\d[\d\s\-().]{5,}\d')
_DATE_RE = re.compile(r'^\d{4}[-./]\d{1,2}[-./]\d{1,2}$|^\d{1,2}[-./]\d{1,2}[-./]\d{4}$')
_TIME_RANGE_RE = re.compile(r'^\d{1,2}[:.]\d{2}\s*-\s*\d{1,2}[:.]\d{2}$')
_WS_RE = re.compile(r'\s+')
_HAS_DIGIT = re.compile(r'\d')
# Fast path for the common Bangladeshi mobile writings (bd_cities.md): +880 1XNN-NNNNNN, 880…, 01…
_BD_MOBILE_RE = re.compile(r'^(?:\+?880|0)?(1[3-9]\d{8})$')
_PHONE_SEPARATORS = str.maketrans('', '', ' -().\u00a0')
_MIN_PHONE_DIGITS = 7
_MAX_PHONE_DIGITS = 15


def ascii_digits(text: str) -> str:
  """Replaces every Unicode decimal digit (Bangla ০-৯, Arabic-Indic, ...) by its ASCII digit."""
  if text.isascii():
    return text
  return ''.join(str(unicodedata.digit(ch)) if ch.isdigit() and unicodedata.decimal(ch, None) is not None
                 else ch for ch in text)


def normalize_email(value: str) -> str:
  return unicodedata.normalize('NFKC', value).strip().lower()


def normalize_name(value: str) -> str:
  return _WS_RE.sub(' ', unicodedata.normalize('NFKC', value).casefold()).strip()


def is_masked(value: str) -> bool:
  """Platform-masked values such as Daraz's `61****7`: no longer identify anyone."""
  return '*' in value or '•' in value or 'X' * 3 in value.upper()


@functools.lru_cache(maxsize=65536)
def normalize_phone(value: str, region: str = 'BD') -> Optional[str]:
  """E.164 for any common writing (+880…, 880…, 01…, spaces, dashes, Bangla digits).

  Numbers phonenumbers cannot parse fall back to `digits:<ascii digits>` so that the same
  writing still maps to one pseudonym; masked numbers and ones with < 5 digits give None.
  """
  text = ascii_digits(unicodedata.normalize('NFKC', value)).strip()
  if not text or is_masked(text):
    return None
  mobile = _BD_MOBILE_RE.match(text.translate(_PHONE_SEPARATORS)) if region == 'BD' else None
  if mobile:
    return '+880' + mobile.group(1)
  try:
    number = phonenumbers.parse(text, region)
  except phonenumbers.NumberParseException:
    number = None
  if number is not None and phonenumbers.is_possible_number(number):
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
  digits = ''.join(ch for ch in text if ch.isdigit())
  if len(digits) < 5:
    return None
  return f'digits:{digits}'


def _phone_like(candidate: str) -> bool:
  text = ascii_digits(candidate).strip()
  if _DATE_RE.match(text) or _TIME_RANGE_RE.match(text):
    return False
  digits = sum(ch.isdigit() for ch in text)
  return _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS


def _split_candidates(candidate: str) -> Iterable[tuple[int, int]]:
  """(start, end) spans of phone-like parts of a candidate; long runs are split on spaces."""
  if _phone_like(candidate):
    yield 0, len(candidate)
    return
  digits = sum(ch.isdigit() for ch in candidate)
  if digits <= _MAX_PHONE_DIGITS:
    return
  for m in re.finditer(r'\S+', candidate):
    if _phone_like(m.group()):
      yield m.start(), m.end()


def scrub(text: str, email_token: Callable[[str], str], phone_token: Callable[[str], str],
          names: Iterable[str] = (), name_token: Optional[Callable[[str], str]] = None) -> str:
  """Replaces emails, phone numbers and the given names in `text` by tokens.

  email_token/phone_token receive the normalized value (lowercased email / E.164 phone).
  """
  if not text:
    return text
  if '@' in text:
    text = EMAIL_RE.sub(lambda m: email_token(normalize_email(m.group())), text)
  if _HAS_DIGIT.search(text):
    text = PHONE_CANDIDATE_RE.sub(lambda m: _replace_phones(m.group(), phone_token), text)
  if name_token is not None and names:
    folded = text.casefold()
    for name in names:
      if name and len(name) >= 3 and _name_may_occur(name, folded):
        text = _name_pattern(name).sub(lambda m: name_token(normalize_name(m.group())), text)
        folded = text.casefold()
  return text


def _name_may_occur(name: str, folded_text: str) -> bool:
  """Cheap pre-check: every word of the name occurs somewhere in the text."""
  return all(part in folded_text for part in name.casefold().split())


@functools.lru_cache(maxsize=65536)
def _name_pattern(name: str) -> 're.Pattern[str]':
  return re.compile(r'\s+'.join(re.escape(part) for part in name.split()), re.IGNORECASE)


def _replace_phones(candidate: str, phone_token: Callable[[str], str]) -> str:
  spans = list(_split_candidates(candidate))
  if not spans:
    return candidate
  out, last = [], 0
  for start, end in spans:
    out.append(candidate[last:start])
    normalized = normalize_phone(candidate[start:end]) or 'digits:' + ''.join(
        c for c in ascii_digits(candidate[start:end]) if c.isdigit())
    out.append(phone_token(normalized))
    last = end
  out.append(candidate[last:])
  return ''.join(out)


def redact(text: str) -> str:
  """Fixed markers instead of tokens: for error messages that must carry no PII."""
  return scrub(text, lambda _: '[EMAIL]', lambda _: '[PHONE]')
