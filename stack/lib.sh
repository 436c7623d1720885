# Shared helpers for the local stack scripts. Sourced by stack/stack.sh; not executable.
# shellcheck shell=bash

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
STACK_HOME=${STACK_HOME:-$REPO/.local}       # git-ignored: downloads, builds, data, logs
LOG_DIR=$STACK_HOME/logs
RUN_DIR=$STACK_HOME/run
PY=$STACK_HOME/venv/bin/python
mkdir -p "$LOG_DIR" "$RUN_DIR"

say()  { printf '\033[1m[stack]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[31m[stack] ERROR:\033[0m %s\n' "$*" >&2; return 1; }

# port_in_use PORT: true when something listens on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# pid_alive NAME: true when the pid file of service NAME names a live process.
pid_alive() {
  local f=$RUN_DIR/$1.pid
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# wait_for DESCRIPTION TIMEOUT_S CMD...: polls CMD every second, with a progress dot.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local waited=0
  printf '[stack] waiting for %s ' "$what" >&2
  until "$@" >/dev/null 2>&1; do
    if [ "$waited" -ge "$timeout" ]; then
      printf ' timed out after %ss\n' "$timeout" >&2
      return 1
    fi
    sleep 1; waited=$((waited + 1)); printf '.' >&2
  done
  printf ' ready (%ss)\n' "$waited" >&2
}

# close_inherited_fds: closes every descriptor above 2 of the current (sub)shell.
close_inherited_fds() {
  local fd
  for fd in /proc/$BASHPID/fd/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-"
  done
  return 0
}

# start_daemon NAME PORT CMD...: starts CMD in the background with its log in
# $LOG_DIR/NAME.log and its pid in $RUN_DIR/NAME.pid. Idempotent: a live service is
# left alone; a port held by another program is a clear error.
start_daemon() {
  local name=$1 port=$2; shift 2
  if pid_alive "$name"; then
    say "$name already running (pid $(cat "$RUN_DIR/$name.pid"))"
    return 0
  fi
  if [ -n "$port" ] && port_in_use "$port"; then
    fail "$name cannot start: port $port is already taken by another program. Stop it (e.g. 'ss -ltnp | grep :$port') or change the port."
    return 1
  fi
  say "starting $name (log: $LOG_DIR/$name.log)"
  # The daemon keeps only stdin/stdout/stderr: a descriptor inherited from the caller (a lock
  # held by `flock FILE cmd`, a test's pipe) would otherwise stay open as long as the service runs.
  ( close_inherited_fds; exec nohup setsid "$@" ) >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! >"$RUN_DIR/$name.pid"
}

# stop_daemon NAME: stops the process group started by start_daemon, TERM then KILL.
stop_daemon() {
  local name=$1 f=$RUN_DIR/$1.pid
  if ! pid_alive "$name"; then
    rm -f "$f"; say "$name not running"; return 0
  fi
  local pid; pid=$(cat "$f")
  say "stopping $name (pid $pid)"
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
}

# mvn_fetch POM_DIR OUT_DIR [-Dproperty=value...]: resolves a pom's runtime dependencies into
# OUT_DIR (idempotent). The properties set the pom's versions from stack/versions.sh.
mvn_fetch() {
  local pom_dir=$1 out=$2
  shift 2
  if [ -f "$out/.complete" ]; then return 0; fi
  say "fetching $(basename "$pom_dir") jars with Maven into $out (first time only, a few minutes; log: $LOG_DIR/mvn-$(basename "$pom_dir").log)"
  mkdir -p "$out"
  if ! (cd "$pom_dir" && mvn -B -ntp dependency:copy-dependencies -DoutputDirectory="$out" \
        -DincludeScope=runtime "$@" >"$LOG_DIR/mvn-$(basename "$pom_dir").log" 2>&1); then
    tail -20 "$LOG_DIR/mvn-$(basename "$pom_dir").log" >&2
    fail "Maven could not fetch the $(basename "$pom_dir") jars (full log: $LOG_DIR/mvn-$(basename "$pom_dir").log). Check that Maven Central is reachable."
    return 1
  fi
  touch "$out/.complete"
}

# classpath_jar DIR MAIN_CLASS OUT: a small jar whose manifest runs MAIN_CLASS with every
# jar in DIR on its Class-Path (paths relative to OUT's folder), so `java -jar OUT` works
# and Beam's Python SDK can start it like one of its own shaded jars.
classpath_jar() {
  local dir=$1 main=$2 out=$3 rel mf
  rel=$(basename "$dir")
  mf=$(mktemp)
  printf 'Manifest-Version: 1.0\nMain-Class: %s\n' "$main" >"$mf"
  (cd "$dir" && ls ./*.jar | sed "s#^\./#$rel/#" | tr '\n' ' ') | sed 's/^/Class-Path: /' \
    | fold -w 68 | sed '2,$s/^/ /' >>"$mf"
  printf '\n' >>"$mf"
  jar cfm "$out" "$mf"
  rm -f "$mf"
}

# go_install_pinned NAME PACKAGE@VERSION BIN MINUTES: builds a Go command into $STACK_HOME/bin once
# per version (a BIN.version stamp records it); a binary without a stamp predates the stamps and
# was built from the same pin. Log: $LOG_DIR/NAME-build.log.
go_install_pinned() {
  local name=$1 package=$2 bin=$3 minutes=$4 version=${2##*@}
  local stamp=$bin.version log=$LOG_DIR/$1-build.log
  if [ -x "$bin" ]; then
    [ -f "$stamp" ] || echo "$version" >"$stamp"
    [ "$(cat "$stamp")" = "$version" ] && return 0
  fi
  command -v go >/dev/null 2>&1 \
    || { fail "'go' is not on PATH: install Go 1.24+ to build $name $version, or put a built binary at $bin"; return 1; }
  say "building $name $version with go install (first time only, ~$minutes min; log: $log)"
  mkdir -p "$(dirname "$bin")"
  GOBIN=$(dirname "$bin") go install "$package" >>"$log" 2>&1 \
    || { tail -20 "$log" >&2; fail "go install $package failed (log: $log): is the Go module proxy reachable?"; return 1; }
  echo "$version" >"$stamp"
}
