"""The DirectRunner's output writes, two trees side by side on the same backlog (issue 11 item 3).

    git worktree add /tmp/old COMMIT~1 && git worktree add /tmp/new COMMIT   # before, after
    python -m benchmarks.bench_direct_writes --old /tmp/old --new /tmp/new --events 20000

Publishes N demo events (2% malformed) into fresh topics once, then runs `python -m pipeline`
(DirectRunner, no embeddings, weather and catalog snapshots) alternately from the old tree and
from the new one (default: this checkout), each with a fresh consumer group, so both read the
same records. Each run goes through that tree's benchmarks/profile_hooks.py and is measured as
bench_profile measures it (wall-time phases, JVM starts, the CPU of every process of its tree);
at the end one table: wall s, records/s, CPU s and CPU-µs per record (whole run and while
records flow), JVM CPU s, peak RSS, and what each run wrote to the three output topics. Needs
the local stack; run it under the heavy lock (`flock -o /tmp/millionx-heavy.lock ...`).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid

from benchmarks import bench_profile as bp
from tests.integration import pipeline_helpers as h


def _tree_ready(tree: str) -> None:
  """The old tree reads the stack's jars and logs from this checkout's .local (ignored by git)."""
  if not os.path.isfile(os.path.join(tree, 'benchmarks', 'profile_hooks.py')):
    raise SystemExit(f'{tree} is not a checkout of this project (no benchmarks/profile_hooks.py)')
  local = os.path.join(tree, '.local')
  if not os.path.exists(local):
    os.symlink(os.path.join(h.REPO, '.local'), local)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--old', required=True, help='a checkout of the old code (git worktree)')
  parser.add_argument('--new', default=None, help='a checkout of the new code (default: this one)')
  parser.add_argument('--events', type=int, default=20_000, help='demo events to publish')
  parser.add_argument('--rounds', type=int, default=2, help='old/new pairs, alternating')
  parser.add_argument('--timeout', type=float, default=900, help='seconds per run at most')
  args = parser.parse_args(argv)
  old = os.path.abspath(args.old)
  new = os.path.abspath(args.new) if args.new else h.REPO
  for tree in (old, new):
    _tree_ready(tree)
  h.kafka_or_fail()
  from pipeline.context_files import write_context_files
  tmp = tempfile.mkdtemp(prefix='bench-direct-writes-')
  topics = h.make_topics(tmp)
  out_topics = [topics.topic(x) for x in ('out.social.posts', 'out.market.orders', 'dlq.pipeline')]
  trees = (('old', old), ('new', new))
  repo = h.REPO
  rows = []
  try:
    print(f'load average {" ".join(f"{x:.1f}" for x in os.getloadavg())}; publishing '
          f'{args.events} demo events ...', flush=True)
    h.publish_demo(topics, seed=5, events=args.events, malformed_share=0.02)
    weather, catalog, _, _ = write_context_files(
        h.BOOTSTRAP, tmp, topics.topic('context.weather'), topics.topic('context.products'))
    common = ['--no_embed', *bp.key_args(tmp), f'--weather_snapshot={weather}',
              f'--product_catalog={catalog}']
    for round_no in range(1, args.rounds + 1):
      for name, tree in trees:
        label = f'direct {name} #{round_no}'
        before = bp.output_end_offsets(out_topics)
        pipeline_args = [*topics.pipeline_args(f'bench-{uuid.uuid4().hex[:6]}'), *common]
        h.REPO = tree   # run_pipeline starts the child in h.REPO: that tree's code
        try:
          run = bp.run_pipeline('direct', 'full', label, pipeline_args, args.events, out_topics,
                                0, args.timeout, tmp)
        finally:
          h.REPO = repo
        written = bp.output_end_offsets(out_topics) - before
        bp.print_run(run)
        rows.append((label, run, bp.summarize(run), written))
  finally:
    h.delete_topics(topics)
  print('\n| run | exit | records | outputs written | wall s | records/s (wall) | CPU s | '
        'all CPU-µs/rec (whole run) | all CPU-µs/rec (window) | JVM CPU s | JVMs | '
        'peak RSS MB |')
  print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for label, run, sm, written in rows:
    jvm_cpu = sum(v for k, v in sm['cpu_by_kind'].items() if k.startswith('jvm'))
    # SubprocessServer.start marks every use of the expansion service; one jar is one JVM.
    jvms = len({m['what'] for m in run.marks if m.get('mark') == 'jvm_ready'})
    print(f'| {label} | {run.returncode} | {sm["records"]:,} | {written:,} | {sm["wall_s"]:.1f} | '
          f'{sm["rate_wall"]:,.0f} | {sm["cpu_total_s"]:.1f} | {sm["us_total"]:.0f} | '
          f'{sm["us_window"]:.0f} | {jvm_cpu:.1f} | {jvms} | {sm["peak_rss_mb"]:,.0f} |')
  print(f'\nload average at the end {" ".join(f"{x:.1f}" for x in os.getloadavg())}')
  return 0 if all(run.returncode == 0 for _, run, _, _ in rows) else 1


if __name__ == '__main__':
  sys.exit(main())
