#!/usr/bin/env bash
# Runs a command with a Confluent-API schema registry: the one named by SCHEMA_REGISTRY_URL, or else
# a local one this script starts (scripts/schema-registry.sh, on SCHEMA_REGISTRY_PORT, 18081 by
# default) and stops again afterwards, whatever the outcome. The command gets SCHEMA_REGISTRY_URL,
# the base URL of the Confluent API (http://127.0.0.1:<port>/apis/ccompat/v7).
# scripts/with-kafka.sh wraps its command in this one when WITH_SCHEMA_REGISTRY=1.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ -n "${SCHEMA_REGISTRY_URL:-}" ]]; then
  exec "$@"
fi

export SCHEMA_REGISTRY_PORT="${SCHEMA_REGISTRY_PORT:-18081}"
started=0
if ! "$here/schema-registry.sh" status >/dev/null 2>&1; then
  "$here/schema-registry.sh" start >/dev/null
  started=1
fi
cleanup() { if [[ $started -eq 1 ]]; then "$here/schema-registry.sh" stop || true; fi; }
trap cleanup EXIT INT TERM
SCHEMA_REGISTRY_URL="$("$here/schema-registry.sh" url)"
export SCHEMA_REGISTRY_URL
"$@"
