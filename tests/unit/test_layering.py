"""The rooms import only downwards (ARCHITECTURE.md): schemas → connectors → transforms →
pipeline → agents. Read from the source (every import statement, also those inside functions),
so an import made lazily to keep start-up cheap is held to the same rule."""
from __future__ import annotations

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOMS = ('schemas', 'connectors', 'transforms', 'pipeline', 'agents')
# What each room may import of the project, besides itself.
ALLOWED = {room: set(ROOMS[:i]) for i, room in enumerate(ROOMS)}
# Network and broker clients: transforms/ and schemas/ reach the world only through connectors/.
CLIENT_LIBRARIES = {'socket', 'urllib', 'http', 'requests', 'urllib3', 'kafka', 'confluent_kafka',
                    'weaviate', 'snowflake'}


def _imports(room: str):
  """(file, top-level module) for every absolute import in the room's Python files."""
  for folder, _, files in os.walk(os.path.join(ROOT, room)):
    for name in files:
      if not name.endswith('.py'):
        continue
      path = os.path.join(folder, name)
      with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
      for node in ast.walk(tree):
        if isinstance(node, ast.Import):
          modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
          modules = [node.module]
        else:
          continue
        for module in modules:
          yield os.path.relpath(path, ROOT), module.split('.')[0]


def test_each_room_imports_only_the_rooms_below_it():
  ours = set(ROOMS) | {'tests', 'benchmarks', 'monitoring'}
  upward = sorted((path, top) for room in ROOMS for path, top in _imports(room)
                  if top in ours and top != room and top not in ALLOWED[room])
  assert upward == []


def test_schemas_and_transforms_open_no_connection_of_their_own():
  clients = sorted((path, top) for room in ('schemas', 'transforms') for path, top in _imports(room)
                   if top in CLIENT_LIBRARIES)
  assert clients == []


def test_the_rule_reads_real_imports():
  """The walk finds the imports that the rule allows (a broken walk would pass the tests above)."""
  found = {(path.split(os.sep)[0], top) for room in ROOMS for path, top in _imports(room)}
  assert {('transforms', 'schemas'), ('transforms', 'connectors'), ('pipeline', 'transforms'),
          ('agents', 'connectors'), ('connectors', 'schemas')} <= found
