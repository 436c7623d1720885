"""CPU time and memory of a process and all its descendants (Python workers, JVMs), from /proc.

A `TreeSampler` thread reads every process of the tree every `interval_s`: its CPU seconds
(utime + stime), its resident memory, and what it is (`kind`: python / the Kafka expansion
service JVM / the Flink job server JVM / another JVM / other). A process that exits between two
samples loses at most one interval of CPU; the parent's own reaped-children figure
(`RUSAGE_CHILDREN`) is no help here, since the JVMs are children of the pipeline process.
"""
from __future__ import annotations

import bisect
import os
import threading
import time
from typing import Optional

_CLOCK_TICKS = os.sysconf('SC_CLK_TCK')
_PAGE_KB = os.sysconf('SC_PAGE_SIZE') // 1024


def _stat(pid: int) -> Optional[tuple[int, float, int]]:
  """(parent pid, CPU seconds, resident KB) of a process, None when it is gone."""
  try:
    with open(f'/proc/{pid}/stat', encoding='utf-8') as f:
      fields = f.read().rsplit(')', 1)[1].split()
  except (OSError, IndexError):
    return None
  # After the command: state ppid ... utime(12) stime(13) ... rss(22), 0-based from state.
  return int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS, int(fields[21]) * _PAGE_KB


def _kind(pid: int) -> str:
  try:
    with open(f'/proc/{pid}/cmdline', 'rb') as f:
      cmd = f.read().replace(b'\0', b' ').decode('utf-8', 'replace')
  except OSError:
    return 'gone'
  if 'java' in cmd.split(' ', 1)[0]:
    if 'kafka-expansion' in cmd:
      return 'jvm:kafka-expansion'
    if 'job-server' in cmd:
      return 'jvm:flink-job-server'
    if 'TaskManagerRunner' in cmd:
      return 'jvm:flink-taskmanager'
    return 'jvm:other'
  if 'python' in cmd.split(' ', 1)[0]:
    return 'python:worker' if 'SdkHarness' in cmd or 'sdk_worker' in cmd else 'python'
  return 'other'


def threads(pid: int) -> dict[int, tuple[str, float]]:
  """{thread id: (thread name, CPU seconds)} of a process (Java names its threads)."""
  out = {}
  try:
    tids = os.listdir(f'/proc/{pid}/task')
  except OSError:
    return out
  for tid in tids:
    try:
      with open(f'/proc/{pid}/task/{tid}/stat', encoding='utf-8') as f:
        text = f.read()
    except OSError:
      continue
    name = text[text.index('(') + 1:text.rindex(')')]
    fields = text.rsplit(')', 1)[1].split()
    out[int(tid)] = (name, (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
  return out


def cluster_roots() -> list[int]:
  """The local stack's Flink TaskManager JVM and Python worker pool (they run cluster jobs)."""
  roots = []
  for name in os.listdir('/proc'):
    if not name.isdigit():
      continue
    try:
      with open(f'/proc/{name}/cmdline', 'rb') as f:
        cmd = f.read()
    except OSError:
      continue
    if b'TaskManagerRunner' in cmd or b'worker_pool_main' in cmd:
      roots.append(int(name))
  return roots


def descendants(root: int, *more_roots: int) -> list[int]:
  children: dict[int, list[int]] = {}
  for name in os.listdir('/proc'):
    if name.isdigit():
      st = _stat(int(name))
      if st is not None:
        children.setdefault(st[0], []).append(int(name))
  out, stack = [], [root, *more_roots]
  while stack:
    pid = stack.pop()
    out.append(pid)
    stack.extend(children.get(pid, ()))
  return out


class TreeSampler(threading.Thread):
  """Samples a process tree until stopped; then `cpu_by_kind`, `cpu_between`, `peak_rss_mb`."""

  def __init__(self, root_pid: int, interval_s: float = 0.5, spawned: bool = True,
               also: tuple[int, ...] = ()):
    """spawned: the root was started just now (its CPU counts from 0); False: a running
    process tree (a TaskManager), whose CPU counts from the first sample. also: more running
    trees to count (the cluster's TaskManager and worker pool), from the first sample."""
    super().__init__(daemon=True)
    self.root_pid = root_pid
    self.also = tuple(also)
    self.interval_s = interval_s
    self._spawned = spawned
    self._first_sample = True
    self.kinds: dict[int, str] = {}
    self.cpu: dict[int, float] = {}        # last CPU seconds seen per pid
    self.first_cpu: dict[int, float] = {}  # CPU seconds when first seen (0 for new children)
    # (time, CPU seconds per pid since first seen); kinds are applied when read, so that a
    # process classified late (caught between fork and exec) counts as what it became.
    self._pid_samples: list[tuple[float, dict[int, float]]] = []
    self.peak_rss_kb = 0
    # Per JVM thread: (pid, thread name) -> CPU seconds, refreshed every few seconds (a JVM's
    # threads say where its CPU goes: the source, the data plane, GC, the JIT compiler).
    self._jvm_threads: dict[tuple[int, int], tuple[str, float]] = {}
    self._jvm_threads_first: dict[tuple[int, int], float] = {}
    self._samples_taken = 0
    self._done = threading.Event()

  def run(self):
    while not self._done.is_set():
      self.sample()
      self._done.wait(self.interval_s)
    self.sample()

  def sample(self):
    rss = 0
    for pid in descendants(self.root_pid, *self.also):
      st = _stat(pid)
      if st is None:
        continue
      if pid not in self.kinds:
        self.kinds[pid] = _kind(pid)
        # A process started since the last sample counts from 0 (it appears after its first
        # tick); one already running at the first sample counts from there, unless it is the
        # root we just spawned.
        existing = self._first_sample and not (self._spawned and pid == self.root_pid)
        self.first_cpu[pid] = st[1] if existing else 0.0
      elif self.kinds[pid] in ('python', 'other', 'gone'):
        # exec'd since (a fork that became a JVM or a worker); a process that is exiting (a
        # zombie has no command line) keeps what it was.
        kind = _kind(pid)
        if kind not in ('other', 'gone'):
          self.kinds[pid] = kind
      self.cpu[pid] = st[1]
      rss += st[2]
    self._first_sample = False
    self._samples_taken += 1
    if self._samples_taken % 6 == 1:
      for pid, kind in self.kinds.items():
        if kind.startswith('jvm') and pid in self.cpu:
          for tid, (name, cpu) in threads(pid).items():
            self._jvm_threads[(pid, tid)] = (name, cpu)
            self._jvm_threads_first.setdefault(
                (pid, tid), cpu if kind == 'jvm:flink-taskmanager' and not self._spawned else 0.0)
    self.peak_rss_kb = max(self.peak_rss_kb, rss)
    self._pid_samples.append(
        (time.time(), {pid: cpu - self.first_cpu[pid] for pid, cpu in self.cpu.items()}))

  @property
  def samples(self) -> list[tuple[float, float, dict[str, float]]]:
    """(time, total CPU seconds, CPU seconds by kind) per sample."""
    out = []
    for t, per_pid in self._pid_samples:
      by_kind: dict[str, float] = {}
      for pid, cpu in per_pid.items():
        kind = self.kinds[pid]
        by_kind[kind] = by_kind.get(kind, 0.0) + cpu
      out.append((t, sum(by_kind.values()), by_kind))
    return out

  def stop(self):
    self._done.set()
    self.join()

  def jvm_threads(self, top: int = 8) -> list[tuple[str, str, float]]:
    """The JVM threads that used the most CPU: (process kind, thread name, CPU seconds); the
    names are grouped with their numbers dropped (grpc-default-executor-3 → grpc-default-...)."""
    import re  # pylint: disable=import-outside-toplevel
    grouped: dict[tuple[str, str], float] = {}
    for (pid, tid), (name, cpu) in self._jvm_threads.items():
      key = (self.kinds.get(pid, '?'), re.sub(r'[-# ]?\d+$', '', name) or name)
      grouped[key] = grouped.get(key, 0.0) + cpu - self._jvm_threads_first.get((pid, tid), 0.0)
    ranked = sorted(grouped.items(), key=lambda kv: -kv[1])[:top]
    return [(kind, name, cpu) for (kind, name), cpu in ranked]

  @property
  def peak_rss_mb(self) -> float:
    return self.peak_rss_kb / 1024

  def cpu_by_kind(self) -> dict[str, float]:
    samples = self.samples
    return dict(samples[-1][2]) if samples else {}

  def total_cpu(self) -> float:
    samples = self.samples
    return samples[-1][1] if samples else 0.0

  def cpu_at(self, t: float, kind: Optional[str] = None) -> float:
    """CPU seconds used by the tree (or one kind) up to wall time t, interpolated."""
    samples = self.samples
    if not samples:
      return 0.0
    times = [s[0] for s in samples]

    def value(i):
      return samples[i][1] if kind is None else samples[i][2].get(kind, 0.0)
    i = bisect.bisect_left(times, t)
    if i == 0:   # before the first sample (taken right after the spawn)
      return value(0) if t >= times[0] else 0.0
    if i >= len(times):
      return value(len(times) - 1)
    t0, t1 = times[i - 1], times[i]
    return value(i - 1) + (value(i) - value(i - 1)) * (t - t0) / max(1e-9, t1 - t0)

  def cpu_between(self, t0: float, t1: float, kind: Optional[str] = None) -> float:
    return max(0.0, self.cpu_at(t1, kind) - self.cpu_at(t0, kind))
