"""List and cancel jobs on a Flink cluster through its REST API.

    python -m pipeline.flink_jobs list   [--flink_master localhost:8081]
    python -m pipeline.flink_jobs cancel JOB_ID [--flink_master localhost:8081]
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Optional, Sequence


def flink_rest_url(master: str) -> str:
  return master if master.startswith('http') else f'http://{master}'


def list_jobs(master: str) -> list[dict]:
  with urllib.request.urlopen(f'{flink_rest_url(master)}/jobs/overview', timeout=10) as resp:
    return json.load(resp).get('jobs', [])


def cancel_job(master: str, job_id: str) -> None:
  request = urllib.request.Request(f'{flink_rest_url(master)}/jobs/{job_id}?mode=cancel', method='PATCH')
  with urllib.request.urlopen(request, timeout=10):
    pass


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m pipeline.flink_jobs', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('command', choices=('list', 'cancel'), help='list jobs, or cancel one')
  parser.add_argument('job_id', nargs='?', help='the Flink job id to cancel')
  parser.add_argument('--flink_master', default='localhost:8081', help='Flink REST address')
  args = parser.parse_args(argv)
  try:
    if args.command == 'list':
      for job in list_jobs(args.flink_master):
        print(f"{job['jid']}  {job['state']:<10} {job['name']}")
      return 0
    if not args.job_id:
      parser.error('cancel needs a JOB_ID (see `list`)')
    cancel_job(args.flink_master, args.job_id)
    print(f'cancel requested for {args.job_id}')
    return 0
  except urllib.error.HTTPError as e:
    print(f'error: Flink answered {e.code} for {e.url}: is the job id right? (`list` shows them)', file=sys.stderr)
  except OSError as e:
    print(f'error: Flink REST at {args.flink_master} does not answer ({e}); `./run_local.sh start`', file=sys.stderr)
  return 1


if __name__ == '__main__':
  sys.exit(main())
