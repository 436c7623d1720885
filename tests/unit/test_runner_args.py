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


def test_flink_local_runs_one_python_process_per_core():
  plan, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=[local]'])
  assert plan.flink_local and not plan.bounded
  assert options.view_as(FlinkRunnerOptions).parallelism == os.cpu_count()
  assert options.view_as(PortableOptions).environment_type == 'LOOPBACK'
  # Threads of one process would share one GIL: each slot gets its own worker process.
  experiments = options.view_as(DebugOptions).experiments or []
  assert (LOOPBACK_PROCESS_WORKER in experiments) == (os.cpu_count() > 1)
  # Beam's default, 1, would give all slots one Python worker between them.
  assert int(options.view_as(PortableOptions).sdk_worker_parallelism) == os.cpu_count()


def test_flink_cluster_parallelism_is_its_free_slots():
  asked = []

  def free_slots(master):
    asked.append(master)
    return 4

  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=localhost:8081'], free_slots)
  assert asked == ['localhost:8081']
  assert options.view_as(FlinkRunnerOptions).parallelism == 4
  assert int(options.view_as(PortableOptions).sdk_worker_parallelism) == 4
  assert options.view_as(PortableOptions).environment_type == 'EXTERNAL'
  assert LOOPBACK_PROCESS_WORKER not in (options.view_as(DebugOptions).experiments or [])


def test_a_full_or_silent_cluster_gets_parallelism_one():
  for answer in (None, 0):
    _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=localhost:8081'],
                                lambda master, answer=answer: answer)
    assert options.view_as(FlinkRunnerOptions).parallelism == 1


def test_the_users_parallelism_and_environment_win():
  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=localhost:8081',
                               '--parallelism=3'])
  assert options.view_as(FlinkRunnerOptions).parallelism == 3
  assert int(options.view_as(PortableOptions).sdk_worker_parallelism) == 3
  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=localhost:8081',
                               '--parallelism=3', '--sdk_worker_parallelism=1'])
  assert int(options.view_as(PortableOptions).sdk_worker_parallelism) == 1
  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=[local]',
                               '--environment_type=EXTERNAL', '--environment_config=localhost:50000'])
  assert options.view_as(PortableOptions).environment_type == 'EXTERNAL'
  assert LOOPBACK_PROCESS_WORKER not in (options.view_as(DebugOptions).experiments or [])
  # --max_parallelism is another flag: the default parallelism is still added.
  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=[local]',
                               '--max_parallelism=8'])
  assert options.view_as(FlinkRunnerOptions).parallelism == os.cpu_count()


def test_the_users_experiments_are_kept():
  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=[local]',
                               '--experiments=beam_fn_api'])
  experiments = options.view_as(DebugOptions).experiments
  assert 'beam_fn_api' in experiments and LOOPBACK_PROCESS_WORKER in experiments


def test_flink_local_with_one_slot_keeps_its_python_in_process():
  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=[local]', '--parallelism=1'])
  assert options.view_as(PortableOptions).environment_type == 'LOOPBACK'
  assert LOOPBACK_PROCESS_WORKER not in (options.view_as(DebugOptions).experiments or [])


def test_process_workers_find_this_interpreter_first_on_path(monkeypatch):
  import sys
  monkeypatch.setenv('PATH', '/usr/bin')
  _with_defaults(['--runner=FlinkRunner', '--flink_master=[local]', '--parallelism=2',
                  f'--experiments={LOOPBACK_PROCESS_WORKER}'])
  assert os.environ['PATH'].split(os.pathsep)[0] == os.path.dirname(sys.executable)


def test_flink_harness_logs_at_warn_unless_asked():
  from apache_beam.options.pipeline_options import WorkerOptions
  for master in ('[local]', 'localhost:8081'):
    _, options = _with_defaults(['--runner=FlinkRunner', f'--flink_master={master}'],
                                lambda master: 2)
    assert options.view_as(WorkerOptions).default_sdk_harness_log_level == 'WARN'
  _, options = _with_defaults(['--runner=FlinkRunner', '--flink_master=[local]',
                               '--default_sdk_harness_log_level=INFO'])
  assert options.view_as(WorkerOptions).default_sdk_harness_log_level == 'INFO'
  _, options = _with_defaults([])
  assert options.view_as(WorkerOptions).default_sdk_harness_log_level is None
