"""The tests' own resources: every file and server socket a test helper opens is closed by it
(an unclosed one is a ResourceWarning at best and, in a long suite, file descriptors that run
out), and a failing pipeline subprocess names its log."""
import ast
import gc
import io
import os
import pathlib
import warnings

from tests.integration import pipeline_helpers as h

TESTS = pathlib.Path(__file__).resolve().parents[1]


class _FakePopen:
  def __init__(self, args, stdout=None, **kwargs):
    self.args, self.stdout_file, self.kwargs = args, stdout, kwargs


def test_start_pipeline_closes_its_log_in_the_parent_and_keeps_its_path(tmp_path, monkeypatch):
  (tmp_path / '.local' / 'logs').mkdir(parents=True)
  monkeypatch.setattr(h, 'REPO', str(tmp_path))
  monkeypatch.setattr(h.subprocess, 'Popen', _FakePopen)
  proc = h.start_pipeline(['--no_embed'])
  assert proc.stdout_file.closed           # the child holds its own descriptor
  assert proc.log_path == proc.stdout_file.name
  assert proc.log_path.startswith(str(tmp_path / '.local' / 'logs' / 'test-pipeline-'))


def test_make_topics_leaves_no_file_open(tmp_path, monkeypatch):
  def create_topics(config, bootstrap, out):
    print('created', file=out)
  monkeypatch.setattr(h, 'create_topics', create_topics)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always', ResourceWarning)
    h.make_topics(tmp_path)
    gc.collect()
  assert not [w for w in caught if issubclass(w.category, ResourceWarning)]


def _calls(tree):
  for node in ast.walk(tree):
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
      yield node, ast.unparse(node.func.value), node.func.attr


def test_no_test_opens_devnull_or_leaves_a_server_socket_open():
  problems = []
  for path in sorted(TESTS.rglob('*.py')):
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
      if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == 'open'
          and node.args and ast.unparse(node.args[0]) == 'os.devnull'):
        problems.append(f'{path.name}:{node.lineno}: open(os.devnull) (use io.StringIO() or '
                        'subprocess.DEVNULL)')
    for func in ast.walk(tree):
      if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
        continue
      calls = {(owner, attr) for _, owner, attr in _calls(func)}
      for node, owner, attr in _calls(func):
        if attr == 'shutdown' and owner.lower().endswith('server') and (owner, 'server_close') not in calls:
          problems.append(f'{path.name}:{node.lineno}: {owner}.shutdown() without {owner}.server_close()')
  assert not problems, problems
