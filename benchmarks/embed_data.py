"""Demo texts for the embedding benchmark, the quality gate and the retrieval evaluation.

The texts are what EmbedRecords embeds: demo-generator events (agents.demo) parsed and scrubbed by
the pipeline's own functions (validate.parse_raw, the privacy shields), then `embedding_text`.
Each text carries its language and, where the caption names a product, the product category;
the category is what the retrieval evaluation calls relevant.
"""
from __future__ import annotations

import datetime
import hashlib
import re
from typing import NamedTuple, Optional

from agents import demo_data as D

# A fixed pseudonym key for scrubbing demo texts (not a secret: the texts are synthetic).
_SCRUB_KEY = hashlib.sha256(b'millionx-embed-eval').hexdigest().encode()
_BENGALI = re.compile('[\u0980-\u09e5\u09f0\u09f1]')   # letters and signs; not digits or ৳
_LATIN = re.compile('[A-Za-z]{3,}')
_PLACEHOLDER = re.compile(r'\[[A-Z_]{2,20}:[0-9a-f]{6,64}\]')   # the privacy stage's [PHONE:…] tokens
_CATEGORY_BY_WORD = {}
for _category, _bn, _titles in D.PRODUCTS:
  _CATEGORY_BY_WORD[_bn] = _category
  for _title in _titles:
    _CATEGORY_BY_WORD[_title] = _category
# Longest first, so a title wins over a shorter title inside it.
_CATEGORY_WORDS = sorted(_CATEGORY_BY_WORD, key=len, reverse=True)
CATEGORIES = tuple(c for c, _, _ in D.PRODUCTS)

# Retrieval queries per category, in English and in Bangla (what a user might type).
QUERIES = {
    'Mobile Accessories': (('en', 'fast phone charger and power bank'),
                           ('en', 'wireless earbuds and phone cover offer'),
                           ('bn', 'মোবাইল চার্জার অফার'), ('bn', 'ফোনের চার্জার কিনুন')),
    'Electronics': (('en', 'rechargeable fan and LED bulb'), ('en', 'smart watch bluetooth speaker'),
                    ('bn', 'ইলেকট্রনিক্স পণ্য অফার'), ('bn', 'নতুন ইলেকট্রনিক্স স্টকে আছে')),
    'Fashion > Saree': (('en', 'eid saree offer'), ('en', 'jamdani silk saree'),
                        ('bn', 'শাড়ি অফার'), ('bn', 'ঈদের নতুন শাড়ি')),
    'Fashion > Panjabi': (('en', 'eid panjabi for men'), ('en', 'embroidered cotton panjabi'),
                          ('bn', 'পাঞ্জাবি অফার'), ('bn', 'ঈদের পাঞ্জাবি কালেকশন')),
    'Groceries': (('en', 'rice, oil and lentils grocery delivery'), ('en', 'fresh hilsa fish'),
                  ('bn', 'মুদি বাজার হোম ডেলিভারি'), ('bn', 'মুদি পণ্য অর্ডার')),
    'Beauty': (('en', 'face wash and sunscreen'), ('en', 'herbal hair oil beauty products'),
               ('bn', 'বিউটি পণ্য অফার'), ('bn', 'বিউটি প্রোডাক্ট স্টকে আছে')),
    'Home & Kitchen': (('en', 'rice cooker and pressure cooker'), ('en', 'non-stick fry pan kitchen'),
                       ('bn', 'গৃহস্থালি পণ্য অফার'), ('bn', 'রান্নাঘরের গৃহস্থালি জিনিস')),
}


class DemoText(NamedTuple):
  text: str
  language: str            # en, bn (any Bengali script), mixed (Bengali and Latin words)
  category: Optional[str]  # the product category the text names, if any
  kind: str                # post or order


def language_of(text: str) -> str:
  words = _PLACEHOLDER.sub(' ', text.split('#')[0])
  bengali = bool(_BENGALI.search(words))
  latin = bool(_LATIN.search(words))
  if bengali and latin:
    return 'mixed'
  return 'bn' if bengali else 'en'


def category_of(text: str) -> Optional[str]:
  """The one product category the text names (None: none, or several, as in some orders)."""
  found = set()
  for word in _CATEGORY_WORDS:
    if word in text:
      found.add(_CATEGORY_BY_WORD[word])
      text = text.replace(word, ' ')
  return found.pop() if len(found) == 1 else None


def demo_texts(events: int = 4000, seed: int = 7, distinct: bool = True) -> list[DemoText]:
  """Scrubbed embedding texts of `events` demo events (posts and orders), in generation order."""
  from agents import demo
  from schemas.envelope import RawRecord
  from schemas.normalized import SocialPost
  from transforms.embed import embedding_text
  from transforms.normalize import NORMALIZERS as _SHIELDS
  from transforms.privacy import Shield
  from transforms.validate import parse_raw

  data = demo.generate(seed=seed, events=events, malformed_share=0.0)
  shield = Shield(_SCRUB_KEY)
  now = datetime.datetime(2026, 11, 28, 12, 0, tzinfo=datetime.timezone.utc)
  out, seen = [], set()
  for i, e in enumerate(data.events):
    source = dict(e.headers)['source'].decode()
    if source in ('openweather', 'catalog'):
      continue
    raw = RawRecord(source, e.topic, 0, i, 1_764_000_000_000, e.key, e.value, e.headers)
    valid = parse_raw(raw, 2 * 1024 * 1024)
    for record in _SHIELDS[type(valid.model)](shield, valid, valid.model, now):
      text = embedding_text(record)
      if not text or (distinct and text in seen):
        continue
      seen.add(text)
      kind = 'post' if isinstance(record, SocialPost) else 'order'
      out.append(DemoText(text, language_of(text), category_of(text), kind))
  return out


# ---- figures -----------------------------------------------------------------------------------

def cosine_and_overlap(reference, vectors, k: int = 10) -> tuple[float, float, float]:
  """(mean cosine, min cosine, mean top-k neighbour overlap) of `vectors` against `reference`.

  Both are (n, d) arrays of normalized vectors for the same n texts. A text's neighbours are the
  k other texts most similar to it; the overlap is the share of the reference's k found by the
  other vectors, averaged over the texts.
  """
  import numpy as np
  reference = np.asarray(reference, dtype=np.float32)
  vectors = np.asarray(vectors, dtype=np.float32)
  cosines = (reference * vectors).sum(axis=1)
  overlaps = []
  for start in range(0, len(reference), 512):   # blocks of rows: memory stays small
    rows = slice(start, start + 512)
    sim_ref, sim_vec = reference[rows] @ reference.T, vectors[rows] @ vectors.T
    for i in range(sim_ref.shape[0]):
      sim_ref[i, start + i] = sim_vec[i, start + i] = -np.inf   # a text is not its own neighbour
    top_ref = np.argpartition(-sim_ref, k, axis=1)[:, :k]
    top_vec = np.argpartition(-sim_vec, k, axis=1)[:, :k]
    overlaps.extend(len(set(a) & set(b)) / k for a, b in zip(top_ref, top_vec))
  return float(cosines.mean()), float(cosines.min()), float(np.mean(overlaps))


class RetrievalFigures(NamedTuple):
  precision: float   # mean precision@k over the queries
  recall: float      # mean recall@k
  queries: int


def retrieval_figures(post_vectors, post_categories, query_vectors, query_categories,
                      k: int = 10) -> RetrievalFigures:
  """precision@k / recall@k of nearest-vector search: relevant = posts of the query's category
  (recall@k = relevant found in the top k / all relevant, so with more than k relevant posts it
  cannot reach 1)."""
  import numpy as np
  posts = np.asarray(post_vectors, dtype=np.float32)
  precisions, recalls = [], []
  for vector, category in zip(np.asarray(query_vectors, dtype=np.float32), query_categories):
    relevant = sum(1 for c in post_categories if c == category)
    top = np.argsort(-(posts @ vector), kind='stable')[:k]
    hits = sum(1 for i in top if post_categories[i] == category)
    precisions.append(hits / k)
    recalls.append(hits / relevant if relevant else 0.0)
  return RetrievalFigures(float(np.mean(precisions)), float(np.mean(recalls)), len(precisions))


def evaluation_corpus(texts: list[DemoText], per_category: int = 12,
                      distractors: int = 120) -> list[DemoText]:
  """The posts searched in the retrieval evaluation: for each category `per_category` posts that
  name it, half in Latin script (English, Banglish) and half in Bengali script where the demo
  has them, plus `distractors` posts that name no product (traffic, weather, comments)."""
  posts = [t for t in texts if t.kind == 'post']
  corpus = []
  for category in CATEGORIES:
    named = [t for t in posts if t.category == category]
    latin = [t for t in named if t.language == 'en'][:per_category // 2]
    bengali = [t for t in named if t.language != 'en'][:per_category - len(latin)]
    corpus += latin + bengali
  corpus += [t for t in posts if t.category is None][:distractors]
  return corpus


def evaluation_queries(language: Optional[str] = None) -> list[tuple[str, str, str]]:
  """(category, language, query) for every retrieval query, optionally of one language."""
  return [(category, lang, query) for category, queries in QUERIES.items()
          for lang, query in queries if language in (None, lang)]
