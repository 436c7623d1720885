"""Pipeline options: every flag of `python -m pipeline`, with help, checked in validate()."""
from __future__ import annotations

import os

from apache_beam.options.pipeline_options import (FlinkRunnerOptions, PipelineOptions,
                                                  StandardOptions)

from connectors.secrets import SecretError, SecretRef
from connectors.weaviate_schema import ORDERS_COLLECTION as WEAVIATE_ORDERS_COLLECTION
from connectors.weaviate_schema import POSTS_COLLECTION as WEAVIATE_POSTS_COLLECTION
from pipeline import versions
from pipeline.topics import TOPICS_FILE, load_topics
from transforms.config import DEFAULT_EMBED_BACKEND, EMBED_BACKENDS

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STACK_HOME = os.environ.get('STACK_HOME', os.path.join(REPO_ROOT, '.local'))
# Built by stack/stack.sh (see stack/versions.sh for why two Beam versions).
DEFAULT_EXPANSION_JAR = os.path.join(
    STACK_HOME, 'jars', f'beam-kafka-expansion-service-{versions.BEAM_VERSION}.jar')
DEFAULT_FLINK_EXPANSION_JAR = os.path.join(
    STACK_HOME, 'jars', f'beam-kafka-expansion-service-flink-{versions.BEAM_FLINK_VERSION}.jar')
DEFAULT_FLINK_JOB_SERVER_JAR = os.path.join(
    STACK_HOME, 'jars',
    f'beam-flink-{versions.FLINK_MINOR_VERSION}-job-server-{versions.BEAM_FLINK_VERSION}.jar')
FLINK_VERSION = versions.FLINK_MINOR_VERSION
DEFAULT_PRISM_BINARY = os.path.join(STACK_HOME, 'bin', 'prism')   # stack/stack.sh setup prism
MISSING_POLICIES = ('flag', 'quiet', 'fail')


class KafkaOptions(PipelineOptions):
  """Where the pipeline reads and writes Kafka, and how much a bounded run reads."""
  @classmethod
  def _add_argparse_args(cls, parser):
    group = parser.add_argument_group('Kafka')
    group.add_argument(
        '--bootstrap_servers', default=None,
        help='Kafka bootstrap servers, HOST:PORT[,HOST:PORT]. Default: the one in --topics_config '
        '(127.0.0.1:9092, the local stack).')
    group.add_argument(
        '--topics_config', default=TOPICS_FILE,
        help='The YAML file defining the topics (default: pipeline/topics.yaml).')
    group.add_argument(
        '--sources', default=None,
        help='Comma-separated sources to read (tiktok,facebook,shopify,daraz). Default: all raw topics.')
    group.add_argument(
        '--consumer_group', default='millionx-pipeline',
        help='Kafka consumer group. DirectRunner/Prism: the offsets a run read are committed after '
        'the run succeeded (a failed run commits nothing); Flink: when a checkpoint completes. A '
        'restart with the same group resumes after the last committed record.')
    group.add_argument(
        '--start_offset', default='earliest', choices=('earliest', 'latest'),
        help='Where a consumer group with no committed offsets starts.')
    group.add_argument(
        '--max_records', type=int, default=1_000_000,
        help='DirectRunner/Prism: read at most this many records of the group\'s backlog, planned '
        'as exact offset ranges per partition when the run starts (the rest stays for the next '
        'run).')
    group.add_argument(
        '--max_read_seconds', type=int, default=10,
        help='DirectRunner/Prism: a partition that yields no record for this many seconds before '
        'its planned end fails the run (nothing is committed; the next run reads it again). It '
        'never waits for records that are not there: the plan stops at the end offsets.')
    group.add_argument(
        '--kafka_expansion_jar', default=DEFAULT_EXPANSION_JAR,
        help='Runnable jar of the Beam Kafka expansion service used with DirectRunner/PrismRunner '
        '(built by `stack/stack.sh setup beam_jars`).')
    group.add_argument(
        '--flink_kafka_expansion_jar', default=DEFAULT_FLINK_EXPANSION_JAR,
        help='Runnable jar of the Kafka expansion service matching the Flink job server\'s Beam '
        'version (built by `stack/stack.sh setup beam_jars`).')

  def validate(self, validator):
    errors = []
    for name in ('max_records', 'max_read_seconds'):
      if getattr(self, name) is not None and getattr(self, name) <= 0:
        errors.append(f'--{name} must be positive')
    if not self.consumer_group:
      errors.append('--consumer_group must not be empty')
    if not os.path.isfile(self.topics_config):
      errors.append(f'--topics_config {self.topics_config} does not exist')
    elif self.sources is not None:
      errors += source_errors(self.sources, self.topics_config)
    return errors


def source_errors(sources: str, topics_config: str) -> list[str]:
  """--sources must name raw topics' sources of the topics file (checked here, not when the
  graph is built, where an unknown one was a traceback)."""
  known = sorted(set(load_topics(topics_config).raw_source_by_topic().values()))
  names = [name.strip() for name in sources.split(',')]
  unknown = [name for name in names if name not in known]
  if not unknown:
    return []
  shown = ', '.join(repr(name[:40]) for name in unknown)
  return [f'--sources: unknown source(s) {shown}; known: {",".join(known)}']


class OutputOptions(PipelineOptions):
  """Where results and dead letters go."""
  @classmethod
  def _add_argparse_args(cls, parser):
    group = parser.add_argument_group('Outputs')
    group.add_argument('--posts_topic', default='out.social.posts',
                       help='Kafka topic for normalized social posts (JSON).')
    group.add_argument('--orders_topic', default='out.market.orders',
                       help='Kafka topic for normalized market orders (JSON).')
    group.add_argument('--dlq_topic', default='dlq.pipeline',
                       help='Kafka topic for dead letters of every stage (JSON, payload encrypted).')


class TransformOptions(PipelineOptions):
  """Secrets (as references), enrichment sources and embedding settings for the transforms."""
  @classmethod
  def _add_argparse_args(cls, parser):
    group = parser.add_argument_group('Transforms')
    group.add_argument(
        '--dlq_key_ref', default='env:MILLIONX_DLQ_KEY',
        help='Secret reference (env:NAME or file:PATH) to the key that encrypts dead-letter '
        'payloads. Resolved on the workers, never stored in the graph.')
    group.add_argument(
        '--pseudonym_key_ref', default='env:MILLIONX_PSEUDONYM_KEY',
        help='Secret reference (env:NAME or file:PATH) to the HMAC key for PII pseudonyms.')
    group.add_argument(
        '--pseudonym_key_id', default=None,
        help='Name of the pseudonym key, stored beside every pseudonym (rotation). Default: a '
        'fingerprint of the key.')
    group.add_argument(
        '--weather_snapshot', default=None,
        help='JSON file of OpenWeather current-weather objects keyed by city id, or by city and '
        'hour as the weather topic keys them ("1185241:2026-11-28T11"), one or a list per key: '
        'a history per city (python -m pipeline.context_files writes the topic\'s).')
    group.add_argument(
        '--openweather_key_ref', default=None,
        help='Secret reference to an OpenWeather API key: fetch live (current) weather for the 8 '
        'cities; no history, so records far from now get none. Not with --weather_snapshot.')
    group.add_argument(
        '--weather_refresh_seconds', type=float, default=600.0,
        help='Streaming runs (Flink): how often the weather is reloaded. On Flink the enrich DoFn '
        'reloads the snapshot (or live weather) itself between bundles; where the weather is a '
        'side input (the streaming tests\' PeriodicImpulse) it is that side input\'s refresh. '
        'Bounded runs load it once.')
    group.add_argument(
        '--weather_max_age_seconds', type=float, default=3 * 3600.0,
        help='Each record gets its city\'s observation nearest to its event time if it is at '
        'most this far from it (seconds); otherwise none, flagged weather_stale.')
    group.add_argument(
        '--product_catalog', default=None,
        help='Product catalog file (JSON list or JSON lines of context.products values).')
    group.add_argument(
        '--catalog_refresh_seconds', type=float, default=600.0,
        help='Streaming runs (Flink): how often the product catalog is reloaded, as '
        '--weather_refresh_seconds: by the enrich DoFn itself on Flink, as a side input\'s refresh '
        'elsewhere.')
    group.add_argument(
        '--missing_weather', default='flag', choices=MISSING_POLICIES,
        help='No weather for a record: flag (go on, flagged and counted), quiet (counted), '
        'fail (dead letter).')
    group.add_argument(
        '--missing_product', default='flag', choices=MISSING_POLICIES,
        help='No catalog entry for an order line: flag, quiet or fail (as --missing_weather).')
    group.add_argument(
        '--embed', dest='embed', action='store_true', default=True,
        help='Compute 384-dim all-MiniLM-L6-v2 embeddings with RunInference (default).')
    group.add_argument(
        '--no_embed', dest='embed', action='store_false',
        help='Skip embeddings (faster runs; Weaviate then gets nothing).')
    group.add_argument(
        '--embed_max_batch_size', type=int, default=64,
        help='Largest RunInference batch for the embedding model.')
    group.add_argument(
        '--embed_backend', default=DEFAULT_EMBED_BACKEND, choices=EMBED_BACKENDS,
        help='What runs all-MiniLM-L6-v2: torch (SentenceTransformer), onnx (ONNX Runtime, '
        'fp32) or onnx-int8 (ONNX Runtime, dynamic int8). Default %(default)s: the fastest that '
        'passes the quality gate against torch fp32 (README, Embeddings). The ONNX files are '
        'exported at setup: stack/stack.sh setup embed_model.')
    group.add_argument(
        '--embed_max_seq_length', type=int, default=256,
        help='Word pieces per text the model reads (8-512, [CLS] and [SEP] included); longer '
        'texts are cut, counted as num_embed_truncated.')
    group.add_argument(
        '--embed_bucket_size', type=int, default=8,
        help='Each RunInference batch is sorted by token length and run in sub-batches of this '
        'many texts, so short captions are not padded to the longest; 0 = one padded batch.')
    group.add_argument(
        '--embed_threads', type=int, default=None,
        help='Intra-op threads of the model in each worker process (default: the runtime\'s, '
        'i.e. all cores). With several worker processes on one machine, cores / processes.')
    group.add_argument(
        '--embed_onnx_dir', default=None,
        help='Directory of the ONNX export (default: .local/models/all-MiniLM-L6-v2-onnx).')

  def validate(self, validator):
    errors = _secret_ref_errors(self, ('dlq_key_ref', 'pseudonym_key_ref', 'openweather_key_ref'))
    for name in ('weather_snapshot', 'product_catalog'):
      path = getattr(self, name)
      if path and not os.path.isfile(path):
        errors.append(f'--{name} {path} does not exist')
    if self.weather_snapshot and self.openweather_key_ref:
      errors.append('give --weather_snapshot or --openweather_key_ref, not both')
    if self.embed_max_batch_size < 1:
      errors.append('--embed_max_batch_size must be >= 1')
    for name in ('weather_refresh_seconds', 'catalog_refresh_seconds', 'weather_max_age_seconds'):
      if getattr(self, name) <= 0:
        errors.append(f'--{name} must be positive')
    if self.pseudonym_key_id is not None and not self.pseudonym_key_id.strip():
      errors.append('--pseudonym_key_id must not be blank (omit it for the key\'s fingerprint)')
    errors += embed_errors(self, self.embed)
    return errors


def embed_errors(options, embedding: bool) -> list[str]:
  """Checks of the --embed_* flags (shared by `python -m pipeline` and `python -m pipeline.search`);
  the ONNX export must be there only when something is embedded."""
  errors = []
  if not 8 <= options.embed_max_seq_length <= 512:
    errors.append('--embed_max_seq_length must be within 8..512')
  if options.embed_bucket_size < 0:
    errors.append('--embed_bucket_size must be >= 0 (0: no bucketing)')
  if options.embed_threads is not None and options.embed_threads < 1:
    errors.append('--embed_threads must be >= 1')
  if embedding and options.embed_backend != 'torch':
    from transforms.config import default_model_dir
    from transforms.embed_model import SETUP_HINT, default_onnx_dir, export_problem
    onnx_dir = options.embed_onnx_dir or default_onnx_dir()
    problem = export_problem(default_model_dir(), onnx_dir)
    if problem:
      errors.append(f'--embed_backend={options.embed_backend} needs the ONNX export in '
                    f'{onnx_dir}: {problem}; {SETUP_HINT}, or use --embed_backend=torch')
  return errors


def embed_settings(options) -> dict:
  """The EmbedConfig fields the --embed_* flags set."""
  return {'backend': options.embed_backend, 'max_seq_length': options.embed_max_seq_length,
          'bucket_size': options.embed_bucket_size, 'threads': options.embed_threads,
          'onnx_dir': options.embed_onnx_dir}


class SearchOptions(PipelineOptions):
  """`python -m pipeline.search`: semantic search over the posts in Weaviate."""
  @classmethod
  def _add_argparse_args(cls, parser):
    group = parser.add_argument_group('Search')
    group.add_argument(
        '--hybrid', action='store_true', default=False,
        help='Hybrid search: the query\'s vector fused with BM25 keyword scores on the text '
        'and hashtags (default: vectors only).')
    group.add_argument(
        '--alpha', type=float, default=0.5,
        help='With --hybrid: weight of the vector score, 0..1 (1 = vectors only, 0 = BM25 only).')
    group.add_argument('--source', default=None, choices=('tiktok', 'facebook'),
                       help='Only posts from this source.')
    group.add_argument('--city', default=None,
                       help='Only posts from this city (any spelling the pipeline resolves: '
                       'Dhaka, dhaka, ঢাকা, Chittagong …).')
    group.add_argument('--since', default=None,
                       help='Only posts at or after this time: YYYY-MM-DD or an ISO time (UTC '
                       'unless it has an offset).')
    group.add_argument('--until', default=None,
                       help='Only posts before this time (as --since).')
    group.add_argument('--hashtag', action='append', default=None,
                       help='Only posts with this hashtag (exact, with or without #); repeat '
                       'for any of several.')
    group.add_argument('--limit', type=int, default=10, help='How many posts (1..100).')
    group.add_argument(
        '--like', default=None, metavar='EVENT_ID',
        help='Posts similar to this stored post (its own vector is the query; no query text).')
    group.add_argument('--json', action='store_true', default=False,
                       help='Print the hits as JSON instead of a table.')

  def validate(self, validator):
    return search_errors(self)


def parse_time(text: str):
  """YYYY-MM-DD or ISO 8601 → aware datetime (UTC when no offset is given); ValueError if not."""
  import datetime
  value = datetime.datetime.fromisoformat(text.strip()[:40])
  return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def search_errors(options) -> list[str]:
  errors = []
  if not 0.0 <= options.alpha <= 1.0:
    errors.append('--alpha must be within 0..1')
  if not 1 <= options.limit <= 100:
    errors.append('--limit must be within 1..100')
  times = {}
  for name in ('since', 'until'):
    if getattr(options, name):
      try:
        times[name] = parse_time(getattr(options, name))
      except ValueError:
        errors.append(f'--{name} {getattr(options, name)[:40]!r} is not a date (YYYY-MM-DD) or '
                      'an ISO time')
  if len(times) == 2 and times['since'] >= times['until']:
    errors.append('--since must be before --until')
  if options.like and options.hybrid:
    errors.append('--like searches with a stored post\'s vector: it cannot be --hybrid')
  return errors


class RunOptions(PipelineOptions):
  """How `python -m pipeline` runs and reports."""
  @classmethod
  def _add_argparse_args(cls, parser):
    group = parser.add_argument_group('Run')
    group.add_argument(
        '--detached', action='store_true', default=False,
        help='FlinkRunner with a cluster --flink_master: submit the job, print its Flink job id, '
        'and return. Cancel it with `curl -X PATCH http://HOST:8081/jobs/JOB_ID?mode=cancel` or '
        '`python -m pipeline.flink_jobs cancel JOB_ID`.')
    group.add_argument(
        '--summary_json', default=None,
        help='Also write the run summary (records read, written per output, dead letters by '
        'stage and reason) to this JSON file.')
    group.add_argument(
        '--skip_preflight', action='store_true', default=False,
        help='Do not check that Kafka, topics and jars are there before building the graph.')
    group.add_argument(
        '--pushgateway', default=None, metavar='HOST:PORT',
        help='Bounded runners (DirectRunner, Prism): push the run\'s final metrics to this Prometheus '
        'Pushgateway when the run ends (job=millionx-pipeline, runner=<runner>; each run replaces '
        'the previous one). The stack\'s is 127.0.0.1:9091 (stack/stack.sh start pushgateway). '
        'A Pushgateway that does not answer is a warning, never a failed run.')
    group.add_argument(
        '--progress_interval', type=float, default=5.0,
        help='Seconds between progress lines (records done of the backlog, rate, time left) while '
        'a run works; 0 turns them off. Flink cluster jobs: python -m pipeline.progress.')

  def validate(self, validator):
    errors = []
    if self.progress_interval < 0:
      errors.append('--progress_interval must be >= 0 (0: no progress lines)')
    if self.detached:
      runner = (self.view_as(StandardOptions).runner or '').lower()
      master = self.view_as(FlinkRunnerOptions).flink_master
      if not runner.startswith('flink') or master in (None, '[local]', '[auto]'):
        errors.append('--detached needs --runner=FlinkRunner and a cluster --flink_master '
                      '(HOST:8081): any other run works in this process, so it cannot detach')
    return errors


class SinkOptions(PipelineOptions):
  """Snowflake (rows) and Weaviate (vectors). Both are off unless asked for."""
  @classmethod
  def _add_argparse_args(cls, parser):
    group = parser.add_argument_group('Sinks')
    group.add_argument(
        '--snowflake', action='store_true', default=False,
        help='Write posts, orders, weather observations and dead letters to Snowflake (MERGE on '
        'event_id, so replays change nothing). Tables: python -m connectors.snowflake_migrate.')
    group.add_argument('--snowflake_account', default='local', help='Snowflake account identifier.')
    group.add_argument('--snowflake_user', default='millionx', help='Snowflake user.')
    group.add_argument('--snowflake_database', default='MILLIONX', help='Snowflake database.')
    group.add_argument('--snowflake_schema', default='CORE', help='Snowflake schema.')
    group.add_argument('--snowflake_warehouse', default=None, help='Snowflake warehouse.')
    group.add_argument('--snowflake_role', default=None, help='Snowflake role.')
    group.add_argument(
        '--snowflake_password_ref', default=None,
        help='Secret reference (env:NAME or file:PATH) to the password.')
    group.add_argument(
        '--snowflake_private_key_ref', default=None,
        help='Secret reference to a PEM private key (key-pair auth; instead of a password).')
    group.add_argument(
        '--snowflake_private_key_passphrase_ref', default=None,
        help='Secret reference to the private key\'s passphrase.')
    group.add_argument(
        '--snowflake_host', default=None,
        help='Host override; 127.0.0.1 with --snowflake_port=8765 --snowflake_protocol=http is '
        'the local fakesnow server. Default: <account>.snowflakecomputing.com.')
    group.add_argument('--snowflake_port', type=int, default=None, help='Port override.')
    group.add_argument('--snowflake_protocol', default='https', choices=('https', 'http'),
                       help='http only for a local emulator.')
    group.add_argument('--snowflake_emulator', action='store_true', default=False,
                       help='The target is the fakesnow emulator (local stack).')
    group.add_argument('--weaviate', action='store_true', default=False,
                       help='Write posts and orders with their vectors to Weaviate (object id '
                       '= event_id, so replays overwrite). Collections: python -m connectors.weaviate.')
    group.add_argument('--weaviate_http_host', default='127.0.0.1', help='Weaviate REST host.')
    group.add_argument('--weaviate_http_port', type=int, default=8080, help='Weaviate REST port.')
    group.add_argument('--weaviate_grpc_host', default='127.0.0.1', help='Weaviate gRPC host.')
    group.add_argument('--weaviate_grpc_port', type=int, default=50051, help='Weaviate gRPC port.')
    group.add_argument('--weaviate_secure', action='store_true', default=False,
                       help='Use https and TLS gRPC for Weaviate.')
    group.add_argument('--weaviate_api_key_ref', default=None,
                       help='Secret reference to a Weaviate API key (omit for anonymous access).')
    group.add_argument('--weaviate_posts_collection', default=WEAVIATE_POSTS_COLLECTION,
                       help='Weaviate collection of the posts (default %(default)s).')
    group.add_argument('--weaviate_orders_collection', default=WEAVIATE_ORDERS_COLLECTION,
                       help='Weaviate collection of the orders (default %(default)s).')
    group.add_argument('--sink_window_seconds', type=float, default=60.0,
                       help='Fixed windows the sinks cut their batches in.')
    group.add_argument(
        '--sink_flush_seconds', type=float, default=2.0,
        help='A sink writes a partial batch once its oldest row/object has waited this long '
        '(processing time, on every runner); 0: only when the batch is full and at the end of '
        'each bundle. Lower: fresher rows, more MERGEs (Snowflake warehouse time).')
    group.add_argument('--snowflake_batch_size', type=int, default=500,
                       help='Rows per Snowflake MERGE, at most.')
    group.add_argument('--weaviate_batch_size', type=int, default=200,
                       help='Objects per Weaviate batch import, at most.')

  def validate(self, validator):
    errors = []
    if self.snowflake and bool(self.snowflake_password_ref) == bool(self.snowflake_private_key_ref):
      errors.append('--snowflake needs exactly one of --snowflake_password_ref and '
                    '--snowflake_private_key_ref')
    if self.sink_window_seconds <= 0:
      errors.append('--sink_window_seconds must be positive')
    if self.sink_flush_seconds < 0:
      errors.append('--sink_flush_seconds must be >= 0')
    if self.snowflake_batch_size < 1 or self.weaviate_batch_size < 1:
      errors.append('--snowflake_batch_size and --weaviate_batch_size must be >= 1')
    # Checked here, not first in SnowflakeConfig/WeaviateConfig: one line, not a traceback.
    errors += _secret_ref_errors(self, ('snowflake_password_ref', 'snowflake_private_key_ref',
                                        'snowflake_private_key_passphrase_ref',
                                        'weaviate_api_key_ref'))
    return errors



def _secret_ref_errors(options, names) -> list[str]:
  """One line per given *_ref flag that is not a secret reference (the value never echoed)."""
  errors = []
  for name in names:
    ref = getattr(options, name)
    if ref is None:
      continue
    try:
      SecretRef.parse(ref)
    except SecretError as e:
      errors.append(f'--{name}: {e}')
  return errors


# The views `python -m pipeline` reads, in --help order: its flag check and validation use this.
PIPELINE_OPTIONS = (KafkaOptions, OutputOptions, TransformOptions, SinkOptions, RunOptions)
