#!/usr/bin/env bash
# Python venv for the independent Confluent wire-format checker (test/support/python/confluent_check.py):
# confluent-kafka (librdkafka) with its schema registry Avro serde (fastavro), installed once from PyPI
# into .cache/venv-check with the exact versions of test/support/python/requirements.txt, never
# fetched at test time.
#
# Usage: scripts/python-check-env.sh
#   installs the venv when it is missing or was made from another requirements file (a marker file
#   in the venv holds the sha256 of the requirements it was made from), then prints the path of its
#   python on stdout, e.g.
#     PY="$(scripts/python-check-env.sh)" && "$PY" test/support/python/confluent_check.py --help
#
# Environment: PYTHON_CHECK_VENV (default $REPO/.cache/venv-check), PYTHON (default python3, 3.11:
# the pins are wheels for it; another 3.x may work but may build from source).
# Cost on a new machine: ~8 s (pip, nothing cached: 21 wheels from PyPI), 86 MB installed; afterwards ~10 ms.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
VENV="$(realpath -m "${PYTHON_CHECK_VENV:-$REPO/.cache/venv-check}")"
REQUIREMENTS="$REPO/test/support/python/requirements.txt"
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
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: the checker's venv is made with '$PYTHON -m venv'"
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
  "$VENV/bin/python" -c 'import confluent_kafka, fastavro
from confluent_kafka.schema_registry.avro import AvroSerializer, AvroDeserializer' >>"$out" 2>&1 \
    || { tail -n 30 "$out" >&2; die "the venv cannot import confluent_kafka's Avro serde (full output: $out)"; }
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
