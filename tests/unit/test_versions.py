"""One version registry: stack/versions.sh, read by the scripts and by pipeline.versions; the
copies that must exist elsewhere (setup.py's pin, the poms' defaults, the jar names) agree."""
import os
import re
import xml.etree.ElementTree as ET

from pipeline import options, versions

REPO = versions.REPO_ROOT
_POM = '{http://maven.apache.org/POM/4.0.0}'


def _pom_properties(name: str) -> dict:
  root = ET.parse(os.path.join(REPO, 'stack', 'java', name, 'pom.xml')).getroot()
  return {el.tag.replace(_POM, ''): el.text for el in root.find(f'{_POM}properties')}


def test_the_versions_file_is_parsed_as_the_shell_reads_it(tmp_path):
  path = tmp_path / 'versions.sh'
  path.write_text('# comment\nA_VERSION=1.2.3   # trailing comment\nB=v0.316.0\n  INDENTED=no\n')
  assert versions.read_versions(str(path)) == {'A_VERSION': '1.2.3', 'B': 'v0.316.0'}
  assert versions.FLINK_MINOR_VERSION == '.'.join(versions.FLINK_VERSION.split('.')[:2])


def test_setup_pins_the_beam_sdk_of_the_versions_file():
  with open(os.path.join(REPO, 'setup.py'), encoding='utf-8') as f:
    pins = dict(re.findall(r'"([A-Za-z0-9_.\-]+)==([^"]+)"', f.read()))
  assert pins['apache-beam'] == versions.BEAM_VERSION


def test_the_poms_defaults_are_the_versions_the_scripts_pass():
  assert _pom_properties('expansion') == {'beam.version': versions.BEAM_VERSION,
                                          'kafka.version': versions.version('KAFKA_VERSION')}
  assert _pom_properties('flink') == {'beam.version': versions.BEAM_FLINK_VERSION,
                                      'flink.minor': versions.FLINK_MINOR_VERSION,
                                      'kafka.version': versions.version('KAFKA_VERSION')}
  assert _pom_properties('kafka') == {'kafka.version': versions.version('KAFKA_VERSION')}


def test_the_jar_paths_carry_the_versions():
  assert options.DEFAULT_EXPANSION_JAR.endswith(f'-{versions.BEAM_VERSION}.jar')
  assert options.DEFAULT_FLINK_JOB_SERVER_JAR.endswith(
      f'beam-flink-{versions.FLINK_MINOR_VERSION}-job-server-{versions.BEAM_FLINK_VERSION}.jar')
  with open(os.path.join(REPO, 'stack', 'services', 'beam_jars.sh'), encoding='utf-8') as f:
    script = f.read()
  assert 'beam-flink-${FLINK_VERSION%.*}-job-server-$BEAM_FLINK_VERSION.jar' in script
