"""Finding and normalizing PII in text: emails, phone numbers (any writing), street addresses,
@handles and the record's own names.

Pure functions, no keys: PrivacyShield decides what a found value becomes (a keyed token);
`redact` replaces findings with fixed markers for error messages.

Every scan is linear in the text: the patterns have bounded quantifiers and no nested unbounded
repetition, emails are found from their '@' outwards, names with str.find, and free text is cut
to MAX_TEXT_CHARS (and each record's texts together to MAX_RECORD_TEXT_CHARS) before scanning.
What is not found: names of third parties (no dictionary or NER), obfuscated writings ("rahim
at gmail dot com", digits spelled out), numbers split by letters or commas.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from typing import Callable, Iterable, NamedTuple, Optional

import phonenumbers

# Caps on what is scanned (README, privacy section). A text is cut at MAX_TEXT_CHARS, minus any
# partial word at the cut; a record's texts together at MAX_RECORD_TEXT_CHARS (later ones lose
# what earlier ones used). Names: the first MAX_NAMES distinct ones of a record.
MAX_TEXT_CHARS = 4096
MAX_RECORD_TEXT_CHARS = 16384
MAX_NAMES = 64
MAX_NAME_CHARS = 128
MAX_FIELD_CHARS = 256           # an email / phone / name field is normalized from this many chars

EMAIL, PHONE, ADDRESS, HANDLE, NAME = 'EMAIL', 'PHONE', 'ADDRESS', 'HANDLE', 'NAME'

_WS_RE = re.compile(r'\s+')
_HAS_DIGIT = re.compile(r'\d')
# Fast path for the common Bangladeshi mobile writings (bd_cities.md): +880 1XNN-NNNNNN, 880…, 01…
_BD_MOBILE_RE = re.compile(r'^(?:\+?880|0)?(1[3-9]\d{8})$')
_PHONE_SEPARATORS = str.maketrans('', '', ' -().\u00a0')


class Finding(NamedTuple):
  start: int
  end: int
  kind: str           # EMAIL | PHONE | ADDRESS | HANDLE | NAME
  normalized: str     # what the token is keyed on


# --- normalizing single values ------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _digit_table() -> dict:
  """Every Unicode decimal digit (Nd: Bangla ০-৯, Arabic-Indic, full-width, ...) → ASCII."""
  return {cp: ord('0') + unicodedata.decimal(chr(cp)) for cp in range(0x80, 0x20000)
          if unicodedata.decimal(chr(cp), None) is not None}


@functools.lru_cache(maxsize=1)
def _non_ascii_digit_runs() -> 're.Pattern[str]':
  """Runs of non-ASCII decimal digits (a character class built from the table, in ranges)."""
  points = sorted(_digit_table())
  ranges, start = [], points[0]
  for prev, cp in zip(points, points[1:] + [None]):
    if cp != prev + 1:
      ranges.append(f'{re.escape(chr(start))}-{re.escape(chr(prev))}' if prev > start
                    else re.escape(chr(start)))
      start = cp
  return re.compile(f'[{"".join(ranges)}]+')


def ascii_digits(text: str) -> str:
  """Replaces every Unicode decimal digit (Bangla ০-৯, Arabic-Indic, ...) by its ASCII digit.

  Same length, same offsets. Only the digit runs go through str.translate (a translate of the
  whole text looks every character up in a 650-entry table)."""
  if text.isascii():
    return text
  table = _digit_table()
  return _non_ascii_digit_runs().sub(lambda m: m.group().translate(table), text)


def normalize_email(value: str) -> str:
  return unicodedata.normalize('NFKC', value[:MAX_FIELD_CHARS]).strip().lower()


def normalize_name(value: str) -> str:
  return _WS_RE.sub(' ', unicodedata.normalize('NFKC', value[:MAX_FIELD_CHARS]).casefold()).strip()


def is_masked(value: str) -> bool:
  """Platform-masked values such as Daraz's `61****7`: no longer identify anyone."""
  return '*' in value or '•' in value or 'X' * 3 in value.upper()


@functools.lru_cache(maxsize=65536)
def normalize_phone(value: str, region: str = 'BD') -> Optional[str]:
  """E.164 for any common writing (+880…, 880…, 01…, spaces, dashes, Bangla digits).

  Numbers phonenumbers cannot parse fall back to `digits:<ascii digits>` so that the same
  writing still maps to one pseudonym; masked numbers and ones with < 5 digits give None.
  """
  text = ascii_digits(unicodedata.normalize('NFKC', value[:MAX_FIELD_CHARS])).strip()
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


# --- emails and @handles: found from each '@' outwards ------------------------------------------

_LOCAL_PART_REV = re.compile(r'[\w.+\-%]{1,64}')           # matched on the reversed text before '@'
_DOMAIN = re.compile(r'[\w\-]{1,63}(?:\.[\w\-]{1,63}){1,8}')
_HANDLE = re.compile(r'[A-Za-z0-9_](?:[A-Za-z0-9_.]{0,28}[A-Za-z0-9_])?')


def _emails_and_handles(text: str, out: list) -> None:
  at = text.find('@')
  while at != -1:
    local = _LOCAL_PART_REV.match(text[max(0, at - 64):at][::-1])
    if local is not None:
      domain = _DOMAIN.match(text, at + 1)
      if domain is not None:
        start = at - len(local.group().rstrip('.'))   # no leading dots ("...rahim@x.com")
        if start < at:
          out.append(Finding(start, domain.end(), EMAIL,
                             normalize_email(text[start:domain.end()])))
          at = text.find('@', domain.end())
          continue
    else:
      handle = _HANDLE.match(text, at + 1)
      if handle is not None and handle.end() - at > 2:
        out.append(Finding(at, handle.end(), HANDLE, handle.group().casefold()))
    at = text.find('@', at + 1)


# --- phone numbers ------------------------------------------------------------------------------

# What people put between the digits of a number: spaces of every kind (\s includes NBSP), ASCII
# and Unicode dashes (hyphen … horizontal bar, minus, small/full-width hyphen-minus, soft hyphen),
# dots, slashes, parentheses, plus, and invisible zero-width characters.
_SEPARATOR_CHARS = ('\\s\\-./()+\u00ad\u2010-\u2015\u2043\u2212\ufe58\ufe63\uff0d'
                    '\u200b-\u200d\u2060\ufeff')
_TIGHT_SEPARATOR_CHARS = ('\\-./()\u00ad\u2010-\u2015\u2043\u2212\ufe58\ufe63\uff0d'
                          '\u200b-\u200d\u2060\ufeff')
_S = f'[{_SEPARATOR_CHARS}]{{0,4}}'          # up to 4 separator characters between two digits
_T = f'[{_TIGHT_SEPARATOR_CHARS}]{{0,2}}'    # the same without spaces, at most 2
# The patterns run on the text with every Unicode digit made ASCII (same length, same offsets).
# Each is linear: separators and digits are disjoint classes and every quantifier is bounded, so
# one start position costs a bounded number of steps.
#   A Bangladeshi mobile in any grouping: (880|+88 0)? 0? 1[3-9] and 8 digits.
_BD_MOBILE = re.compile(
    rf'(?<![0-9])(?:8{_S}8{_S}0{_S}(?:0{_S})?|0{_S})?1{_S}[3-9](?:{_S}[0-9]){{8}}(?![0-9])')
#   International: +CC… or 00CC…, 7-15 digits.
_INTERNATIONAL = re.compile(
    rf'(?:\+{_S}|(?<![0-9])00{_S})[1-9](?:{_S}[0-9]){{6,14}}(?![0-9])')
#   A national number with its trunk 0 (landlines 02-9123456, 031 123456): 9-11 digits.
_TRUNK = re.compile(rf'(?<![0-9])0{_S}[1-9](?:{_S}[0-9]){{7,9}}(?![0-9])')
#   One tight token of 7-15 digits (555-625-1199, 94236248): no spaces inside.
_TIGHT = re.compile(rf'(?<![0-9])[0-9](?:{_T}[0-9]){{6,14}}(?![0-9])')
# Masked before looking for numbers: dates (2024-04-10, 10/04/2024) and time ranges (10:30-18:00).
_DATE_OR_TIME = re.compile(
    r'(?<![0-9])(?:[0-9]{4}([-./])[0-9]{1,2}\1[0-9]{1,2}|[0-9]{1,2}([-./])[0-9]{1,2}\2[0-9]{4}'
    r'|[0-9]{1,2}[:.][0-9]{2}\s?[-\u2013\u2014]\s?[0-9]{1,2}[:.][0-9]{2})(?![0-9])')
_PRICE_TAIL = re.compile(r'\.[0-9]{1,2}$')
_NOT_DIGITS = re.compile(r'[^0-9]+')
_CURRENCY_BEFORE = re.compile(r'(?:[৳$€£₹]|(?<![^\W\d_])(?:tk|bdt|rs|taka|usd|টাকা)\.?)\s?$',
                              re.IGNORECASE)
_CURRENCY_AFTER = re.compile(r'\s?(?:[৳$%]|/-|(?:tk|bdt|taka|usd|টাকা)(?![^\W\d_]))',
                             re.IGNORECASE)
_MIN_PHONE_DIGITS = 7
_MASK = '\x00'                                 # neither digit, separator nor word character


def _is_word_char(ch: str) -> bool:
  return ch.isalnum() or ch == '_' or unicodedata.category(ch)[0] == 'M'


def _looks_like_code_or_amount(text: str, start: int, end: int) -> bool:
  """A number glued to letters (SKU-1234567, 1234567-ABC) or next to a currency (৳1500000)."""
  if start > 0:
    before = text[start - 1]
    if _is_word_char(before) or (before in '-_#/' and start > 1 and _is_word_char(text[start - 2])):
      return True
    if _CURRENCY_BEFORE.search(text, max(0, start - 6), start):
      return True
  if end < len(text):
    after = text[end]
    if _is_word_char(after) or (after in '-_' and end + 1 < len(text)
                                and _is_word_char(text[end + 1])):
      return True
    if _CURRENCY_AFTER.match(text, end):
      return True
  return False


def _masked(text: str, spans: list) -> str:
  if not spans:
    return text
  out, last = [], 0
  for start, end in spans:
    out.append(text[last:start])
    out.append(_MASK * (end - start))
    last = end
  out.append(text[last:])
  return ''.join(out)


def _digits(text: str) -> str:
  return _NOT_DIGITS.sub('', text)


def _span_start(text: str, start: int, end: int) -> int:
  """With a '+' right before the number, and an opening '(' that closes inside it."""
  if start > 0 and text[start - 1] == '+':
    start -= 1
  if start > 0 and text[start - 1] == '(' and ')' in text[start:end]:
    start -= 1
  return start


# A run of digits (any script) joined by separators: every number lies inside one. Linear: each
# repetition consumes a digit, a failed one backtracks over at most 4 characters.
_DIGIT_RUN = re.compile(rf'\d(?:[{_SEPARATOR_CHARS}]{{0,4}}\d)*')
_RUN_CONTEXT = 8          # characters around a run that the checks below look at


def _phones(text: str, out: list) -> None:
  """Phone numbers, looked for only inside the runs of digits long enough to hold one, each run
  with _RUN_CONTEXT characters around it (what the span, code and currency checks read)."""
  for run in _DIGIT_RUN.finditer(text):
    a, b = run.span()
    if b - a < _MIN_PHONE_DIGITS:
      continue
    lo, hi = max(0, a - _RUN_CONTEXT), min(len(text), b + _RUN_CONTEXT)
    found: list = []
    _phones_in(ascii_digits(text[lo:hi]), found)
    for f in found:
      if f.start < b - lo and f.end > a - lo:        # the run's own numbers, not the context's
        out.append(Finding(f.start + lo, f.end + lo, f.kind, f.normalized))


def _phones_in(scan: str, out: list) -> None:
  """The phone patterns in priority order, each on the text with the previous ones' numbers (and
  dates, time ranges) masked."""
  scan = _masked(scan, [m.span() for m in _DATE_OR_TIME.finditer(scan)])
  taken = []
  for m in _BD_MOBILE.finditer(scan):
    digits = _digits(m.group())
    national = digits[-10:]
    out.append(Finding(_span_start(scan, m.start(), m.end()), m.end(), PHONE, '+880' + national))
    taken.append(m.span())
  if taken:
    scan = _masked(scan, taken)
    taken = []
  if '+' in scan or '00' in scan:
    for m in _INTERNATIONAL.finditer(scan):
      digits = _digits(m.group())
      core = digits[2:] if m.group()[0] != '+' else digits
      out.append(Finding(_span_start(scan, m.start(), m.end()), m.end(), PHONE, '+' + core))
      taken.append(m.span())
    if taken:
      scan = _masked(scan, taken)
      taken = []
  for m in _TRUNK.finditer(scan):
    if not _looks_like_code_or_amount(scan, m.start(), m.end()):
      out.append(Finding(_span_start(scan, m.start(), m.end()), m.end(), PHONE,
                         '+880' + _digits(m.group())[1:]))
      taken.append(m.span())
  if taken:
    scan = _masked(scan, taken)
  for m in _TIGHT.finditer(scan):
    if _PRICE_TAIL.search(m.group()) or _looks_like_code_or_amount(scan, m.start(), m.end()):
      continue
    out.append(Finding(_span_start(scan, m.start(), m.end()), m.end(), PHONE,
                       'digits:' + _digits(m.group())))


# --- street addresses ---------------------------------------------------------------------------

_BA_RI = '(?:\u09a1\u09bc|\u09dc)'              # ড় written precomposed or with a nukta
_ADDRESS_KEYWORDS = '|'.join([
    'house', 'road', 'rd', 'flat', 'apartment', 'apt', 'block', 'sector', 'plot', 'lane',
    'avenue', 'ave', 'holding', 'section', 'bari', 'basa',
    f'বা{_BA_RI}(?:ি|ী)', 'বাসা', 'রোড', f'স{_BA_RI}ক', 'ফ্ল্যাট', 'ব্লক', 'সেক্টর', 'প্লট', 'লেন',
    'হোল্ডিং', 'গলি', 'সেকশন'])
# The unit's id: 12, 7B, 91/B, 12-A, A2; a single letter (Block C) only beside a numbered part.
_ADDRESS_ID = (r'(?:\d{1,5}(?!\d)(?:[A-Za-z](?![A-Za-z]))?(?:\s?[/\-]\s?[0-9A-Za-z]{1,4}(?![\w]))?'
               r'(?!\s{0,2}(?:%|percent|tk\b|taka|bdt|৳|টাকা|off\b))'
               r'|[A-Za-z]\d{0,4}(?![\w]))')
_ADDRESS_PART = (rf'(?:{_ADDRESS_KEYWORDS})(?![^\W\d_])\.?[ \t\u00a0]{{0,3}}'
                 rf'(?:(?:no|নং|নম্বর)\.?[ \t\u00a0]{{0,3}})?(?:[#:\-][ \t\u00a0]{{0,2}})?{_ADDRESS_ID}')
_ADDRESS = re.compile(rf'(?<!\w){_ADDRESS_PART}(?:[ \t\u00a0]{{0,3}}[,;]?[ \t\u00a0]{{0,3}}{_ADDRESS_PART}){{0,7}}',
                      re.IGNORECASE)


# The same pattern without the leading lookbehind, on the lowercased text, case-sensitive: re then
# skips to the keywords' first letters (~5x faster); the word boundary is checked on each match.
_ADDRESS_LOWER = re.compile(
    rf'{_ADDRESS_PART}(?:[ \t\u00a0]{{0,3}}[,;]?[ \t\u00a0]{{0,3}}{_ADDRESS_PART}){{0,7}}')


def _addresses(text: str, out: list) -> None:
  lowered = text.lower()
  if len(lowered) != len(text):       # İ → i̇: offsets would shift; the case-insensitive pattern
    for m in _ADDRESS.finditer(text):
      if _HAS_DIGIT.search(m.group()):
        out.append(Finding(m.start(), m.end(), ADDRESS, normalize_name(m.group())))
    return
  m = _ADDRESS_LOWER.search(lowered)
  while m is not None:
    start = m.start()
    if start > 0 and _WORD_BEFORE.match(lowered, start - 1):
      m = _ADDRESS_LOWER.search(lowered, start + 1)  # inside a word: try again just after
      continue
    if _HAS_DIGIT.search(m.group()):
      out.append(Finding(start, m.end(), ADDRESS, normalize_name(text[start:m.end()])))
    m = _ADDRESS_LOWER.search(lowered, m.end())


_WORD_BEFORE = re.compile(r'\w')


# --- names --------------------------------------------------------------------------------------

# A word: letters, digits, '_', combining marks and joiners (Bangla vowel signs, ZWJ/ZWNJ), and
# the Indic blocks except the danda punctuation. Names match whole words only.
_WORD = re.compile(r'(?:[\w\u0300-\u036f\u200c\u200d]|[\u0900-\u0963\u0966-\u0dff])+')
_MAX_NAME_WORDS = 6
_MAX_NAME_GAP = 4                # characters between two words of a name in the text


@functools.lru_cache(maxsize=65536)
def _name_words(name: str) -> Optional[tuple]:
  """(normalized name, ((gap, word), ...)) of a name worth searching for, else None: at most
  _MAX_NAME_WORDS words, one of them at least 3 characters long."""
  folded = normalize_name(name[:MAX_NAME_CHARS])
  words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded)]
  if not words or len(words) > _MAX_NAME_WORDS or max(len(w) for w, _, _ in words) < 3:
    return None
  keys = [words[0][0]] + [(_gap_key(folded[words[k - 1][2]:words[k][1]]), words[k][0])
                          for k in range(1, len(words))]
  return folded, tuple(keys)


def _gap_key(gap: str) -> str:
  return _WS_RE.sub(' ', gap)


class NameSet:
  """The names of one record, prepared once as a trie of their casefolded words.

  A name matches whole words of the text, whatever their case, with the same punctuation
  between its words (any run of whitespace counting as one space); where names overlap the
  longest wins. Cost: one pass over the text's words, each followed at most _MAX_NAME_WORDS deep
  into the trie, so it does not grow with the number of names (at most MAX_NAMES).
  """
  __slots__ = ('_trie', '_firsts')

  def __init__(self, names: Iterable[Optional[str]] = ()):
    trie: dict = {}            # key -> [normalized name or None, {key: node}]
    count = 0
    for name in names:
      if not name or not isinstance(name, str):
        continue
      parsed = _name_words(name)
      if parsed is None:
        continue
      normalized, keys = parsed
      children, node = trie, None
      for key in keys:
        node = children.get(key)
        if node is None:
          node = children[key] = [None, {}]
        children = node[1]
      if node[0] is None:
        node[0] = normalized
        count += 1
        if count >= MAX_NAMES:
          break
    self._trie = trie
    self._firsts = tuple(trie)

  def __bool__(self) -> bool:
    return bool(self._trie)

  def find(self, text: str, out: list) -> None:
    if not self._trie:
      return
    folded = text.casefold()
    for first in self._firsts:
      if first in folded:
        break
    else:
      return                          # the common case: no name's first word occurs at all
    index = None
    if len(folded) != len(text):      # ß → ss, İ → i̇: map folded offsets back to the text
      folded, index = _fold_with_index(text)
    words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(folded)]
    trie, n, i = self._trie, len(words), 0
    while i < n:
      node = trie.get(words[i][0])
      if node is None:
        i += 1
        continue
      best = (i, node[0]) if node[0] is not None else None
      j, children = i, node[1]
      while children and j + 1 < n:
        gap = folded[words[j][2]:words[j + 1][1]]
        if len(gap) > _MAX_NAME_GAP:
          break
        node = children.get((_gap_key(gap), words[j + 1][0]))
        if node is None:
          break
        j += 1
        if node[0] is not None:
          best = (j, node[0])
        children = node[1]
      if best is None:
        i += 1
        continue
      j, normalized = best
      start, stop = words[i][1], words[j][2]
      if index is not None:
        start, stop = index[start], index[stop - 1] + 1
      out.append(Finding(start, stop, NAME, normalized))
      i = j + 1


def _fold_with_index(text: str):
  pieces, index = [], []
  for k, ch in enumerate(text):
    f = ch.casefold()
    pieces.append(f)
    index.extend([k] * len(f))
  return ''.join(pieces), index


# --- one text, one record -----------------------------------------------------------------------

@functools.lru_cache(maxsize=16384)
def _pattern_findings_cached(text: str) -> tuple:
  return _pattern_findings(text)


def _pattern_findings(text: str) -> tuple:
  """Emails, handles, phones and addresses (everything that does not depend on the record)."""
  out: list = []
  if '@' in text:
    _emails_and_handles(text, out)
  if _HAS_DIGIT.search(text):
    _phones(text, out)
    _addresses(text, out)
  return tuple(out)


def find_pii(text: str, names: Optional[NameSet] = None) -> list:
  """Non-overlapping findings in text order; where two overlap the earlier (then longer) wins."""
  found = _pattern_findings_cached(text) if len(text) <= 512 else _pattern_findings(text)
  if names:
    found = list(found)
    names.find(text, found)
  return _non_overlapping(found) if len(found) > 1 else found


def _non_overlapping(found) -> list:
  found = sorted(found, key=lambda f: (f.start, -f.end))
  kept, end = [], -1
  for f in found:
    if f.start >= end:
      kept.append(f)
      end = f.end
  return kept


def cut(text: str, limit: int) -> str:
  """text cut to `limit` characters, without a partial word or number at the cut."""
  if len(text) <= limit:
    return text
  keep = limit
  stop = max(0, limit - 64)
  if not text[limit].isspace():
    while keep > stop and not text[keep - 1].isspace():
      keep -= 1
  while keep > stop and (text[keep - 1].isspace() or _DIGIT_RUN_CHAR.match(text[keep - 1])):
    keep -= 1
  return text[:keep]


_DIGIT_RUN_CHAR = re.compile(rf'[\d{_SEPARATOR_CHARS}]')
Token = Callable[[str, str], str]           # (kind, normalized) → replacement


def scrub(text: str, token: Token, names: Optional[NameSet] = None,
          limit: int = MAX_TEXT_CHARS) -> str:
  """text (cut to `limit`) with every finding replaced by token(kind, normalized)."""
  if not text:
    return text
  if len(text) > limit:
    text = cut(text, limit)
  found = find_pii(text, names)
  return _replaced(text, found, token) if found else text


def _replaced(text: str, found, token: Token) -> str:
  out, last = [], 0
  for f in found:
    out.append(text[last:f.start])
    out.append(token(f.kind, f.normalized))
    last = f.end
  out.append(text[last:])
  return ''.join(out)


@functools.lru_cache(maxsize=16384)
def _name_set(names: tuple) -> NameSet:
  """NameSets are immutable once built; a record's names often repeat (the same customer)."""
  return NameSet(names)


class RecordScrubber:
  """Scrubs the free texts of one record: its names prepared once, its texts sharing one budget
  of MAX_RECORD_TEXT_CHARS (each text also capped at MAX_TEXT_CHARS). `truncations` counts the
  texts that were cut."""
  __slots__ = ('_token', '_names', '_budget', 'truncations')

  def __init__(self, token: Token, names: Iterable[Optional[str]] = (),
               budget: int = MAX_RECORD_TEXT_CHARS):
    self._token = token
    self._names = _name_set(tuple(names))
    self._budget = budget
    self.truncations = 0

  def __call__(self, text: Optional[str]) -> str:
    if not text:
      return ''
    budget = self._budget
    limit = MAX_TEXT_CHARS if budget > MAX_TEXT_CHARS else budget
    n = len(text)
    if n > limit:
      self.truncations += 1
      self._budget = budget - limit
      return scrub(text, self._token, self._names, limit)
    # scrub() written out for a text within its limit (nearly every text): two calls fewer.
    self._budget = budget - n
    found = _pattern_findings_cached(text) if n <= 512 else _pattern_findings(text)
    names = self._names
    if names:
      found = list(found)
      names.find(text, found)
    if not found:
      return text
    return _replaced(text, _non_overlapping(found) if len(found) > 1 else found, self._token)


def redact(text: str) -> str:
  """Fixed markers instead of tokens: for error messages that must carry no PII."""
  return scrub(text, lambda kind, _: f'[{kind}]', limit=len(text) if text else 0)
