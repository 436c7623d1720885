"""The 15 alert rules: promtool's unit tests (firing and not firing for each), and every rule has
`for:`, a severity, a summary and a runbook line in the README."""
import os
import re
import subprocess

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MONITORING = os.path.join(REPO, 'monitoring')
PROMTOOL = os.path.join(os.environ.get('STACK_HOME', os.path.join(REPO, '.local')), 'bin', 'promtool')


def _rules():
  with open(os.path.join(MONITORING, 'alerts.yml'), encoding='utf-8') as f:
    return [r for g in yaml.safe_load(f)['groups'] for r in g['rules']]


def _promtool(*args):
  if not os.access(PROMTOOL, os.X_OK):
    pytest.fail(f'{PROMTOOL} is missing: build it with `stack/stack.sh setup prometheus`')
  return subprocess.run([PROMTOOL, *args], cwd=MONITORING, capture_output=True, text=True, timeout=120)


def test_promtool_unit_tests_pass():
  done = _promtool('test', 'rules', 'tests/alerts_test.yml')
  assert done.returncode == 0, done.stdout + done.stderr
  assert 'SUCCESS' in done.stdout


def test_rules_and_config_are_valid():
  done = _promtool('check', 'rules', 'alerts.yml')
  assert done.returncode == 0, done.stdout + done.stderr
  assert 'SUCCESS: 15 rules found' in done.stdout
  done = _promtool('check', 'config', '--syntax-only', 'prometheus.yml')
  assert done.returncode == 0, done.stdout + done.stderr


def test_fifteen_rules_each_with_for_severity_summary_and_runbook():
  rules = _rules()
  assert len(rules) == 15
  with open(os.path.join(REPO, 'README.md'), encoding='utf-8') as f:
    readme = f.read()
  names = [r['alert'] for r in rules]
  assert len(set(names)) == 15
  for rule in rules:
    name = rule['alert']
    assert re.fullmatch(r'\d+[smh]', rule.get('for', '')), f'{name}: no for:'
    assert rule['labels']['severity'] in ('critical', 'warning'), name
    assert rule['annotations']['summary'].strip(), name
    anchor = f'runbook-{name.lower()}'
    assert rule['annotations']['runbook'] == f'README.md#{anchor}', name
    # One runbook line per alert: `- <a id="runbook-x"></a>**Name** ...`
    assert re.search(rf'<a id="{anchor}"></a>\*\*{name}\*\*[^\n]{{40,}}', readme), \
        f'README has no runbook line for {name}'


def test_every_rule_is_tested_firing_and_not_firing():
  with open(os.path.join(MONITORING, 'tests', 'alerts_test.yml'), encoding='utf-8') as f:
    tests = yaml.safe_load(f)['tests']
  firing, quiet = set(), set()
  for group in tests:
    for case in group.get('alert_rule_test', ()):
      (firing if case.get('exp_alerts') else quiet).add(case['alertname'])
  names = {r['alert'] for r in _rules()}
  assert names - firing == set(), f'never tested firing: {names - firing}'
  assert names - quiet == set(), f'never tested quiet: {names - quiet}'
