"""Runner defaults (pipeline/runners.py): the Flink job server JVM gets each --add-opens as its
own argument (joined, Java 17 opened nothing and Flink's Kryo serializer failed in a restart
loop); Flink's parallelism follows the task slots; the user's flags always win."""
import os

from apache_beam.options.pipeline_options import (DebugOptions, FlinkRunnerOptions,
                                                  JobServerOptions, PortableOptions)

from pipeline.runners import FLINK_JAVA17_OPENS, LOOPBACK_PROCESS_WORKER, plan_run


def _no_cluster(master):
  raise AssertionError(f'asked the cluster {master} for its slots')


def _with_defaults(argv, free_slots=_no_cluster):
  return plan_run(argv, free_slots)


def _jvm_properties(argv):
  _, options = _with_defaults(argv)
  return options.view_as(JobServerOptions).job_server_jvm_properties


def test_each_add_opens_is_one_jvm_argument():
  properties = _jvm_properties(['--runner=FlinkRunner', '--flink_master=[local]'])
  assert properties == list(FLINK_JAVA17_OPENS)
  assert '--add-opens=java.base/java.util=ALL-UNNAMED' in properties
  assert not [p for p in properties if ' ' in p]


def test_the_users_jvm_properties_replace_the_defaults():
  properties = _jvm_properties(['--runner=FlinkRunner', '--flink_master=[local]',
                                '--job_server_jvm_property=-Xmx1g'])
  assert properties == ['-Xmx1g']


def test_the_direct_runner_gets_no_jvm_properties():
  assert _jvm_properties([]) == []


def test_prism_runs_bounded_with_the_stack_built_binary():
  from apache_beam.options.pipeline_options import PrismRunnerOptions

  from pipeline.options import DEFAULT_PRISM_BINARY
  plan, options = _with_defaults(['--runner=PrismRunner'])
  assert plan.is_prism and plan.bounded and not plan.is_flink
  assert options.view_as(PrismRunnerOptions).prism_location == DEFAULT_PRISM_BINARY
  assert not [a for a in options.get_all_options(drop_default=True) if a.startswith('direct_')]
  _, mine = _with_defaults(['--runner=PrismRunner', '--prism_location=/opt/prism'])
  assert mine.view_as(PrismRunnerOptions).prism_location == '/opt/prism'
