# Beam's Prism runner (a Go binary) for `python -m pipeline --runner=PrismRunner`, built once
# from Beam's published Go module at the Python SDK's version (go install, ~2 min on 2 cores)
# into the git-ignored $STACK_HOME/bin. Beam's Python SDK would otherwise download it from
# GitHub releases, which this machine cannot reach. Nothing runs until a pipeline starts it.
# shellcheck shell=bash

PRISM_BIN=$STACK_HOME/bin/prism

prism_install() {
  local stamp=$PRISM_BIN.version
  if [ -x "$PRISM_BIN" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$BEAM_VERSION" ]; then
    return 0
  fi
  command -v go >/dev/null 2>&1 \
    || { fail "'go' is not on PATH: install Go 1.24+ to build Beam's prism $BEAM_VERSION, or put a built binary at $PRISM_BIN"; return 1; }
  say "building Beam's prism runner v$BEAM_VERSION with go install (first time only, ~2 min; log: $LOG_DIR/prism-build.log)"
  mkdir -p "$STACK_HOME/bin"
  GOBIN=$STACK_HOME/bin go install "github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM_VERSION" \
    >>"$LOG_DIR/prism-build.log" 2>&1 \
    || { tail -20 "$LOG_DIR/prism-build.log" >&2; fail "go install prism@v$BEAM_VERSION failed (log: $LOG_DIR/prism-build.log): is the Go module proxy reachable?"; return 1; }
  echo "$BEAM_VERSION" >"$stamp"
}
prism_start()  { :; }
prism_stop()   { :; }
prism_health() { [ -x "$PRISM_BIN" ]; }
