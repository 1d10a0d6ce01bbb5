#!/usr/bin/env bash
# Runs a command with a Kafka broker: the one named by KAFKA_BROKERS, or else a local broker
# this script starts (scripts/kafka.sh) and stops again afterwards, whatever the outcome.
# WITH_SCHEMA_REGISTRY=1: the command also gets a schema registry (scripts/with-schema-registry.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ "${WITH_SCHEMA_REGISTRY:-}" == 1 ]]; then
  set -- "$here/with-schema-registry.sh" "$@"
fi

if [[ -n "${KAFKA_BROKERS:-}" ]]; then
  exec "$@"
fi

export KAFKA_PORT="${KAFKA_PORT:-9092}"
started=0
if ! "$here/kafka.sh" status >/dev/null 2>&1; then
  "$here/kafka.sh" start
  started=1
fi
cleanup() { if [[ $started -eq 1 ]]; then "$here/kafka.sh" stop || true; fi; }
trap cleanup EXIT INT TERM
export KAFKA_BROKERS="127.0.0.1:${KAFKA_PORT}"
"$@"
