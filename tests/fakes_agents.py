"""Fakes for the agent tests: a sink that keeps what the runner routes to it."""
from agents.runner import Sink


class ListSink(Sink):
  def __init__(self):
    self.emitted, self.dead, self.commits = [], [], 0

  def emit(self, source, key, obj):
    self.emitted.append((key, obj))

  def dead_letter(self, source, rejected):
    self.dead.append(rejected)

  def commit(self):
    self.commits += 1
