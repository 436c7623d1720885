"""Where the agents publish: read from pipeline/topics.yaml, the one definition of the topics.

Agents and the demo generator look topics up by source name (the `source:` of a topic) so that no
topic name is written anywhere else. Tests pass their own `AgentTopics` with unique names.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Mapping, Optional

import yaml

# pipeline/topics.yaml, found next to the `pipeline` package whether run from the checkout or installed
# (setup.py ships it as package data).
DEFAULT_TOPICS_FILE = Path(__file__).resolve().parent.parent / 'pipeline' / 'topics.yaml'

# The sources the agents publish for, as spelled in the topics file's `source:` keys.
SOURCES = ('tiktok', 'facebook', 'shopify', 'daraz', 'openweather', 'catalog')


class TopicConfigError(ValueError):
  """The topics file lacks a topic an agent needs."""


@dataclasses.dataclass(frozen=True)
class AgentTopics:
  """Topic per source, the ingest dead-letter topic, and the default brokers."""
  by_source: Mapping[str, str]
  ingest_dlq: str
  bootstrap_servers: str = '127.0.0.1:9092'

  def __post_init__(self):
    missing = [s for s in SOURCES if s not in self.by_source]
    if missing:
      raise TopicConfigError(f'No topic for source(s) {missing}: add them to the topics file')
    if not self.ingest_dlq:
      raise TopicConfigError('No ingest dead-letter topic')

  def for_source(self, source: str) -> str:
    try:
      return self.by_source[source]
    except KeyError as e:
      raise TopicConfigError(f'Unknown source {source!r}; known: {sorted(self.by_source)}') from e

  def all_topics(self) -> list[str]:
    return [self.by_source[s] for s in SOURCES] + [self.ingest_dlq]

  def with_prefix(self, prefix: str) -> 'AgentTopics':
    """The same layout under unique names: what tests publish to."""
    return AgentTopics({s: prefix + t for s, t in self.by_source.items()},
                       prefix + self.ingest_dlq, self.bootstrap_servers)


def load_topics(path: Optional[os.PathLike] = None) -> AgentTopics:
  """Reads the topics file. The ingest DLQ is the `kind: dlq` topic with `stage: ingest`, or else
  the dlq topic whose last name component is `ingest`."""
  path = Path(path or DEFAULT_TOPICS_FILE)
  with open(path, encoding='utf-8') as f:
    config = yaml.safe_load(f)
  by_source = {}
  dlq = None
  for topic in config.get('topics', []):
    if topic.get('kind') == 'raw' or topic.get('kind') == 'context':
      if topic.get('source'):
        by_source[topic['source']] = topic['name']
    elif topic.get('kind') == 'dlq':
      if topic.get('stage') == 'ingest' or (
          'stage' not in topic and topic['name'].rsplit('.', 1)[-1] == 'ingest'):
        dlq = topic['name']
  if dlq is None:
    raise TopicConfigError(f'{path}: no dead-letter topic for ingest (kind: dlq, named *.ingest)')
  return AgentTopics(by_source, dlq, config.get('bootstrap_servers', '127.0.0.1:9092'))
