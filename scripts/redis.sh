#!/usr/bin/env bash
# Local Redis for the feature store (tests and the demo): Debian's redis-server (apt install
# redis-server), one instance per port on 127.0.0.1, no persistence, its own dir. Not the system
# service: the package's own redis-server on 6379 is not used (stop it: `service redis-server stop`).
#
# Usage: scripts/redis.sh start|stop|status|pid|cli [args…]
#
#   start    start redis-server in the background and wait until it answers PING
#   stop     SIGTERM (SIGKILL after REDIS_STOP_TIMEOUT s), remove the pid file
#   status   print running/stopped; exit 0 if running, 3 if not
#   pid      print the PID (exit 3 if not running)
#   cli      redis-cli against this instance, e.g. scripts/redis.sh cli HSET card:c1 txn_count_24h 3
#
# Environment (all optional):
#   REDIS_PORT          port on 127.0.0.1                        (default 6380: not the system 6379)
#   REDIS_DATA_DIR      instance dir (pid, log)                  (default $REPO/.cache/redis-run/<port>)
#   REDIS_START_TIMEOUT seconds to wait for PING                 (default 20)
#   REDIS_STOP_TIMEOUT  seconds to wait after SIGTERM            (default 10)
#   REDIS_SERVER        redis-server binary                      (default redis-server)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd -P)"
REDIS_PORT="${REDIS_PORT:-6380}"
REDIS_START_TIMEOUT="${REDIS_START_TIMEOUT:-20}"
REDIS_STOP_TIMEOUT="${REDIS_STOP_TIMEOUT:-10}"
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
for v in REDIS_PORT REDIS_START_TIMEOUT REDIS_STOP_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "redis: $v must be a number, got '${!v}'" >&2; exit 2; }
done
REDIS_DATA_DIR="$(realpath -m "${REDIS_DATA_DIR:-$REPO/.cache/redis-run/$REDIS_PORT}")"
PID_FILE="$REDIS_DATA_DIR/redis.pid"
LOG_FILE="$REDIS_DATA_DIR/redis.log"
HOST=127.0.0.1

log() { echo "redis: $*" >&2; }
die() { echo "redis: ERROR: $*" >&2; exit 1; }
# shellcheck source=lib/processes.sh
source "$SCRIPT_DIR/lib/processes.sh"

# Alive and really our server: redis-server on our port (guards against PID reuse).
pid_is_ours() {
  local pid="$1" cmd
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmd" == *redis-server* && "$cmd" == *":$REDIS_PORT"* ]]
}

running_pid() {
  local pid
  pid="$(read_pid)"
  if pid_is_ours "$pid"; then echo "$pid"; return 0; fi
  return 1
}

# A PING answered with +PONG, over bash /dev/tcp: no redis-cli needed to know it is up.
ping_ok() {
  local reply
  # shellcheck disable=SC2016  # $0/$1 expand in the child bash
  reply="$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" || exit 1; printf "PING\r\n" >&3; head -c 7 <&3' "$HOST" "$REDIS_PORT" 2>/dev/null || true)"
  [[ "$reply" == "+PONG"* ]]
}

cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if ping_ok; then echo "running on $HOST:$REDIS_PORT (pid $pid)"; else echo "running (pid $pid, state $(proc_state "$pid")) but $HOST:$REDIS_PORT does not answer PING"; fi
    return 0
  fi
  echo "stopped"
  return 3
}

cmd_pid() {
  local pid
  if pid="$(running_pid)"; then echo "$pid"; return 0; fi
  log "not running"
  return 3
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    stop_pid "$pid" "$REDIS_STOP_TIMEOUT"
    rm -f "$PID_FILE"
    echo "redis: stopped (pid $pid)"
  else
    rm -f "$PID_FILE"
    echo "redis: not running"
  fi
}

cmd_start() {
  command -v "$REDIS_SERVER" >/dev/null || die "$REDIS_SERVER not found (Debian/Ubuntu: apt-get install -y redis-server)"
  mkdir -p "$REDIS_DATA_DIR"
  exec {lock}>"$REDIS_DATA_DIR/.lock"
  flock "$lock"
  local pid deadline
  if pid="$(running_pid)"; then
    echo "redis: already running on $HOST:$REDIS_PORT (pid $pid)"
    return 0
  fi
  rm -f "$PID_FILE"
  if port_open "$REDIS_PORT"; then die "port $HOST:$REDIS_PORT is already in use by another process"; fi
  # No RDB/AOF: a test store starts empty; the tests and the demo write what they need.
  # --daemonize no + setsid: we keep the PID of the server itself, in a session of its own.
  nohup setsid "$REDIS_SERVER" --bind "$HOST" --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$REDIS_DATA_DIR" --logfile "$LOG_FILE" --daemonize no --protected-mode yes \
    >>"$REDIS_DATA_DIR/redis.out" 2>&1 </dev/null {lock}>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  deadline=$((SECONDS + REDIS_START_TIMEOUT))
  until ping_ok; do
    if ! kill -0 "$pid" 2>/dev/null || ((SECONDS >= deadline)); then
      log "redis-server did not answer PING within ${REDIS_START_TIMEOUT}s; log: $LOG_FILE"
      tail -n 20 "$LOG_FILE" >&2 2>/dev/null || true
      stop_pid "$pid" 2
      rm -f "$PID_FILE"
      exit 1
    fi
    sleep 0.1
  done
  echo "redis: running on $HOST:$REDIS_PORT (pid $pid, log $LOG_FILE)"
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
  cli) shift; exec redis-cli -h "$HOST" -p "$REDIS_PORT" "$@" ;;
  *) usage ;;
esac
