"""Command line shared by the agents: `python -m agents.<source> --once|--interval S [--since T]`."""
from __future__ import annotations

import argparse
import atexit
import datetime
import logging
import signal
import sys
import threading
from typing import Callable, Optional, Sequence

from agents import metrics as agent_metrics
from agents.checkpoint import DEFAULT_DIR, CheckpointStore
from agents.runner import DryRunSink, KafkaSink, SourceAgent, run_once
from agents.topics import load_topics
from connectors.http import ApiError, HttpConfig, RetryPolicy
from connectors.proxies import ROTATIONS, ProxyConfig
from connectors.kafka_publisher import DeadLetterCodec, KafkaPublisher, PublisherConfig, PublishError
from connectors.secrets import SecretError, SecretRef


def parse_time(text: str) -> datetime.datetime:
  """ISO-8601 with an offset (2026-11-28T00:00:00+06:00, ...Z), or a date (midnight UTC)."""
  try:
    ts = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
  except ValueError as e:
    raise argparse.ArgumentTypeError(f'not an ISO-8601 time: {text!r}') from e
  if ts.tzinfo is None:
    if len(text) == 10:
      return ts.replace(tzinfo=datetime.timezone.utc)
    raise argparse.ArgumentTypeError(f'{text!r} has no UTC offset; add Z or +06:00')
  return ts


def secret_ref(text: str) -> SecretRef:
  try:
    return SecretRef.parse(text)
  except SecretError as e:
    raise argparse.ArgumentTypeError(str(e)) from e


def positive(text: str) -> float:
  value = float(text)
  if value <= 0:
    raise argparse.ArgumentTypeError('must be > 0')
  return value


def common_parser(source: str, description: str) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog=f'python -m agents.{source}', description=description)
  mode = parser.add_mutually_exclusive_group()
  mode.add_argument('--once', action='store_true',
                    help='fetch once from the checkpoint to now, then exit (the default)')
  mode.add_argument('--interval', type=positive, metavar='SECONDS',
                    help='fetch again every SECONDS until interrupted (SIGINT/SIGTERM)')
  parser.add_argument('--since', type=parse_time,
                      help='start here instead of at the checkpoint (ISO-8601 with offset, or a '
                      'date); default: resume from the checkpoint, or --lookback-hours ago')
  parser.add_argument('--lookback-hours', type=positive, default=24.0,
                      help='first run without checkpoint or --since: start this long ago (24)')
  parser.add_argument('--dry-run', action='store_true',
                      help='print records as JSON lines to stdout; publish nothing, save no '
                      'checkpoint. Only the fields the pipeline keeps as they are (KEEP in '
                      'transforms/privacy_policy.py: order and post ids, times, statuses, '
                      'amounts, counts) are shown; every other value, ids it pseudonymizes and '
                      'fields it does not know included, is redacted')
  parser.add_argument('--show-pii', action='store_true',
                      help='with --dry-run: print the records as fetched, personal data '
                      'included (do not use where stdout is logged)')
  parser.add_argument('--bootstrap-servers',
                      help='Kafka brokers host:port[,...]; default from the topics file')
  parser.add_argument('--topics-file', help='topic config (default pipeline/topics.yaml)')
  parser.add_argument('--topic-prefix', default='',
                      help='prefix every topic name (tests publish to unique topics)')
  parser.add_argument('--checkpoint-dir', default=str(DEFAULT_DIR),
                      help=f'where checkpoints are kept (default {DEFAULT_DIR})')
  parser.add_argument('--dlq-key-ref', '--dlq-key', type=secret_ref, metavar='REF',
                      help='secret reference (env:NAME or file:PATH) to the DLQ key (hex or '
                      'base64, at least 32 random bytes: the pipeline\'s MILLIONX_DLQ_KEY); '
                      'ingest dead letters then carry the payload encrypted, otherwise only its '
                      'size; checked at start; --dlq-key is its old name')
  parser.add_argument('--base-url', help='API base URL (tests, other countries, proxies)')
  parser.add_argument('--max-attempts', type=int, default=5,
                      help='attempts per API call before giving up (default 5)')
  parser.add_argument('--timeout', type=positive, default=30.0,
                      help='read timeout per API call, seconds (default 30)')
  parser.add_argument('--proxies-ref', '--proxies_ref', type=secret_ref, metavar='REF',
                      help='secret reference (file:PATH or env:NAME) to a list of forward proxy '
                      'URLs, one a line (http://[user:password@]host:port); requests rotate '
                      'through them, a failing proxy is benched. Default: no proxies')
  parser.add_argument('--proxy-rotation', default='round-robin', choices=ROTATIONS,
                      help='how the next proxy is chosen per request (default round-robin)')
  parser.add_argument('--proxy-max-rps', type=positive, metavar='N',
                      help='at most N requests per second through each proxy (default: no limit)')
  parser.add_argument('--proxy-bench-seconds', type=positive, default=30.0, metavar='S',
                      help='a failing proxy is benched for S seconds, doubling with each further '
                      'failure up to 60 x S (default 30)')
  parser.add_argument('--log-level', default='INFO', choices=('DEBUG', 'INFO', 'WARNING', 'ERROR'),
                      help='log level of progress lines on stderr (default INFO)')
  parser.add_argument('--metrics-port', type=int, metavar='PORT',
                      help='serve Prometheus metrics on 127.0.0.1:PORT (0: any free port) and '
                      'announce them to the local stack\'s Prometheus (default: off)')
  return parser


def http_config(args: argparse.Namespace, default_base_url: str) -> HttpConfig:
  proxies = None
  if args.proxies_ref is not None:
    proxies = ProxyConfig(args.proxies_ref, rotation=args.proxy_rotation,
                          max_requests_per_s=args.proxy_max_rps,
                          bench_base_s=args.proxy_bench_seconds,
                          bench_max_s=60 * args.proxy_bench_seconds)
  return HttpConfig(args.base_url or default_base_url, read_timeout_s=args.timeout,
                    retry=RetryPolicy(max_attempts=args.max_attempts), proxies=proxies)


def main(source: str, description: str, add_arguments: Callable[[argparse.ArgumentParser], None],
         build: Callable[[argparse.Namespace], SourceAgent],
         argv: Optional[Sequence[str]] = None) -> int:
  parser = common_parser(source, description)
  add_arguments(parser)
  args = parser.parse_args(argv)
  if args.show_pii and not args.dry_run:
    parser.error('--show-pii applies to --dry-run only')
  logging.basicConfig(level=args.log_level, stream=sys.stderr,
                      format='%(asctime)s %(levelname)s %(message)s')
  if args.log_level != 'DEBUG':
    logging.getLogger('urllib3').setLevel(logging.WARNING)   # its DEBUG lines show query strings
  log = logging.getLogger(f'agents.{source}')
  try:
    agent = build(args)
    # The DLQ key is resolved and checked now, before any fetch: a wrong one is a usage error
    # here, not a crash at the first dead letter. Its errors name the reference, never the key.
    dead_letters = DeadLetterCodec(args.dlq_key_ref)
  except (ValueError, SecretError) as e:
    parser.error(str(e))
  topics = load_topics(args.topics_file)
  if args.topic_prefix:
    topics = topics.with_prefix(args.topic_prefix)
  store = CheckpointStore(args.checkpoint_dir, source, agent.scope)
  if args.metrics_port is not None:
    server = agent_metrics.MetricsServer(source, args.metrics_port)
    atexit.register(server.close)
    log.info('%s: metrics on http://127.0.0.1:%d/metrics', source, server.port)

  def one_pass(sink, since) -> bool:
    try:
      with agent:
        run_once(agent, sink, store, since=since,
                 lookback=datetime.timedelta(hours=args.lookback_hours), log=log)
      return True
    except (ApiError, PublishError, SecretError) as e:
      log.error('%s: run failed: %s: %s', source, type(e).__name__, e)
      agent_metrics.pass_failed(source, e)
      return False

  if args.dry_run:
    return 0 if one_pass(DryRunSink(topics, show_pii=args.show_pii), args.since) else 1
  config = PublisherConfig(bootstrap_servers=args.bootstrap_servers or topics.bootstrap_servers,
                           client_id=f'millionx-agent-{source}')
  with KafkaPublisher(config) as publisher:
    sink = KafkaSink(publisher, topics, dead_letters)
    if not args.interval:
      ok = one_pass(sink, args.since)
      log.info('%s: total %s', source, dict(publisher.acked))
      return 0 if ok else 1
    # SIGINT/SIGTERM end the loop after the current pass, so its checkpoint is saved.
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
      signal.signal(sig, lambda *_: stop.set())
    since = args.since
    while not stop.is_set():
      one_pass(sink, since)
      since = None  # --since applies to the first pass only; later ones resume from the checkpoint
      stop.wait(args.interval)
    log.info('%s: stopped; total %s', source, dict(publisher.acked))
  return 0
