"""The run summary: records read, written per output, dead letters by stage and reason."""
from __future__ import annotations

import dataclasses

from apache_beam.metrics.metric import MetricsFilter

from transforms.metrics import NAMESPACE


@dataclasses.dataclass
class RunSummary:
  counters: dict
  seconds: float

  def get(self, name: str) -> int:
    return int(self.counters.get(name, 0))

  @property
  def read(self) -> int:
    return self.get('num_records_read')

  @property
  def accounted(self) -> int:
    return self.get('num_posts_out') + self.get('num_orders_out') + self.get('num_dead_letters_out')

  def as_dict(self) -> dict:
    return {'seconds': round(self.seconds, 2), 'counters': dict(self.counters),
            'read': self.read, 'accounted': self.accounted}

  def render(self) -> str:
    c = self.counters
    lines = [f'Run summary ({self.seconds:.1f}s)',
             f'  records read           {self.read}']
    for name in sorted(k for k in c if k.startswith('num_records_read_')):
      lines.append(f'    {name[len("num_records_read_"):]:<20} {c[name]}')
    lines += [f'  posts written          {self.get("num_posts_out")}',
              f'  orders written         {self.get("num_orders_out")}',
              f'  dead letters           {self.get("num_dead_letters_out")}']
    for name in sorted(k for k in c if k.startswith('num_dead_letters_') and k != 'num_dead_letters_out'):
      lines.append(f'    {name[len("num_dead_letters_"):]:<20} {c[name]}')
    others = sorted(k for k in c if not k.startswith(('num_records_read', 'num_dead_letters_',
                                                       'num_posts_out', 'num_orders_out')))
    if others:
      lines.append('  other counters')
      lines += [f'    {k:<36} {c[k]}' for k in others]
    status = 'OK' if self.read == self.accounted else 'MISMATCH'
    lines.append(f'  reconciliation         read {self.read} = posts + orders + dead letters '
                 f'{self.accounted}: {status}')
    return '\n'.join(lines)


def summarize_metrics(result, seconds: float) -> RunSummary:
  counters = {}
  for c in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))['counters']:
    counters[c.key.metric.name] = counters.get(c.key.metric.name, 0) + int(c.committed or c.attempted or 0)
  return RunSummary(counters, seconds)
