#!/usr/bin/env bash
# A pinned Python venv from PyPI, installed once, never fetched at test or bench time. By default the
# one of the independent Confluent wire-format checker (test/support/python/confluent_check.py):
# confluent-kafka (librdkafka) with its schema registry Avro serde (fastavro), in .cache/venv-check
# with the exact versions of test/support/python/requirements.txt. The benchmark's Python rows use it
# with their own requirements, venv and imports (bench/bench.ts):
#   PYTHON_ENV_REQUIREMENTS=bench/python/requirements.txt PYTHON_ENV_VENV=.cache/venv-bench \
#   PYTHON_ENV_IMPORTS='confluent_kafka fastavro numpy onnxruntime' scripts/python-check-env.sh
#
# Usage: scripts/python-check-env.sh
#   installs the venv when it is missing or was made from another requirements file (a marker file
#   in the venv holds the sha256 of the requirements it was made from), then prints the path of its
#   python on stdout, e.g.
#     PY="$(scripts/python-check-env.sh)" && "$PY" test/support/python/confluent_check.py --help
#
# Environment: PYTHON_ENV_REQUIREMENTS (default $REPO/test/support/python/requirements.txt; relative
# paths are from the repository root), PYTHON_ENV_VENV (default $PYTHON_CHECK_VENV, else
# $REPO/.cache/venv-check), PYTHON_ENV_IMPORTS (Python modules the venv must import, space-separated;
# default: the checker's, confluent_kafka's Avro serde), PYTHON (default python3, 3.11: the pins are
# wheels for it; another 3.x may work but may build from source).
# Cost on a new machine: ~8 s (pip, nothing cached: 21 wheels from PyPI), 86 MB installed; afterwards ~10 ms.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
cd "$REPO"   # relative PYTHON_ENV_* paths are from the repository root
VENV="$(realpath -m "${PYTHON_ENV_VENV:-${PYTHON_CHECK_VENV:-$REPO/.cache/venv-check}}")"
REQUIREMENTS="$(realpath -m "${PYTHON_ENV_REQUIREMENTS:-$REPO/test/support/python/requirements.txt}")"
IMPORTS="${PYTHON_ENV_IMPORTS:-}"
PYTHON="${PYTHON:-python3}"
MARKER="$VENV/.installed"

log() { echo "python-check-env: $*" >&2; }
die() { echo "python-check-env: ERROR: $*" >&2; exit 1; }

[[ -f "$REQUIREMENTS" ]] || die "$REQUIREMENTS not found"
stamp="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"

# Warm path, without the lock: the marker is written last, so a matching one means a complete venv.
# (The interpreter check catches a venv whose base python was removed or replaced.)
is_installed() {
  [[ -x "$VENV/bin/python" && "$(cat "$MARKER" 2>/dev/null)" == "$stamp" ]] && "$VENV/bin/python" -c '' 2>/dev/null
}

# Package names from the requirements file / from pip freeze, normalised (PEP 503), one per line.
pinned_names() { sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' -e 's/[=<>!~;\[].*//' "$REQUIREMENTS" | tr '[:upper:]_.' '[:lower:]--' | sort -u; }
installed_names() { "$VENV/bin/python" -m pip freeze --all --disable-pip-version-check | sed -e 's/[=@ ].*//' | tr '[:upper:]_.' '[:lower:]--' | grep -vxE 'pip|setuptools|wheel' | sort -u; }

install_venv() {
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: the venv is made with '$PYTHON -m venv'"
  log "installing $(basename "$REQUIREMENTS") (pip) into $VENV ..."
  local t0=$SECONDS out="$VENV.pip-install.log" extra
  rm -rf "$VENV"
  if ! { "$PYTHON" -m venv "$VENV" \
      && "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS"; } >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "pip install failed (full output: $out)"
  fi
  # Every installed package must be pinned: an unpinned one means the requirements lost a transitive pin.
  extra="$(comm -13 <(pinned_names) <(installed_names) | tr '\n' ' ')"
  [[ -z "$extra" ]] || die "pip installed packages that $REQUIREMENTS does not pin: $extra"
  local check what
  if [[ -n "$IMPORTS" ]]; then
    read -ra modules <<<"$IMPORTS"
    check="import $(IFS=,; echo "${modules[*]}")"
    what="$IMPORTS"
  else
    check='import confluent_kafka, fastavro
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer'
    what="confluent_kafka's Avro serde"
  fi
  "$VENV/bin/python" -c "$check" >>"$out" 2>&1 \
    || { tail -n 30 "$out" >&2; die "the venv cannot import $what (full output: $out)"; }
  echo "$stamp" >"$MARKER"
  log "installed in $((SECONDS - t0)) s ($(du -sh "$VENV" | cut -f1))"
}

if ! is_installed; then
  mkdir -p "$(dirname "$VENV")"
  exec {lock}>"$VENV.lock"
  flock "$lock"   # parallel test runs share the venv
  is_installed || install_venv
  exec {lock}>&-
fi

echo "$VENV/bin/python"
