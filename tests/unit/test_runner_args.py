"""Runner defaults the Flink runs add: the job server JVM must get each --add-opens as its own
argument (joined, Java 17 opened nothing and Flink's Kryo serializer failed in a restart loop)."""
from apache_beam.options.pipeline_options import JobServerOptions, PipelineOptions

from pipeline.__main__ import FLINK_JAVA17_OPENS, Plan, _extend_runner_args


def _jvm_properties(argv):
  plan = Plan(PipelineOptions(argv), argv)
  options = PipelineOptions(argv + _extend_runner_args(plan))
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
