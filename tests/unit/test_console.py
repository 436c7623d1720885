"""The console: Java log entries as one line, the orphaned-channel block and kafka-python's
self-retried coordinator warnings dropped, and no DoFn of ours that Beam warns about."""
import importlib
import inspect
import io
import logging
import pkgutil

import apache_beam as beam
import pytest
from apache_beam.portability.api import beam_fn_api_pb2
from apache_beam.runners.portability.fn_api_runner.worker_handlers import BasicLoggingService
from apache_beam.transforms.core import _check_fn_use_yield_and_return

from pipeline import console


@pytest.fixture
def captured():
  root = logging.getLogger()
  out = io.StringIO()
  handler = logging.StreamHandler(out)
  handler.setFormatter(logging.Formatter('%(levelname)s %(name)s: %(message)s'))
  saved = root.handlers[:], root.filters[:], root.level
  root.handlers, root.level = [handler], logging.INFO
  console.install()
  yield out
  root.handlers, root.filters, root.level = saved[0], saved[1], saved[2]


def _java_logs(*entries):
  """What Beam's FnApiRunner does with a Java worker's log entries."""
  batch = beam_fn_api_pb2.LogEntry.List(log_entries=list(entries))
  for _ in BasicLoggingService().Logging(iter([batch])):
    pass


def test_orphaned_channel_block_is_dropped_and_other_java_entries_are_one_line(captured):
  severity = beam_fn_api_pb2.LogEntry.Severity
  _java_logs(
      beam_fn_api_pb2.LogEntry(
          severity=severity.ERROR,
          log_location='org.apache.beam.vendor.grpc.v1p69p0.io.grpc.internal.ManagedChannelOrphanWrapper',
          message='*~*~*~ Previous channel ManagedChannelImpl{logId=5, target=localhost:1} was garbage '
                  'collected without being shut down! ~*~*~*\n    Make sure to call shutdown()',
          trace='java.lang.RuntimeException: ManagedChannel allocation site\n\tat io.grpc.X'),
      beam_fn_api_pb2.LogEntry(
          severity=severity.WARN, log_location='org.apache.kafka.clients.NetworkClient',
          message='Connection to node 1 could not be established.\nsecond line'))
  text = captured.getvalue()
  assert 'garbage collected' not in text and 'allocation site' not in text
  assert text.strip().splitlines() == [
      'WARNING root: java org.apache.kafka.clients.NetworkClient: Connection to node 1 could not be established.']


def test_self_retried_coordinator_warnings_are_dropped_others_kept(captured):
  log = logging.getLogger('kafka.coordinator')
  log.warning('Marking the coordinator dead (node coordinator-1) for group g: [Error 16] NotCoordinatorError.')
  log.warning('Heartbeat session expired, marking coordinator dead')
  logging.getLogger('pipeline').warning('NotCoordinatorError in our own words stays')
  lines = captured.getvalue().strip().splitlines()
  assert lines == ['WARNING kafka.coordinator: Heartbeat session expired, marking coordinator dead',
                   'WARNING pipeline: NotCoordinatorError in our own words stays']


def _our_dofns():
  for package in ('transforms', 'connectors', 'pipeline'):
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + '.'):
      if info.ispkg or info.name.endswith('__main__'):
        continue
      mod = importlib.import_module(info.name)
      for name, cls in inspect.getmembers(mod, inspect.isclass):
        if issubclass(cls, beam.DoFn) and cls.__module__ == mod.__name__ and 'process' in cls.__dict__:
          yield f'{info.name}.{name}', cls


def test_no_dofn_of_ours_mixes_yield_and_return():
  """Beam warns (apache/beam#22969) at graph construction about a process() that yields and
  returns a value; none of ours may."""
  dofns = dict(_our_dofns())
  assert len(dofns) > 5
  assert [n for n, cls in dofns.items() if _check_fn_use_yield_and_return(cls.process)] == []
