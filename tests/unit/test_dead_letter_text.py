"""What a dead letter says about its error (error_message, in clear in the DLQ and Snowflake).

An exception of a library or of Python (ValueError, KeyError, ...) may quote the record: only its
class and where it was raised are kept. The project's own exceptions say what they were written
to say (field names, sizes, versions), and pydantic's errors are described by path. Any message is
cut before it is scanned for emails and phones, so a huge one costs no more than a short one."""
import time

from transforms.dead_letter import DeadLetterFactory, describe_error
from transforms.validate import ApiErrorResponse, UnknownSchemaVersion
from tests.unit import fakes

NAMES = ('Rahim', 'Uddin', 'Dhanmondi')
QUOTING = "cannot parse address 'Rahim Uddin, House 12, Road 5, Dhanmondi'"


def _raise(error):
  raise error


def _raised(error):
  try:
    _raise(error)
  except Exception as e:  # pylint: disable=broad-except
    return e


def test_a_builtin_error_keeps_its_class_and_place_not_its_message():
  """The review's example came out as 'Rahim Uddin, [ADDRESS] ...' in the DLQ."""
  text = describe_error(_raised(ValueError(QUOTING)))
  assert not any(name in text for name in NAMES), text
  assert text.startswith('unexpected ValueError at unit/test_dead_letter_text.py:')
  assert text.endswith(' in _raise')


def test_a_dead_letter_of_a_builtin_error_keeps_no_name():
  dead = DeadLetterFactory(fakes.dead_letter_config()).from_raw(
      'privacy', fakes.raw_record('shopify', b'{}', 3), _raised(KeyError('Rahim Uddin')))
  assert dead.error_class == 'KeyError' and 'Rahim' not in dead.error_message


def test_an_error_not_raised_keeps_its_class():
  assert describe_error(TypeError(QUOTING)) == 'unexpected TypeError'


def test_the_projects_own_errors_keep_their_message_redacted():
  assert "'7'" in describe_error(UnknownSchemaVersion("schema_version header '7' is not known"))
  text = describe_error(ApiErrorResponse('error 190 for bob@example.com'))
  assert 'error 190' in text and 'bob@example.com' not in text and '[EMAIL]' in text


def test_a_huge_message_is_cut_before_it_is_scanned():
  """redact() ran over the whole message before the cut: 0.2 s of CPU for 1 MB."""
  huge = ('Rahim Uddin, House 12, Road 5, 01712345678 bob@example.com ' * 20_000)[:1_000_000]
  for error in (ApiErrorResponse(huge), ValueError(huge)):
    start = time.process_time()
    for _ in range(5):
      text = describe_error(error)
    assert (time.process_time() - start) / 5 < 0.02, type(error).__name__
    assert len(text) <= 2000 and '01712345678' not in text


def test_an_error_raised_inside_a_library_is_placed_at_our_call():
  import json
  try:
    json.loads('{"name": "Rahim Uddin", ')
  except ValueError as e:
    text = describe_error(e)
  assert text.startswith('unexpected JSONDecodeError at unit/test_dead_letter_text.py:'), text
  assert text.endswith('in test_an_error_raised_inside_a_library_is_placed_at_our_call')
