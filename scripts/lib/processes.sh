# shellcheck shell=bash
# Process control shared by the servers the project starts and stops by their own PID
# (scripts/kafka.sh, scripts/schema-registry.sh, scripts/jaeger.sh). Sourced; the caller defines
# log() and sets PID_FILE and HOST.

read_pid() { if [[ -f "$PID_FILE" ]]; then tr -dc '0-9' <"$PID_FILE" || true; fi; }

# The state letter of /proc/PID/stat (R, S, T for stopped, Z for exited but not reaped), or ?.
proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo '?'; }

# shellcheck disable=SC2016  # $0/$1 expand in the child bash
port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null; }

# stop_pid PID GRACE_SECONDS: SIGTERM (and SIGCONT, in case a test SIGSTOPped it), SIGKILL after
# the grace period; returns once the process is gone (a zombie counts as gone).
stop_pid() {
  local pid="$1" grace="$2" i
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    [[ "$(proc_state "$pid")" == Z ]] && break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null && [[ "$(proc_state "$pid")" != Z ]]; then
    log "pid $pid still alive after ${grace}s, sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      [[ "$(proc_state "$pid")" == Z ]] && break
      sleep 0.1
    done
  fi
  # give the reaper a moment so that callers see the pid gone
  for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}
