"""The run summary: records read, written per output, dead letters by stage and reason."""
from __future__ import annotations

import dataclasses
from typing import Optional

from apache_beam.metrics.metric import MetricsFilter

from pipeline.sinks import SINK_DEAD_LETTERS_BY_SOURCE
from transforms.metrics import NAMESPACE


# The sinks' dead letters per stage (counted in graph.py; stages sink_snowflake, sink_weaviate).
_SINK_STAGES = 'num_dead_letters_out_sink_'


@dataclasses.dataclass
class RunSummary:
  counters: dict
  seconds: float
  backlog: Optional[int] = None   # records waiting in the raw topics when a bounded run started

  def get(self, name: str) -> int:
    return int(self.counters.get(name, 0))

  @property
  def read(self) -> int:
    return self.get('num_records_read')

  @property
  def accounted(self) -> int:
    """Raw messages accounted for at validation: valid records + validation dead letters, where
    a documented API response (an envelope) counts once, not once per record it held."""
    return (self.get('num_valid') + self.get('num_dead_letters_out_validate')
            - self.get('num_envelope_records') + self.get('num_envelopes'))

  @property
  def normalized(self) -> int:
    """Normalized records PrivacyShield made (a Facebook post with comments makes several)."""
    return self.get('num_shielded')

  @property
  def normalized_accounted(self) -> int:
    """Posts + orders + dead letters of the stages after PrivacyShield. Not the sinks' dead
    letters: a record a sink refused is among the posts or orders already (it went to the
    output topics and maybe the other sink)."""
    later = sum(v for k, v in self.counters.items()
                if k.startswith('num_dead_letters_out_') and k not in (
                    'num_dead_letters_out_validate', 'num_dead_letters_out_privacy')
                and not k.startswith(_SINK_STAGES))
    return self.get('num_posts_out') + self.get('num_orders_out') + later

  @property
  def reconciled(self) -> bool:
    return self.read == self.accounted and self.normalized == self.normalized_accounted

  def as_dict(self) -> dict:
    return {'seconds': round(self.seconds, 2), 'counters': dict(self.counters),
            'read': self.read, 'accounted': self.accounted, 'normalized': self.normalized,
            'normalized_accounted': self.normalized_accounted, 'reconciled': self.reconciled,
            'backlog': self.backlog}

  def _per_source(self) -> list[str]:
    """Per source: records read, normalized records out, dead letters of the pipeline's stages,
    dead letters of the sinks (records that are also among `out`), rows/objects per sink (a
    Facebook post with comments makes several normalized records)."""
    c = self.counters
    sources = sorted(k[len('num_records_read_'):] for k in c if k.startswith('num_records_read_'))
    sinks = sorted({k.split('_')[4] for k in c if k.startswith('num_written_by_source_')})
    header = (f'    {"source":<10} {"read":>7} {"out":>7} {"dead":>6} {"sink dead":>9}'
              + ''.join(f' {s:>10}' for s in sinks))
    lines = ['  per source', header]
    for src in sources + (['openweather'] if any(k.endswith('_openweather') for k in c) else []):
      out = self.get(f'num_posts_out_{src}') + self.get(f'num_orders_out_{src}')
      sink_dead = self.get(f'{SINK_DEAD_LETTERS_BY_SOURCE}_{src}')
      dead = self.get(f'num_dead_letters_by_source_{src}') - sink_dead
      row = (f'    {src:<10} {self.get(f"num_records_read_{src}"):>7} {out:>7} {dead:>6} '
             f'{sink_dead:>9}')
      row += ''.join(f' {self.get(f"num_written_by_source_{s}_{src}"):>10}' for s in sinks)
      lines.append(row)
    lines.append('    (dead: dead letters of the stages; sink dead: records a sink refused, which '
                 'are also in out)')
    if sinks:
      lines.append('    (sink columns: distinct event ids written; copies of one event in a batch, such '
                   'as an order and its later update, are merged into one row/object)')
    return lines

  def render(self) -> str:
    c = self.counters
    lines = [f'Run summary ({self.seconds:.1f}s)',
             f'  records read           {self.read}']
    if self.backlog is not None:
      lines.append(f'    of a backlog of      {self.backlog} '
                   f'({max(0, self.backlog - self.read)} left for the next run)')
    for name in sorted(k for k in c if k.startswith('num_records_read_')):
      lines.append(f'    {name[len("num_records_read_"):]:<20} {c[name]}')
    lines += [f'  posts written          {self.get("num_posts_out")}',
              f'  orders written         {self.get("num_orders_out")}',
              f'  dead letters           {self.get("num_dead_letters_out")}']
    for name in sorted(k for k in c if k.startswith('num_dead_letters_out_')):
      lines.append(f'    stage {name[len("num_dead_letters_out_"):]:<14} {c[name]}')
    for name in sorted(k for k in c if k.startswith('num_invalid_')):
      lines.append(f'    reason {name[len("num_invalid_"):]:<13} {c[name]}')
    for name in sorted(k for k in c if k.startswith('num_written_') and '_by_source_' not in k):
      lines.append(f'  written {name[len("num_written_"):]:<30} {c[name]}')
    lines += self._per_source()
    others = sorted(k for k in c if not k.startswith(('num_records_read', 'num_dead_letters_',
                                                       'num_posts_out', 'num_orders_out',
                                                       'num_written_',
                                                       SINK_DEAD_LETTERS_BY_SOURCE)))
    if others:
      lines.append('  other counters')
      lines += [f'    {k:<36} {c[k]}' for k in others]
    status = 'OK' if self.reconciled else 'MISMATCH'
    lines.append(f'  reconciliation         read {self.read} = valid + validation dead letters '
                 f'{self.accounted}; normalized {self.normalized} = posts + orders + later dead '
                 f'letters (sinks\' not counted) {self.normalized_accounted}: {status}')
    return '\n'.join(lines)


def summarize_metrics(result, seconds: float, backlog: Optional[int] = None) -> RunSummary:
  counters = {}
  for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))['counters']:
    counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + int(c.committed or c.attempted or 0)
  return RunSummary(counters, seconds, backlog)
