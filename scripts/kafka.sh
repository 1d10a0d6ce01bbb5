#!/usr/bin/env bash
# Single-node Apache Kafka 4.x test broker (KRaft, broker+controller in one JVM),
# run from Maven Central jars. No Docker, no Kafka tarball.
#
# Usage: scripts/kafka.sh start|stop|status|pid|provision|reset|logs
#
#   start      provision jars (once), format storage (once), start the broker in
#              the background and wait until it answers Kafka API requests
#   stop       SIGTERM (then SIGKILL after KAFKA_STOP_TIMEOUT s), remove pid file
#   status     print running/stopped; exit 0 if running, 3 if not
#   pid        print the broker PID (exit 3 if not running)
#   provision  only download the jars into the cache
#   reset      stop and delete the instance dir (data, logs, config)
#   logs       print the path of the broker log file
#
# Environment (all optional):
#   KAFKA_PORT             PLAINTEXT port on 127.0.0.1           (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port                 (default KAFKA_PORT+1)
#   KAFKA_VERSION          org.apache.kafka:kafka_2.13 version   (default: the pom's, 4.1.1)
#   KAFKA_CACHE_DIR        jar cache                              (default $REPO/.cache/kafka)
#   KAFKA_DATA_DIR         instance dir (config/data/logs/pid)    (default $REPO/.cache/kafka-run/<port>)
#   KAFKA_HEAP_OPTS        default "-Xms256m -Xmx768m"
#   KAFKA_JVM_OPTS         extra JVM options
#   KAFKA_EXTRA_PROPS      extra server.properties lines (appended last, so they override the
#                          defaults): comma-separated key=value, or newline-separated when a
#                          value itself contains commas
#   KAFKA_CLUSTER_ID       cluster id used when formatting        (default: random)
#   KAFKA_SASL_SSL_PORT    also listen for SASL_SSL on this port   (default: off). A test CA and a
#                          broker certificate (openssl) go to <instance dir>/tls, and a SCRAM-SHA-512
#                          and SCRAM-SHA-256 user is created when the storage is formatted; the
#                          client's files: tls/ca.crt, tls/client/username, tls/client/password
#   KAFKA_SCRAM_USER       name of that SCRAM user                 (default stream-scorer)
#   KAFKA_START_TIMEOUT    seconds to wait for the broker          (default 90)
#   KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM           (default 30)
#   KAFKA_LOG_LEVEL        root log level of the broker log       (default INFO)
#   MVN                    maven command                           (default mvn)
#   KAFKA_MVN_ARGS         extra maven arguments for provisioning, e.g. -o or -Dmaven.repo.local=...
#
# Files: jars in $KAFKA_CACHE_DIR/<version>/lib (marker .provisioned written last);
# instance dir: config/server.properties, config/log4j2.properties, data/ (KRaft
# log dir), logs/server.log (broker log), logs/kafka.out (JVM stdout/stderr), kafka.pid
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO="$(cd "$SCRIPT_DIR/.." && pwd -P)"
POM="$SCRIPT_DIR/kafka/pom.xml"

KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_CACHE_DIR="${KAFKA_CACHE_DIR:-$REPO/.cache/kafka}"
KAFKA_DATA_DIR="${KAFKA_DATA_DIR:-$REPO/.cache/kafka-run/$KAFKA_PORT}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
KAFKA_JVM_OPTS="${KAFKA_JVM_OPTS:-}"
KAFKA_EXTRA_PROPS="${KAFKA_EXTRA_PROPS:-}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_LOG_LEVEL="${KAFKA_LOG_LEVEL:-INFO}"
KAFKA_SASL_SSL_PORT="${KAFKA_SASL_SSL_PORT:-}"
KAFKA_SCRAM_USER="${KAFKA_SCRAM_USER:-stream-scorer}"
MVN="${MVN:-mvn}"
HOST=127.0.0.1

if [[ -z "${KAFKA_VERSION:-}" ]]; then
  KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)"
fi
[[ -n "$KAFKA_VERSION" ]] || { echo "kafka: cannot read kafka.version from $POM" >&2; exit 1; }
[[ -z "$KAFKA_SASL_SSL_PORT" || "$KAFKA_SASL_SSL_PORT" =~ ^[0-9]+$ ]] || { echo "kafka: KAFKA_SASL_SSL_PORT must be a number, got '$KAFKA_SASL_SSL_PORT'" >&2; exit 2; }
for v in KAFKA_PORT KAFKA_CONTROLLER_PORT KAFKA_START_TIMEOUT KAFKA_STOP_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || { echo "kafka: $v must be a number, got '${!v}'" >&2; exit 2; }
done

# Canonical absolute paths: same result from any cwd, and the data dir path is
# what identifies our broker process (its server.properties path).
KAFKA_CACHE_DIR="$(realpath -m "$KAFKA_CACHE_DIR")"
KAFKA_DATA_DIR="$(realpath -m "$KAFKA_DATA_DIR")"

LIB_DIR="$KAFKA_CACHE_DIR/$KAFKA_VERSION/lib"
STAMP="$KAFKA_CACHE_DIR/$KAFKA_VERSION/.provisioned"
CONF_DIR="$KAFKA_DATA_DIR/config"
LOG_DIR="$KAFKA_DATA_DIR/logs"
STORE_DIR="$KAFKA_DATA_DIR/data"
PROPS="$CONF_DIR/server.properties"
LOG4J2="$CONF_DIR/log4j2.properties"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
SERVER_LOG="$LOG_DIR/server.log"
OUT_LOG="$LOG_DIR/kafka.out"
TLS_DIR="$KAFKA_DATA_DIR/tls"

log() { echo "kafka: $*" >&2; }
die() { echo "kafka: ERROR: $*" >&2; exit 1; }
# shellcheck source=scripts/lib/processes.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/processes.sh"

# ---------------------------------------------------------------- provision
pom_hash() { { sha256sum "$POM" | cut -d' ' -f1; echo "$KAFKA_VERSION"; } | sha256sum | cut -d' ' -f1; }

is_provisioned() { [[ -f "$STAMP" && "$(cat "$STAMP" 2>/dev/null)" == "$(pom_hash)" && -d "$LIB_DIR" ]]; }

provision() {
  is_provisioned && return 0
  command -v "$MVN" >/dev/null || die "maven ('$MVN') not found"
  mkdir -p "$KAFKA_CACHE_DIR/$KAFKA_VERSION"
  # Serialise concurrent provisioning (two brokers started in parallel share the cache).
  exec {plock}>"$KAFKA_CACHE_DIR/$KAFKA_VERSION/.lock"
  flock "$plock"
  if is_provisioned; then exec {plock}>&-; return 0; fi
  local t0=$SECONDS tmp="$KAFKA_CACHE_DIR/$KAFKA_VERSION/lib.tmp.$$" mlog
  mlog="$KAFKA_CACHE_DIR/$KAFKA_VERSION/provision.log"
  log "provisioning Kafka $KAFKA_VERSION jars into $LIB_DIR (maven) ..."
  rm -rf "$tmp" "$KAFKA_CACHE_DIR/$KAFKA_VERSION"/lib.tmp.* "$STAMP"
  # shellcheck disable=SC2086
  if ! "$MVN" -q -B -f "$POM" dependency:copy-dependencies \
        -Dkafka.version="$KAFKA_VERSION" -DincludeScope=runtime \
        -DoutputDirectory="$tmp" ${KAFKA_MVN_ARGS:-} >"$mlog" 2>&1; then
    tail -n 40 "$mlog" >&2 || true
    rm -rf "$tmp"
    die "maven provisioning failed (full output: $mlog)"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || { rm -rf "$tmp"; die "kafka_2.13-$KAFKA_VERSION.jar missing after provisioning"; }
  rm -rf "$LIB_DIR"
  mv "$tmp" "$LIB_DIR"
  pom_hash >"$STAMP.tmp" && mv "$STAMP.tmp" "$STAMP"   # marker written last
  exec {plock}>&-
  log "provisioned in $((SECONDS - t0)) s ($(du -sh "$LIB_DIR" | cut -f1))"
}

# ---------------------------------------------------------------- process helpers

# Alive and really our broker (guards against PID reuse after a reboot/kill -9).
pid_is_ours() {
  local pid="$1"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
  local cmd
  cmd="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmd" == *kafka.Kafka* && "$cmd" == *"$PROPS"* ]]
}



# Real Kafka API call without a JVM: ApiVersions v0 request over bash /dev/tcp,
# succeeds when a response with our correlation id comes back (needs the broker
# to be processing requests, which happens late in broker startup). Runs in a
# child bash under `timeout`: a failed `exec` redirection would end this shell,
# and connect/read may block (e.g. SIGSTOPped broker).
api_versions_ok() {
  local hex
  # shellcheck disable=SC2016  # $0/$1 expand in the child bash
  # size=15 | api_key=18 | api_version=0 | correlation_id=0x4b414641 | client_id="probe"
  hex="$(timeout 5 bash -c '
      exec 3<>"/dev/tcp/$0/$1" || exit 1
      printf "\x00\x00\x00\x0f\x00\x12\x00\x00\x4b\x41\x46\x41\x00\x05probe" >&3
      head -c 10 <&3 | od -An -tx1' "$HOST" "$1" 2>/dev/null | tr -d ' \n' || true)"
  # bytes 4..7 = correlation id, 8..9 = error code (0, or 35 UNSUPPORTED_VERSION still proves liveness)
  [[ "${hex:8:8}" == "4b414641" ]]
}

running_pid() {
  local pid
  pid="$(read_pid)"
  if pid_is_ours "$pid"; then echo "$pid"; return 0; fi
  return 1
}

cleanup_stale_pid() {
  local pid
  pid="$(read_pid)"
  if [[ -f "$PID_FILE" ]] && ! pid_is_ours "$pid"; then
    log "removing stale pid file ($PID_FILE, pid ${pid:-?} not running)"
    rm -f "$PID_FILE"
    STALE_PID=1
  fi
}

# ---------------------------------------------------------------- config
write_config() {
  mkdir -p "$CONF_DIR" "$LOG_DIR" "$STORE_DIR"
  local tmp="$PROPS.tmp"
  cat >"$tmp" <<EOF
# generated by scripts/kafka.sh - edits are overwritten on every start
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT${KAFKA_SASL_SSL_PORT:+,SASL_SSL://$HOST:$KAFKA_SASL_SSL_PORT}
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT${KAFKA_SASL_SSL_PORT:+,SASL_SSL://$HOST:$KAFKA_SASL_SSL_PORT}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT${KAFKA_SASL_SSL_PORT:+,SASL_SSL:SASL_SSL}
log.dirs=$STORE_DIR

# single-node test broker
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
# fewer internal partitions (default 50 each): faster first group join / tx init / recovery
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true

# A restart after kill -9 waits for the dead incarnation's session to expire
# (DUPLICATE_BROKER_REGISTRATION until then): keep it short (default 9 s).
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.retention.check.interval.ms=300000
EOF
  if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then sasl_ssl_props >>"$tmp"; fi
  if [[ -n "$KAFKA_EXTRA_PROPS" ]]; then
    echo "" >>"$tmp"
    echo "# KAFKA_EXTRA_PROPS" >>"$tmp"
    local sep=','
    [[ "$KAFKA_EXTRA_PROPS" == *$'\n'* ]] && sep=$'\n'   # newline-separated: values may contain commas
    printf '%s\n' "$KAFKA_EXTRA_PROPS" | tr "$sep" '\n' | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' | grep -v '^$' >>"$tmp" || true
  fi
  mv "$tmp" "$PROPS"

  cat >"$LOG4J2" <<EOF
# generated by scripts/kafka.sh
status = warn
name = kafka-test-broker
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $SERVER_LOG
appender.file.filePattern = $LOG_DIR/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = $KAFKA_LOG_LEVEL
rootLogger.appenderRef.file.ref = FILE
# quiet down per-request / per-partition chatter
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.reqchan.name = kafka.network.RequestChannel\$
logger.reqchan.level = WARN
logger.statechange.name = state.change.logger
logger.statechange.level = WARN
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
logger.cfg.name = org.apache.kafka.common.config.AbstractConfig
logger.cfg.level = WARN
logger.appinfo.name = org.apache.kafka.common.utils.AppInfoParser
logger.appinfo.level = WARN
# per-partition lines on every topic create/delete/load (x50 for __consumer_offsets etc.)
logger.partition.name = kafka.cluster.Partition
logger.partition.level = WARN
logger.logmanager.name = kafka.log.LogManager
logger.logmanager.level = WARN
logger.storage.name = org.apache.kafka.storage.internals.log
logger.storage.level = WARN
logger.replicafetch.name = kafka.server.ReplicaFetcherManager
logger.replicafetch.level = WARN
logger.alterlogdirs.name = kafka.server.ReplicaAlterLogDirsManager
logger.alterlogdirs.level = WARN
logger.coordruntime.name = org.apache.kafka.coordinator.common.runtime
logger.coordruntime.level = WARN
logger.groupshard.name = org.apache.kafka.coordinator.group.GroupCoordinatorShard
logger.groupshard.level = WARN
logger.txnstate.name = kafka.coordinator.transaction.TransactionStateManager
logger.txnstate.level = WARN
logger.metaloader.name = org.apache.kafka.image.loader.MetadataLoader
logger.metaloader.level = WARN
logger.partchange.name = org.apache.kafka.controller.PartitionChangeBuilder
logger.partchange.level = WARN
logger.reaper.name = org.apache.kafka.server.util
logger.reaper.level = WARN
# keep topic create/delete results, drop the per-partition replay lines
logger.replctl.name = org.apache.kafka.controller.ReplicationControlManager
logger.replctl.filter.partrec.type = RegexFilter
logger.replctl.filter.partrec.regex = .*(Replayed (PartitionRecord|PartitionChangeRecord)|UNCLEAN partition change).*
logger.replctl.filter.partrec.onMatch = DENY
logger.replctl.filter.partrec.onMismatch = NEUTRAL
logger.txncoord.name = kafka.coordinator.transaction.TransactionCoordinator
logger.txncoord.filter.elect.type = RegexFilter
logger.txncoord.filter.elect.regex = .*(Elected as|Resigned as) the txn coordinator.*
logger.txncoord.filter.elect.onMatch = DENY
logger.txncoord.filter.elect.onMismatch = NEUTRAL
EOF
}

classpath() { echo "$LIB_DIR/*"; }

# Test CA, broker certificate (SAN 127.0.0.1, localhost) in a PKCS12 keystore, and the SCRAM
# user's credentials as files, the way a pod would get them from a Secret. Made once per
# instance dir.
make_tls() {
  [[ -f "$TLS_DIR/broker.p12" && -f "$TLS_DIR/client/password" ]] && return 0
  command -v openssl >/dev/null || die "openssl not found (needed for KAFKA_SASL_SSL_PORT)"
  mkdir -p "$TLS_DIR/client"
  chmod 700 "$TLS_DIR"
  local out="$TLS_DIR/openssl.log"
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=stream-scorer test CA" \
      -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.crt"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$HOST" -keyout "$TLS_DIR/broker.key" -out "$TLS_DIR/broker.csr"
    printf 'subjectAltName=IP:%s,DNS:localhost\n' "$HOST" >"$TLS_DIR/broker.ext"
    openssl x509 -req -days 3650 -in "$TLS_DIR/broker.csr" -CA "$TLS_DIR/ca.crt" -CAkey "$TLS_DIR/ca.key" \
      -CAcreateserial -extfile "$TLS_DIR/broker.ext" -out "$TLS_DIR/broker.crt"
    openssl rand -hex 16 >"$TLS_DIR/keystore.password"
    openssl pkcs12 -export -in "$TLS_DIR/broker.crt" -inkey "$TLS_DIR/broker.key" -certfile "$TLS_DIR/ca.crt" \
      -name broker -out "$TLS_DIR/broker.p12" -passout "file:$TLS_DIR/keystore.password"
  } >"$out" 2>&1 || { cat "$out" >&2; die "making the test TLS material failed (see $out)"; }
  printf '%s' "$KAFKA_SCRAM_USER" >"$TLS_DIR/client/username"
  openssl rand -hex 16 | tr -d '\n' >"$TLS_DIR/client/password"
  chmod 600 "$TLS_DIR"/*.key "$TLS_DIR/keystore.password" "$TLS_DIR/client/password"
  log "test CA and broker certificate in $TLS_DIR; SCRAM user '$KAFKA_SCRAM_USER' (password in $TLS_DIR/client/password)"
}

# server.properties lines for the SASL_SSL listener (appended by write_config).
sasl_ssl_props() {
  local storepass
  storepass="$(cat "$TLS_DIR/keystore.password")"
  printf '%s\n' "" \
    "# SASL_SSL listener (KAFKA_SASL_SSL_PORT): SCRAM over TLS with the test CA's certificate" \
    "sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256" \
    "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" \
    "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;" \
    "listener.name.sasl_ssl.ssl.keystore.type=PKCS12" \
    "listener.name.sasl_ssl.ssl.keystore.location=$TLS_DIR/broker.p12" \
    "listener.name.sasl_ssl.ssl.keystore.password=$storepass" \
    "listener.name.sasl_ssl.ssl.key.password=$storepass"
}

format_storage() {
  if [[ -f "$STORE_DIR/meta.properties" ]]; then return 0; fi
  local cid="${KAFKA_CLUSTER_ID:-}"
  if [[ -z "$cid" ]]; then
    # 16 random bytes, base64url without padding (Kafka Uuid format); avoid a leading '-'
    cid="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
    cid="A${cid:1}"
  fi
  log "formatting KRaft storage in $STORE_DIR (cluster id $cid)"
  local scram=()
  if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
    local user password
    user="$(cat "$TLS_DIR/client/username")"
    password="$(cat "$TLS_DIR/client/password")"
    scram=(--add-scram "SCRAM-SHA-512=[name=$user,password=$password]" --add-scram "SCRAM-SHA-256=[name=$user,password=$password]")
  fi
  # shellcheck disable=SC2086
  if ! java $KAFKA_HEAP_OPTS -cp "$(classpath)" \
        -Dlog4j2.configurationFile="$LOG4J2" -Dkafka.logs.dir="$LOG_DIR" \
        kafka.tools.StorageTool format --config "$PROPS" --cluster-id "$cid" \
        --standalone --ignore-formatted ${scram[@]+"${scram[@]}"} >"$LOG_DIR/format.out" 2>&1; then
    cat "$LOG_DIR/format.out" >&2
    die "storage format failed (see $LOG_DIR/format.out)"
  fi
}

# Last 40 lines of this run's output (the logs are appended to across restarts).
show_failure() {
  local f off
  for f in "$SERVER_LOG" "$OUT_LOG"; do
    [[ -s "$f" ]] || continue
    off=0
    [[ "$f" == "$SERVER_LOG" ]] && off="${RUN_LOG_OFF:-0}"
    [[ "$f" == "$OUT_LOG" ]] && off="${RUN_OUT_OFF:-0}"
    (($(stat -c %s "$f") < off)) && off=0
    echo "---- last 40 lines of $f (this run) ----" >&2
    tail -c +"$((off + 1))" "$f" | tail -n 40 >&2
  done
  echo "---- broker log: $SERVER_LOG (stdout/stderr: $OUT_LOG) ----" >&2
}

# ---------------------------------------------------------------- commands
cmd_status() {
  local pid
  if pid="$(running_pid)"; then
    if api_versions_ok "$KAFKA_PORT"; then
      echo "running on $HOST:$KAFKA_PORT (pid $pid)"
    else
      echo "running (pid $pid, state $(proc_state "$pid")) but $HOST:$KAFKA_PORT does not answer"
    fi
    return 0
  fi
  echo "stopped"
  return 3
}

cmd_pid() {
  local pid
  if pid="$(running_pid)"; then echo "$pid"; return 0; fi
  echo "kafka: not running" >&2
  return 3
}


cmd_stop() {
  local pid
  if [[ ! -d "$KAFKA_DATA_DIR" ]]; then echo "kafka: not running"; return 0; fi
  mkdir -p "$KAFKA_DATA_DIR"
  exec {lock}>"$KAFKA_DATA_DIR/.lock"
  flock "$lock"
  if pid="$(running_pid)"; then
    stop_pid "$pid" "$KAFKA_STOP_TIMEOUT"
    rm -f "$PID_FILE"
    echo "kafka: stopped (pid $pid)"
  else
    cleanup_stale_pid
    echo "kafka: not running"
  fi
}

cmd_start() {
  command -v java >/dev/null || die "java not found (Kafka 4.x needs Java 17+)"
  provision
  mkdir -p "$KAFKA_DATA_DIR"
  exec {lock}>"$KAFKA_DATA_DIR/.lock"
  flock "$lock"

  local pid deadline
  if pid="$(running_pid)"; then
    deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    until api_versions_ok "$KAFKA_PORT"; do
      if ((SECONDS >= deadline)) || ! kill -0 "$pid" 2>/dev/null; then
        die "pid $pid (from $PID_FILE, state $(proc_state "$pid")) is alive but $HOST:$KAFKA_PORT does not answer; try 'scripts/kafka.sh stop' or 'reset'"
      fi
      sleep 0.5
    done
    echo "kafka: already running on $HOST:$KAFKA_PORT (pid $pid, log $SERVER_LOG)"
    return 0
  fi
  cleanup_stale_pid

  # A broker that was just SIGKILLed may still hold its ports for a moment.
  local p i tries=1
  [[ -n "${STALE_PID:-}" ]] && tries=50
  for p in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT" ${KAFKA_SASL_SSL_PORT:+"$KAFKA_SASL_SSL_PORT"}; do
    for ((i = 1; i < tries; i++)); do port_open "$p" || break; sleep 0.2; done
    if port_open "$p"; then die "port $HOST:$p is already in use by another process"; fi
  done

  if [[ -n "$KAFKA_SASL_SSL_PORT" ]]; then
    local had_user=0
    [[ -f "$TLS_DIR/client/password" ]] && had_user=1
    make_tls
    if [[ -f "$STORE_DIR/meta.properties" && $had_user -eq 0 ]]; then
      log "WARNING: $STORE_DIR was formatted without KAFKA_SASL_SSL_PORT, so it has no SCRAM user; 'reset' this instance dir to create one"
    fi
  fi
  write_config
  format_storage

  # Remember where this run's log output starts, to look for the startup line.
  local log_off=0
    [[ -f "$SERVER_LOG" ]] && log_off="$(stat -c %s "$SERVER_LOG")"
  RUN_LOG_OFF=$log_off
  RUN_OUT_OFF=0
  [[ -f "$OUT_LOG" ]] && RUN_OUT_OFF="$(stat -c %s "$OUT_LOG")"
  echo "==== $(date -Is) starting Kafka $KAFKA_VERSION on $HOST:$KAFKA_PORT ====" >>"$OUT_LOG"

  local t0=$SECONDS
  local bind_retries=14
  while true; do
    [[ -f "$SERVER_LOG" ]] && log_off="$(stat -c %s "$SERVER_LOG")"
    # setsid: own session/process group, so the broker survives the caller's
    # terminal/process group and signals to the caller's group don't reach it.
    # shellcheck disable=SC2086
    nohup setsid java -server $KAFKA_HEAP_OPTS \
      -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
      -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
      -Dlog4j2.configurationFile="$LOG4J2" -Dkafka.logs.dir="$LOG_DIR" \
      -Dlog4j2.shutdownHookEnabled=false \
      $KAFKA_JVM_OPTS \
      -cp "$(classpath)" kafka.Kafka "$PROPS" \
      >>"$OUT_LOG" 2>&1 </dev/null {lock}>&- &
    pid=$!
    echo "$pid" >"$PID_FILE"

    deadline=$((SECONDS + KAFKA_START_TIMEOUT))
    local started=0 answering=0
    while ((SECONDS < deadline)); do
      if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid" 2>/dev/null || true
        rm -f "$PID_FILE"
        # After a SIGKILL the dead broker's accepted connections sit in TIME_WAIT on its own ports
        # for up to a minute, and one of the JVM's listeners then fails to bind: try again.
        if [[ -n "${STALE_PID:-}" ]] && ((bind_retries > 0)) && tail -c +"$((log_off + 1))" "$SERVER_LOG" 2>/dev/null | grep -qF 'Address already in use'; then
          bind_retries=$((bind_retries - 1))
          log "a port is still held by the killed broker's connections (TIME_WAIT); retrying in 5 s"
          sleep 5
          continue 2
        fi
        log "broker process $pid exited during startup"
        show_failure
        exit 1
      fi
      if ((started == 0)) && [[ -f "$SERVER_LOG" ]]; then
        local size
        size="$(stat -c %s "$SERVER_LOG")"
        ((size < log_off)) && log_off=0   # rolled over
        if tail -c +"$((log_off + 1))" "$SERVER_LOG" | grep -F 'Kafka Server started' >/dev/null; then started=1; fi
      fi
      if ((started == 1)) && api_versions_ok "$KAFKA_PORT"; then answering=1; break; fi
      sleep 0.3
    done
    break
  done

  if ((answering == 0)); then
    log "broker did not become ready within ${KAFKA_START_TIMEOUT}s (log line seen: $started)"
    show_failure
    # no need for a graceful shutdown of a broker that never came up
    KAFKA_STOP_TIMEOUT=$((KAFKA_STOP_TIMEOUT < 10 ? KAFKA_STOP_TIMEOUT : 10))
    stop_pid "$pid" "$KAFKA_STOP_TIMEOUT"
    rm -f "$PID_FILE"
    exit 1
  fi
  echo "kafka: running on $HOST:$KAFKA_PORT (pid $pid, log $SERVER_LOG, started in $((SECONDS - t0)) s)"
}

cmd_reset() {
  cmd_stop
  if [[ -d "$KAFKA_DATA_DIR" ]]; then
    rm -rf "$KAFKA_DATA_DIR"
    echo "kafka: removed $KAFKA_DATA_DIR"
  fi
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
  provision) provision; echo "kafka: jars in $LIB_DIR" ;;
  reset) cmd_reset ;;
  logs) echo "$SERVER_LOG" ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
