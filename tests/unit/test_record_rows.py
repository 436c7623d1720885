"""to_row's generated per-class functions and evolve's slot writes give exactly what a plain walk
over the dataclass fields and dataclasses.replace give, for every record type and field kind."""
import base64
import dataclasses
import datetime
import decimal
import json

import pytest

from schemas.normalized import (DeadLetter, Lineage, MarketOrder, OrderLine, Product, Pseudonym,
                                SocialPost, Weather, evolve, to_row)

UTC = datetime.timezone.utc
T = datetime.datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)


def _walk(value):
  """The reference: the field-by-field walk to_row replaced."""
  if dataclasses.is_dataclass(value):
    return {f.name: _walk(getattr(value, f.name)) for f in dataclasses.fields(value)}
  if isinstance(value, datetime.datetime):
    return value.isoformat()
  if isinstance(value, decimal.Decimal):
    return str(value)
  if isinstance(value, bytes):
    return base64.b64encode(value).decode('ascii')
  if isinstance(value, (list, tuple)):
    return [_walk(v) for v in value]
  if isinstance(value, dict):
    return {k: _walk(v) for k, v in value.items()}
  return value


def _records():
  lineage = Lineage('raw.x', 1, 2, 3, fetched_at=T)
  weather = Weather(1185241, 'Dhaka', T, temp_c=29.5, humidity_pct=80.0, condition='Rain')
  product = Product('SKU-1', '9', 'Saree', 'Fashion', 'Aarong', decimal.Decimal('1299.00'), T)
  pseudonym = Pseudonym('ab' * 16, 'k1')
  post = SocialPost('e1', 'tiktok', 'video', '7', T, T, lineage, text='হ্যালো', hashtags=('a', 'ঢাকা'),
                    author=pseudonym, like_count=2 ** 63 - 1, weather=weather, flags=('x',),
                    embedding=tuple(i / 7 for i in range(384)), embedding_model='m')
  bare_post = SocialPost('e2', 'facebook', 'comment', '8', T, T, Lineage('raw.y', 0, 0, 0))
  order = MarketOrder('e3', 'shopify', '5', T, T, lineage, updated_at=T,
                      total_price=decimal.Decimal('1E+3'), item_count=2,
                      lines=(OrderLine('1', 'SKU-1', '9', 'Saree', 1, decimal.Decimal('0.10'),
                                       product=product),
                             OrderLine('2', None, None, None, 1, None)),
                      customer=pseudonym, email=pseudonym, weather=weather, flags=('y', 'z'),
                      customer_name=pseudonym)
  dead = DeadLetter('d1', 'validate', 'ValueError', 'm', 'tiktok', 'raw.x', 0, 1, 2, T,
                    'kafka-message', 'k', b'\x00\xffsealed', event_id='e1')
  return [post, bare_post, order, dead, lineage, weather, product, pseudonym]


@pytest.mark.parametrize('record', _records(), ids=lambda r: type(r).__name__)
def test_to_row_is_the_field_walk(record):
  assert to_row(record) == _walk(record)
  assert json.dumps(to_row(record), ensure_ascii=False) == json.dumps(_walk(record), ensure_ascii=False)


def test_to_row_hands_unexpected_values_to_the_walk():
  # A field holding another type than declared (datetime where a str is declared, a list where
  # a tuple is) still comes out as the walk writes it.
  post = SocialPost('e', 's', 'k', 'n', T, T, Lineage('t', 0, 0, 0), text=T, hashtags=['a', T],
                    author={'x': T})
  assert to_row(post) == _walk(post)


@pytest.mark.parametrize('record', _records(), ids=lambda r: type(r).__name__)
def test_evolve_is_dataclasses_replace(record):
  name = dataclasses.fields(record)[1].name
  changed = evolve(record, **{name: 'changed'})
  assert changed == dataclasses.replace(record, **{name: 'changed'})
  assert evolve(record) == record and evolve(record) is not record
  with pytest.raises(TypeError):
    evolve(record, no_such_field=1)


def _reference_json(record) -> bytes:
  """What the output topics carried before to_json: json.dumps of the walk, compact, UTF-8."""
  return json.dumps(_walk(record), ensure_ascii=False, separators=(',', ':')).encode('utf-8')


_ODD_TIMES = [datetime.datetime(1, 1, 1, tzinfo=UTC), datetime.datetime(999, 1, 1, 0, 0, 0, 5, tzinfo=UTC),
              datetime.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
              datetime.datetime(2026, 1, 1),                          # naive
              datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(hours=6))),
              datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone(
                  datetime.timedelta(hours=5, minutes=30, seconds=15)))]


@pytest.mark.parametrize('record', _records() + [
    SocialPost('e', 's', 'k', 'n', t, t, Lineage('t', 0, 0, 0, fetched_at=t)) for t in _ODD_TIMES] + [
    SocialPost('e', 's', 'k', 'n', T, T, Lineage('t', 0, 0, 0), text=T, hashtags=['a', T],
               author={'x': T}),
    SocialPost('e', 's', 'k', 'n', T, T, Lineage('t', 0, 0, 0), like_count=2 ** 70)],
    ids=lambda r: type(r).__name__)
def test_to_json_writes_the_bytes_of_json_dumps_of_the_row(record):
  from schemas.normalized import to_json
  assert to_json(record) == _reference_json(record)


def test_pickling_a_record_gives_an_equal_record_with_the_same_times():
  import pickle
  for record in _records() + [SocialPost('e', 's', 'k', 'n', t, t, Lineage('t', 0, 0, 0, fetched_at=t))
                              for t in _ODD_TIMES]:
    copy = pickle.loads(pickle.dumps(record))
    assert copy == record and type(copy) is type(record)
    for name in ('event_time', 'fetched_at', 'observed_at', 'failed_at', 'updated_at'):
      for obj, other in ((record, copy), (getattr(record, 'lineage', None), getattr(copy, 'lineage', None))):
        if hasattr(obj, name) and getattr(obj, name) is not None:
          assert getattr(other, name).tzinfo == getattr(obj, name).tzinfo
          assert getattr(other, name).utcoffset() == getattr(obj, name).utcoffset()


@pytest.mark.parametrize('record', _records(), ids=lambda r: type(r).__name__)
def test_the_fast_init_builds_what_the_dataclass_init_builds(record):
  """schemas.normalized replaces each record class's __init__ (slot writes); same signature,
  same defaults, same record, positional or by keyword, and missing arguments still refused."""
  import inspect
  cls = type(record)
  fields = dataclasses.fields(cls)
  values = {f.name: getattr(record, f.name) for f in fields}
  assert cls(**values) == record
  assert cls(*values.values()) == record
  params = inspect.signature(cls).parameters
  assert list(params) == [f.name for f in fields]
  for f in fields:
    default = params[f.name].default
    assert default == (inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default)
  required = [f.name for f in fields if f.default is dataclasses.MISSING]
  minimal = cls(**{n: values[n] for n in required})
  for f in fields:
    if f.default is not dataclasses.MISSING:
      assert getattr(minimal, f.name) == f.default
  with pytest.raises(TypeError):
    cls(**{n: values[n] for n in required[1:]})
  with pytest.raises(dataclasses.FrozenInstanceError):
    setattr(record, fields[0].name, 'x')
