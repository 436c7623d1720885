"""flink-compose.yml parses, pins its images, and agrees with the local scripts' ports and topics."""
import os
import re

import yaml

from pipeline.topics import TOPICS_FILE, load_topics

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _compose():
  with open(os.path.join(REPO, 'flink-compose.yml'), encoding='utf-8') as f:
    return yaml.safe_load(f)


def _stack_default(service_file: str, variable: str) -> str:
  with open(os.path.join(REPO, 'stack', 'services', service_file), encoding='utf-8') as f:
    match = re.search(rf'^{variable}=\$\{{[A-Z_]+:-(\d+)\}}', f.read(), re.M)
  assert match, f'{variable} not found in {service_file}'
  return match.group(1)


def _published(service) -> set[str]:
  return {p.split(':')[0] for p in service.get('ports', [])}


def test_images_are_pinned():
  for name, service in _compose()['services'].items():
    image = service['image']
    assert ':' in image and not image.endswith(':latest'), f'{name} image {image} is not pinned'


def test_ports_match_the_local_stack():
  services = _compose()['services']
  assert _stack_default('kafka.sh', 'KAFKA_PORT') in _published(services['kafka'])
  assert _stack_default('flink.sh', 'FLINK_REST_PORT') in _published(services['jobmanager'])
  assert _stack_default('weaviate.sh', 'WEAVIATE_HTTP_PORT') in _published(services['weaviate'])
  assert _stack_default('weaviate.sh', 'WEAVIATE_GRPC_PORT') in _published(services['weaviate'])
  pool = services['beam-worker-pool']
  assert f'--service_port={_stack_default("worker_pool.sh", "WORKER_POOL_PORT")}' in pool['command']
  assert pool['network_mode'] == 'service:taskmanager'


def test_topics_come_from_the_one_topics_file():
  topics = _compose()['services']['topics']
  assert 'pipeline/topics.yaml' in topics['command']
  assert './pipeline:/app/pipeline:ro' in topics['volumes']
  config = load_topics(TOPICS_FILE)
  assert config.bootstrap_servers.endswith(':' + _stack_default('kafka.sh', 'KAFKA_PORT'))


def test_versions_match_stack_versions():
  with open(os.path.join(REPO, 'stack', 'versions.sh'), encoding='utf-8') as f:
    versions = dict(re.findall(r'^([A-Z_]+)=(\S+)', f.read(), re.M))
  images = {n: s['image'] for n, s in _compose()['services'].items()}
  assert images['kafka'].endswith(':' + versions['KAFKA_VERSION'])
  assert images['jobmanager'].startswith(f'flink:{versions["FLINK_VERSION"]}-')
  assert images['beam-worker-pool'].endswith(':' + versions['BEAM_VERSION'])
  assert images['weaviate'].endswith(':' + versions['WEAVIATE_VERSION'].lstrip('v'))


def test_monitoring_services_and_grafana_provisioning():
  services = _compose()['services']
  assert _stack_default('prometheus.sh', 'PROMETHEUS_PORT') in _published(services['prometheus'])
  assert _stack_default('pushgateway.sh', 'PUSHGATEWAY_PORT') in _published(services['pushgateway'])
  assert services['prometheus']['image'].endswith(':' + _prometheus_release())
  assert './monitoring:/etc/prometheus/millionx:ro' in services['prometheus']['volumes']
  for role in ('jobmanager', 'taskmanager'):
    props = services[role]['environment']['FLINK_PROPERTIES']
    assert 'metrics.reporter.prom.factory.class: org.apache.flink.metrics.prometheus.PrometheusReporterFactory' in props
    assert 'metrics.reporter.prom.port: 9249' in props
  grafana = services['grafana']
  assert './monitoring/dashboards:/var/lib/grafana/dashboards/millionx:ro' in grafana['volumes']
  with open(os.path.join(REPO, 'monitoring', 'grafana', 'provisioning', 'dashboards', 'millionx.yml'),
            encoding='utf-8') as f:
    provider = yaml.safe_load(f)['providers'][0]
  assert provider['options']['path'] == '/var/lib/grafana/dashboards/millionx'
  dashboards = os.listdir(os.path.join(REPO, 'monitoring', 'dashboards'))
  assert sorted(dashboards) == ['data-quality.json', 'pipeline-overview.json']


def test_compose_prometheus_scrapes_the_compose_services_with_the_same_renaming():
  from pipeline.metrics_push import relabel_configs  # pylint: disable=import-outside-toplevel
  with open(os.path.join(REPO, 'monitoring', 'prometheus-compose.yml'), encoding='utf-8') as f:
    config = yaml.safe_load(f)
  services = set(_compose()['services'])
  jobs = {j['job_name']: j for j in config['scrape_configs']}
  for job in jobs.values():
    for static in job.get('static_configs', ()):
      for target in static['targets']:
        host = target.split(':')[0]
        assert host == 'localhost' or host in services, f'{job["job_name"]}: {target}'
  assert jobs['flink']['metric_relabel_configs'] == relabel_configs()
  assert config['rule_files'] == ['alerts.yml']


def _prometheus_release() -> str:
  """v0.316.0 (the Go module's version) → 3.16.0 (the release, and the image tag)."""
  with open(os.path.join(REPO, 'stack', 'versions.sh'), encoding='utf-8') as f:
    module = re.search(r'^PROMETHEUS_VERSION=v0\.(\d+)\.(\d+)', f.read(), re.M)
  return f'v3.{int(module.group(1)) - 300}.{module.group(2)}'
