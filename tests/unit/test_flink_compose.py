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
