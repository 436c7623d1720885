"""The DirectRunner's bounded read, side by side: this tree against another commit's, same records.

Publishes N demo events into fresh topics, then runs `python -m pipeline --no_embed` once per
tree (each with a consumer group of its own, so both read the same backlog) and prints wall time,
records read and what was left for the next run:

    python -m benchmarks.bench_bounded_read --events 20000 --compare-ref d505fc5~1

Before the planned read (commit d505fc5~1), Beam's bounded read split a 20,000-record backlog in
two shares of 10,000 over three partitions: one share waited --max_read_seconds, the other left
records behind. Run it under the heavy lock (it starts JVMs).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

import yaml

from tests.integration import pipeline_helpers as h

KEYS = {'dlq': ''.join(f'{i:02x}' for i in range(140, 172)),
        'pseudonym': ''.join(f'{i:02x}' for i in range(101, 133))}


def _tree(ref: str, tmp: str) -> str:
  path = os.path.join(tmp, 'tree-' + ref.replace('/', '_').replace('~', '_'))
  os.makedirs(path)
  archive = subprocess.run(['git', 'archive', ref], cwd=h.REPO, capture_output=True, check=True)
  subprocess.run(['tar', '-x', '-C', path], input=archive.stdout, check=True)
  return path


def _run(tree: str, topics_config: str, topics: h.TestTopics, tmp: str, max_read_seconds: int,
         label: str) -> dict:
  group = f'bench-{uuid.uuid4().hex[:6]}'
  summary = os.path.join(tmp, f'{label}-summary.json')
  args = [sys.executable, '-m', 'pipeline', *topics.pipeline_args(group), '--no_embed',
          f'--topics_config={topics_config}', f'--max_read_seconds={max_read_seconds}',
          f'--summary_json={summary}']
  for name, value in KEYS.items():
    path = os.path.join(tmp, f'{name}.key')
    with open(path, 'w', encoding='utf-8') as f:
      f.write(value)
    args.append(f'--{name}_key_ref=file:{path}')
  # The jars, the venv and prism are this checkout's (.local/ is not in git).
  env = dict(os.environ, PYTHONPATH=tree, STACK_HOME=os.path.join(h.REPO, '.local'))
  started = time.monotonic()
  log = os.path.join(tmp, f'{label}.log')
  with open(log, 'w', encoding='utf-8') as out:
    rc = subprocess.run(args, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT).returncode
  took = time.monotonic() - started
  if rc != 0:
    raise SystemExit(f'{label}: python -m pipeline failed ({rc}), see {log}')
  with open(summary, encoding='utf-8') as f:
    data = json.load(f)
  return {'label': label, 'wall_s': took, 'read': data['read'], 'backlog': data['backlog'],
          'left': h.committed_backlog(topics, group)}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
  parser.add_argument('--events', type=int, default=20_000, help='demo events to publish')
  parser.add_argument('--compare-ref', default=None,
                      help='git commit whose `python -m pipeline` runs beside this tree\'s')
  parser.add_argument('--max-read-seconds', type=int, default=10,
                      help='--max_read_seconds for both runs (default 10, the flag\'s default)')
  args = parser.parse_args(argv)
  h.kafka_or_fail()
  with tempfile.TemporaryDirectory() as tmp:
    topics = h.make_topics(tmp)
    try:
      h.publish_demo(topics, seed=23, events=args.events, malformed_share=0.02)
      rows = [_run(h.REPO, topics.config_path, topics, tmp, args.max_read_seconds, 'this tree')]
      if args.compare_ref:
        tree = _tree(args.compare_ref, tmp)
        # An older tree may not know every field of today's topics file.
        with open(topics.config_path, encoding='utf-8') as f:
          data = yaml.safe_load(f)
        for t in data['topics']:
          t.pop('max_message_bytes', None)
        old_config = os.path.join(tmp, 'topics-old.yaml')
        with open(old_config, 'w', encoding='utf-8') as f:
          yaml.safe_dump(data, f)
        rows.append(_run(tree, old_config, topics, tmp, args.max_read_seconds, args.compare_ref))
    finally:
      h.delete_topics(topics)
  print(f'{args.events} events in 3 partitions per source topic, --max_read_seconds='
        f'{args.max_read_seconds}, one DirectRunner run each, same records')
  print(f'  {"tree":<16} {"wall s":>8} {"read":>7} {"backlog":>8} {"left":>7}')
  for r in rows:
    print(f'  {r["label"]:<16} {r["wall_s"]:>8.1f} {r["read"]:>7} {r["backlog"]:>8} {r["left"]:>7}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
