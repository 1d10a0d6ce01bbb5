#!/usr/bin/env bash
# Test schema registry with the Confluent API: Apicurio Registry (Apache-2.0) built from Maven
# Central jars by the wrapper project in scripts/schema-registry/ (Quarkus fast-jar), in-memory
# storage (every start is empty). No Docker, no Confluent Platform.
#
# Usage: scripts/schema-registry.sh start|stop|status|pid|url|provision|logs
#
#   start      provision (once), start the registry on 127.0.0.1 in the background and wait
#              until GET <url>/subjects answers 200; prints the base URL on stdout
#   stop       SIGTERM (then SIGKILL after SCHEMA_REGISTRY_STOP_TIMEOUT s) the registry this
#              instance dir started, remove the pid file
#   status     print running/stopped; exit 0 if running, 3 if not
#   pid        print the registry PID (exit 3 if not running)
#   url        print the Confluent API base URL, http://127.0.0.1:<port>/apis/ccompat/v7
#   provision  only build the registry into the cache (Maven; a cold build downloads ~220 MB)
#   logs       print the path of the registry log file
#
# Environment (all optional):
#   SCHEMA_REGISTRY_PORT           HTTP port on 127.0.0.1                       (default 18081)
#   SCHEMA_REGISTRY_CACHE_DIR      build cache                 (default $REPO/.cache/schema-registry)
#   SCHEMA_REGISTRY_DATA_DIR       instance dir (pid, logs)    (default $REPO/.cache/schema-registry-run/<port>)
#   SCHEMA_REGISTRY_HEAP_OPTS      default "-Xms32m -Xmx256m"
#   SCHEMA_REGISTRY_JVM_OPTS       extra JVM options, e.g. -Dquarkus.http.access-log.enabled=true
#   SCHEMA_REGISTRY_START_TIMEOUT  seconds to wait for it to answer             (default 60)
#   SCHEMA_REGISTRY_STOP_TIMEOUT   seconds to wait after SIGTERM                (default 10)
#   MVN                            maven command                                (default mvn)
#   SCHEMA_REGISTRY_MVN_SETTINGS   maven settings file (default scripts/schema-registry/settings.xml:
#                                  every repository mirrored to Maven Central); empty: your own
#   SCHEMA_REGISTRY_MVN_ARGS       extra maven arguments, e.g. -o or -Dmaven.repo.local=...
#
# Files: the Quarkus app in $SCHEMA_REGISTRY_CACHE_DIR/<apicurio version>/app (marker .provisioned
# written last, holding a hash of the wrapper project; the Maven build log is provision.log next
# to it); instance dir: registry.pid, logs/registry.log (JVM stdout/stderr, appended to), tmp/.
# The registry process runs with a cleared environment (PATH, HOME, locale, JAVA_HOME only), so
# variables Apicurio or Quarkus read (KAFKA_BOOTSTRAP_SERVERS, HTTP_PORT, QUARKUS_*, SENTRY_DSN,
# ...) cannot change it.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd -P)"
PROJECT="$SCRIPT_DIR/schema-registry"
POM="$PROJECT/pom.xml"
HOST=127.0.0.1
API_PATH=/apis/ccompat/v7

SCHEMA_REGISTRY_PORT="${SCHEMA_REGISTRY_PORT:-18081}"
SCHEMA_REGISTRY_START_TIMEOUT="${SCHEMA_REGISTRY_START_TIMEOUT:-60}"
SCHEMA_REGISTRY_STOP_TIMEOUT="${SCHEMA_REGISTRY_STOP_TIMEOUT:-10}"
SCHEMA_REGISTRY_HEAP_OPTS="${SCHEMA_REGISTRY_HEAP_OPTS:--Xms32m -Xmx256m}"
SCHEMA_REGISTRY_JVM_OPTS="${SCHEMA_REGISTRY_JVM_OPTS:-}"
SCHEMA_REGISTRY_MVN_SETTINGS="${SCHEMA_REGISTRY_MVN_SETTINGS-$PROJECT/settings.xml}"
MVN="${MVN:-mvn}"
for v in SCHEMA_REGISTRY_PORT SCHEMA_REGISTRY_START_TIMEOUT SCHEMA_REGISTRY_STOP_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "schema-registry: $v must be a number, got '${!v}'" >&2; exit 2; }
done

VERSION="$(sed -n 's:.*<apicurio.version>\(.*\)</apicurio.version>.*:\1:p' "$POM" | head -n1)"
[[ -n "$VERSION" ]] || { echo "schema-registry: cannot read apicurio.version from $POM" >&2; exit 1; }

# Canonical absolute paths: same result from any cwd, and the instance dir is what identifies
# our registry process (it is on the JVM's command line).
SCHEMA_REGISTRY_CACHE_DIR="$(realpath -m "${SCHEMA_REGISTRY_CACHE_DIR:-$REPO/.cache/schema-registry}")"
SCHEMA_REGISTRY_DATA_DIR="$(realpath -m "${SCHEMA_REGISTRY_DATA_DIR:-$REPO/.cache/schema-registry-run/$SCHEMA_REGISTRY_PORT}")"

VERSION_DIR="$SCHEMA_REGISTRY_CACHE_DIR/$VERSION"
APP_DIR="$VERSION_DIR/app"
RUN_JAR="$APP_DIR/quarkus-run.jar"
STAMP="$VERSION_DIR/.provisioned"
MVN_LOG="$VERSION_DIR/provision.log"
LOG_DIR="$SCHEMA_REGISTRY_DATA_DIR/logs"
LOG="$LOG_DIR/registry.log"
PID_FILE="$SCHEMA_REGISTRY_DATA_DIR/registry.pid"
TMP_DIR="$SCHEMA_REGISTRY_DATA_DIR/tmp"
URL="http://$HOST:$SCHEMA_REGISTRY_PORT$API_PATH"

log() { echo "schema-registry: $*" >&2; }
die() { echo "schema-registry: ERROR: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/processes.sh"

# ---------------------------------------------------------------- provision
# Everything that goes into the build: the wrapper project and the settings that resolve it.
project_hash() {
  {
    (cd "$PROJECT" && find . -path ./target -prune -o -type f -print | LC_ALL=C sort | xargs sha256sum)
    echo "settings=${SCHEMA_REGISTRY_MVN_SETTINGS:+$(sha256sum <"$SCHEMA_REGISTRY_MVN_SETTINGS" | cut -d' ' -f1)}"
  } | sha256sum | cut -d' ' -f1
}

is_provisioned() { [[ -f "$STAMP" && "$(cat "$STAMP" 2>/dev/null)" == "$(project_hash)" && -f "$RUN_JAR" ]]; }

provision() {
  is_provisioned && return 0
  command -v "$MVN" >/dev/null || die "maven ('$MVN') not found"
  command -v java >/dev/null || die "java not found (Java 17 builds and runs the registry)"
  [[ -z "$SCHEMA_REGISTRY_MVN_SETTINGS" || -f "$SCHEMA_REGISTRY_MVN_SETTINGS" ]] || die "maven settings file $SCHEMA_REGISTRY_MVN_SETTINGS not found"
  mkdir -p "$VERSION_DIR"
  # Serialise concurrent provisioning (two instances started in parallel share the cache).
  exec {plock}>"$VERSION_DIR/.lock"
  flock "$plock"
  if is_provisioned; then exec {plock}>&-; return 0; fi
  local t0=$SECONDS build="$VERSION_DIR/build.tmp.$$"
  log "building Apicurio Registry $VERSION into $APP_DIR (maven + Quarkus; a cold build downloads ~220 MB from Maven Central and takes minutes) ..."
  rm -rf "$VERSION_DIR"/build.tmp.* "$STAMP"
  # Build a copy: target/ stays out of the source tree, and a half-built app never replaces a good one.
  mkdir -p "$build"
  cp -R "$PROJECT/pom.xml" "$PROJECT/src" "$build/"
  local settings=()
  [[ -n "$SCHEMA_REGISTRY_MVN_SETTINGS" ]] && settings=(-s "$SCHEMA_REGISTRY_MVN_SETTINGS")
  # shellcheck disable=SC2086
  if ! (cd "$build" && "$MVN" -B -ntp ${settings[@]+"${settings[@]}"} -f "$build/pom.xml" package ${SCHEMA_REGISTRY_MVN_ARGS:-}) >"$MVN_LOG" 2>&1; then
    grep -E '^\[(ERROR|WARNING)\]' "$MVN_LOG" | tail -n 40 >&2 || tail -n 40 "$MVN_LOG" >&2 || true
    rm -rf "$build"
    die "maven build failed (full output: $MVN_LOG)"
  fi
  [[ -f "$build/target/quarkus-app/quarkus-run.jar" ]] || { rm -rf "$build"; die "target/quarkus-app/quarkus-run.jar missing after the build (see $MVN_LOG)"; }
  # target/classes is what went into the app's own jar
  [[ -f "$build/target/classes/META-INF/web.xml" ]] ||
    { rm -rf "$build"; die "META-INF/web.xml was not copied out of apicurio-registry-app (see $MVN_LOG)"; }
  rm -rf "$APP_DIR"
  mv "$build/target/quarkus-app" "$APP_DIR"
  rm -rf "$build"
  project_hash >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"   # marker written last
  exec {plock}>&-
  log "provisioned in $((SECONDS - t0)) s ($(du -sh "$APP_DIR" | cut -f1))"
}

# ---------------------------------------------------------------- process helpers

# Alive and really the registry of this instance dir (guards against PID reuse).
pid_is_ours() {
  local pid="$1" cmd
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmd" == *"-Dstream-scorer.schema-registry.instance=$SCHEMA_REGISTRY_DATA_DIR "* && "$cmd" == *quarkus-run.jar* ]]
}


running_pid() {
  local pid
  pid="$(read_pid)"
  if pid_is_ours "$pid"; then echo "$pid"; return 0; fi
  return 1
}


answers() { curl -fsS -o /dev/null --max-time 2 "$URL/subjects" 2>/dev/null; }

# This run's part of the log (it is appended to across restarts).
show_failure() {
  local off="${RUN_LOG_OFF:-0}"
  if [[ -s "$LOG" ]]; then
    (($(stat -c %s "$LOG") < off)) && off=0
    echo "---- last 40 lines of $LOG (this run) ----" >&2
    tail -c +"$((off + 1))" "$LOG" | tail -n 40 >&2
  fi
  echo "---- registry log: $LOG ----" >&2
}


# ---------------------------------------------------------------- commands
cmd_start() {
  command -v java >/dev/null || die "java not found (the registry needs Java 17)"
  command -v curl >/dev/null || die "curl not found"
  provision
  mkdir -p "$SCHEMA_REGISTRY_DATA_DIR"
  exec {lock}>"$SCHEMA_REGISTRY_DATA_DIR/.lock"
  flock "$lock"

  local pid deadline
  if pid="$(running_pid)"; then
    deadline=$((SECONDS + SCHEMA_REGISTRY_START_TIMEOUT))
    until answers; do
      if ((SECONDS >= deadline)) || ! kill -0 "$pid" 2>/dev/null; then
        die "pid $pid (from $PID_FILE, state $(proc_state "$pid")) is alive but $URL/subjects does not answer; try 'scripts/schema-registry.sh stop'"
      fi
      sleep 0.2
    done
    log "already running (pid $pid, log $LOG)"
    echo "$URL"
    return 0
  fi
  if [[ -f "$PID_FILE" ]]; then
    log "removing stale pid file ($PID_FILE: pid $(read_pid) is not this registry)"
    rm -f "$PID_FILE"
  fi
  if port_open "$SCHEMA_REGISTRY_PORT"; then die "port $HOST:$SCHEMA_REGISTRY_PORT is already in use by another process"; fi

  mkdir -p "$LOG_DIR" "$TMP_DIR"
  RUN_LOG_OFF=0
  [[ -f "$LOG" ]] && RUN_LOG_OFF="$(stat -c %s "$LOG")"
  echo "==== $(date -Is) starting Apicurio Registry $VERSION on $HOST:$SCHEMA_REGISTRY_PORT ====" >>"$LOG"

  local t0=$SECONDS
  local keep=(PATH="$PATH" HOME="${HOME:-/}" LANG=C.UTF-8)
  [[ -n "${JAVA_HOME:-}" ]] && keep+=(JAVA_HOME="$JAVA_HOME")
  [[ -n "${TZ:-}" ]] && keep+=(TZ="$TZ")
  # setsid: own session/process group, so signals to the caller's group don't reach it.
  # The instance marker goes first on the command line: pid_is_ours looks for it.
  # sentry.dsn=noop://localhost: Apicurio's Sentry client (off unless ENABLE_SENTRY) can never send anything.
  # shellcheck disable=SC2086
  (cd "$SCHEMA_REGISTRY_DATA_DIR" && exec nohup env -i "${keep[@]}" setsid java \
    -Dstream-scorer.schema-registry.instance="$SCHEMA_REGISTRY_DATA_DIR" \
    $SCHEMA_REGISTRY_HEAP_OPTS -XX:TieredStopAtLevel=1 -XX:+UseSerialGC \
    -Djava.io.tmpdir="$TMP_DIR" -Djava.awt.headless=true \
    -Dquarkus.http.host="$HOST" -Dquarkus.http.port="$SCHEMA_REGISTRY_PORT" \
    -Dsentry.dsn=noop://localhost -Dsentry.stacktrace.app.packages= \
    $SCHEMA_REGISTRY_JVM_OPTS \
    -jar "$RUN_JAR") >>"$LOG" 2>&1 </dev/null {lock}>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  deadline=$((SECONDS + SCHEMA_REGISTRY_START_TIMEOUT))
  until answers; do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      rm -f "$PID_FILE"
      log "registry process $pid exited during start-up"
      show_failure
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      log "registry did not answer $URL/subjects within ${SCHEMA_REGISTRY_START_TIMEOUT}s"
      show_failure
      SCHEMA_REGISTRY_STOP_TIMEOUT=$((SCHEMA_REGISTRY_STOP_TIMEOUT < 5 ? SCHEMA_REGISTRY_STOP_TIMEOUT : 5))
      stop_pid "$pid" "$SCHEMA_REGISTRY_STOP_TIMEOUT"
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.2
  done
  log "running on $HOST:$SCHEMA_REGISTRY_PORT (pid $pid, log $LOG, started in $((SECONDS - t0)) s)"
  echo "$URL"
}

cmd_stop() {
  if [[ ! -d "$SCHEMA_REGISTRY_DATA_DIR" ]]; then echo "schema-registry: not running"; return 0; fi
  exec {lock}>"$SCHEMA_REGISTRY_DATA_DIR/.lock"
  flock "$lock"
  local pid
  if pid="$(running_pid)"; then
    stop_pid "$pid" "$SCHEMA_REGISTRY_STOP_TIMEOUT"
    rm -f "$PID_FILE"
    echo "schema-registry: stopped (pid $pid)"
  else
    [[ -f "$PID_FILE" ]] && log "removing stale pid file ($PID_FILE: pid $(read_pid) is not this registry)"
    rm -f "$PID_FILE"
    echo "schema-registry: not running"
  fi
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if answers; then
      echo "running on $URL (pid $pid)"
    else
      echo "running (pid $pid, state $(proc_state "$pid")) but $URL/subjects does not answer"
    fi
    return 0
  fi
  echo "stopped"
  return 3
}

cmd_pid() {
  local pid
  if pid="$(running_pid)"; then echo "$pid"; return 0; fi
  echo "schema-registry: not running" >&2
  return 3
}

usage() {
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" >&2
  exit 2
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  pid) cmd_pid ;;
  url) echo "$URL" ;;
  provision) provision; echo "schema-registry: app in $APP_DIR" ;;
  logs) echo "$LOG" ;;
  *) usage ;;
esac
