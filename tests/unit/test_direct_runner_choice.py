"""`--runner=DirectRunner` (the default) runs on Beam's FnApiRunner in this process, never Prism.

Beam 2.73's DirectRunner tries Prism first for a graph without cross-language transforms, which
the bounded graph is since it writes Kafka with librdkafka (issue 11 item 3): it would download
Prism from GitHub and keep that job server for the process, and a later PrismRunner run in the
same process failed on the download (tests/integration/test_pipeline_kafka.py, run after a
DirectRunner test).
"""
import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.portability import prism_runner
from apache_beam.testing.util import assert_that, equal_to

from pipeline.runners import IN_PROCESS_RUNNER, plan_run


def test_the_direct_runner_is_the_in_process_fnapi_runner_and_other_runners_stay():
  for argv in ([], ['--runner=DirectRunner'], ['--runner=directrunner']):
    plan, options = plan_run(argv)
    assert options.view_as(StandardOptions).runner == IN_PROCESS_RUNNER, argv
    assert plan.bounded and not plan.is_prism and not plan.is_flink
  for runner in ('PrismRunner', 'BundleBasedDirectRunner'):
    _, options = plan_run([f'--runner={runner}'])
    assert options.view_as(StandardOptions).runner == runner


def test_a_graph_without_cross_language_transforms_never_tries_prism(monkeypatch):
  tried = []

  def prism(self, pipeline, options):
    tried.append(options)
    raise RuntimeError('Prism is not for the DirectRunner')
  monkeypatch.setattr(prism_runner.PrismRunner, 'run_pipeline', prism)
  _, options = plan_run([])
  with beam.Pipeline(options=options) as pipeline:
    doubled = pipeline | beam.Create([1, 2, 3]) | beam.Map(lambda x: 2 * x)
    assert_that(doubled, equal_to([2, 4, 6]), label='Doubled')
  assert tried == []
  assert type(pipeline.result).__module__.endswith('fn_api_runner.fn_runner')
