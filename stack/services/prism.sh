# Beam's Prism runner (a Go binary) for `python -m pipeline --runner=PrismRunner`, built once
# from Beam's published Go module at the Python SDK's version (go install, ~2 min on 2 cores)
# into the git-ignored $STACK_HOME/bin. Beam's Python SDK would otherwise download it from
# GitHub releases, which this machine cannot reach. Nothing runs until a pipeline starts it.
# shellcheck shell=bash

PRISM_BIN=$STACK_HOME/bin/prism

prism_install() {
  go_install_pinned prism "github.com/apache/beam/sdks/v2/go/cmd/prism@v$BEAM_VERSION" "$PRISM_BIN" 2
}
prism_start()  { :; }
prism_stop()   { :; }
prism_health() { [ -x "$PRISM_BIN" ]; }
