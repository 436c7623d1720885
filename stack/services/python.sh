# The project's virtual environment: $STACK_HOME/venv, pinned by setup.py + stack/constraints.txt.
# shellcheck shell=bash

python_install() {
  local stamp=$STACK_HOME/venv/.installed-$(cat "$REPO/setup.py" "$REPO/stack/constraints.txt" | sha256sum | cut -c1-16)
  [ -f "$stamp" ] && return 0
  if [ ! -x "$PY" ]; then
    say "creating the virtual environment in $STACK_HOME/venv"
    python3.11 -m venv "$STACK_HOME/venv" 2>/dev/null || python3 -m venv "$STACK_HOME/venv" \
      || { fail "cannot create a Python 3.11 virtual environment"; return 1; }
  fi
  say "installing Python dependencies (first time: torch and friends, several GB; progress below)"
  "$PY" -m pip install -q --upgrade pip setuptools wheel || { fail "pip could not upgrade itself: is PyPI reachable?"; return 1; }
  "$PY" -m pip install --progress-bar on -e "$REPO[test]" -c "$REPO/stack/constraints.txt" \
    || { fail "pip install failed (see above); is PyPI reachable?"; return 1; }
  rm -f "$STACK_HOME"/venv/.installed-*
  touch "$stamp"
}
python_start()  { :; }
python_stop()   { :; }
python_health() { "$PY" -c 'import apache_beam, pipeline' 2>/dev/null; }
