"""Where the agents publish: read from pipeline/topics.yaml, the one definition of the topics.

Agents and the demo generator look topics up by source name (the `source:` of a topic) so that no
topic name is written anywhere else. Tests pass their own `AgentTopics` with unique names.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Mapping, Optional

from pipeline import topics as pipeline_topics
from schemas.registry import SOURCES as _REGISTRY

# The sources the agents publish for (every source of the registry), as spelled in the topics
# file's `source:` keys.
SOURCES = tuple(_REGISTRY)


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
  """Reads the topics file through pipeline.topics (its one reader). The ingest DLQ is the
  `kind: dlq` topic whose last name component is `ingest`."""
  config = pipeline_topics.load_topics(str(path or pipeline_topics.TOPICS_FILE))
  by_source = {t.source: t.name for t in config.topics if t.kind in ('raw', 'context') and t.source}
  dlq = [t.name for t in config.by_kind('dlq') if t.name.rsplit('.', 1)[-1] == 'ingest']
  if len(dlq) != 1:
    raise TopicConfigError(f'{path or pipeline_topics.TOPICS_FILE}: need exactly one dead-letter '
                           f'topic for ingest (kind: dlq, named *.ingest), found {dlq}')
  return AgentTopics(by_source, dlq[0], config.bootstrap_servers)
