"""Beam's Python SDK worker pool (apache_beam.runners.worker.worker_pool_main) on loopback only.

Beam's own main binds `[::]:PORT`, every interface, and has no option to choose: anyone who can
reach the machine could start workers running code of their choosing. The local stack's
TaskManager runs on the same machine, so this launcher binds the same servicer to
`localhost:PORT` (gRPC binds each loopback address `localhost` resolves to, 127.0.0.1 and ::1).

    python stack/services/worker_pool_server.py --service_port=50000 [--bind_host=localhost]
"""
from __future__ import annotations

import argparse
import atexit
import logging
import sys
import time
from typing import Optional, Sequence

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc
from apache_beam.runners.worker import worker_pool_main
from apache_beam.utils import thread_pool_executor

_LOG = logging.getLogger('worker_pool_server')


def start(port: int, bind_host: str = 'localhost') -> tuple[str, grpc.Server]:
  """Beam's BeamFnExternalWorkerPoolServicer.start(use_process=True), bound to `bind_host`."""
  server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                       options=[('grpc.http2.max_pings_without_data', 0),
                                ('grpc.http2.max_ping_strikes', 0)])
  bound = server.add_insecure_port(f'{bind_host}:{port}')
  if not bound:
    raise RuntimeError(f'cannot bind the worker pool to {bind_host}:{port}')
  # What Beam's main passes (its start()'s defaults): workers as processes, no state cache,
  # the SDK's default data-buffer time limit.
  pool = worker_pool_main.BeamFnExternalWorkerPoolServicer(
      use_process=True, state_cache_size=0, data_buffer_time_limit_ms=-1)
  beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
  server.start()

  def kill_workers():
    for process in pool._worker_processes.values():  # pylint: disable=protected-access
      worker_pool_main.kill_process_gracefully(process)

  atexit.register(kill_workers)
  return f'{bind_host}:{bound}', server


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--service_port', type=int, required=True,
                      help='port of the worker pool service')
  parser.add_argument('--bind_host', default='localhost',
                      help='address to listen on (default localhost: loopback only)')
  args = parser.parse_args(argv)
  logging.basicConfig(level=logging.INFO)
  address, server = start(args.service_port, args.bind_host)
  _LOG.info('Beam worker pool listening on %s', address)
  try:
    while True:
      time.sleep(3600)
  except KeyboardInterrupt:
    server.stop(0)
  return 0


if __name__ == '__main__':
  sys.exit(main())
