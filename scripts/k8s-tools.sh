#!/usr/bin/env bash
# Offline tools for the Kubernetes manifest tests (test/unit/k8s-manifests.test.ts), installed
# once into .cache/k8s-tools from the package registries, never fetched at test time:
#   kustomize            Go module sigs.k8s.io/kustomize/kustomize/v5, built with `go install`
#   kubernetes-validate  PyPI package that ships the Kubernetes OpenAPI schemas (as JSON schemas,
#                        strict variants included) for every minor version up to its own, in a venv
#
# Usage: scripts/k8s-tools.sh [install|env]
#   install  (default) install what is missing or of another version
#   env      install, then print KUSTOMIZE=<path> and K8S_VALIDATE_PYTHON=<path>
#
# Environment: K8S_TOOLS_DIR (default $REPO/.cache/k8s-tools), GO (default go), PYTHON (default python3).
# Cost on a new machine: ~2 min (kustomize compiles) + ~20 s (pip); afterwards, ~0 s. With Go's
# module and build caches still warm (same machine, fresh clone), kustomize takes ~6 s.
set -euo pipefail

KUSTOMIZE_VERSION=v5.8.1
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
TOOLS="${K8S_TOOLS_DIR:-$REPO/.cache/k8s-tools}"
REQUIREMENTS="$REPO/scripts/k8s-tools-requirements.txt"
GO="${GO:-go}"
PYTHON="${PYTHON:-python3}"

log() { echo "k8s-tools: $*" >&2; }
die() { echo "k8s-tools: ERROR: $*" >&2; exit 1; }

mkdir -p "$TOOLS"
exec {lock}>"$TOOLS/.lock"
flock "$lock"   # parallel test runs share the cache

install_kustomize() {
  local bin="$TOOLS/bin/kustomize"
  if [[ -x "$bin" && "$("$bin" version 2>/dev/null)" == "$KUSTOMIZE_VERSION" ]]; then return 0; fi
  command -v "$GO" >/dev/null || die "go not found: kustomize $KUSTOMIZE_VERSION is built from the Go module proxy with 'go install'"
  log "building kustomize $KUSTOMIZE_VERSION (go install) into $TOOLS/bin ..."
  local t0=$SECONDS out="$TOOLS/kustomize-install.log"
  if ! GOBIN="$TOOLS/bin" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false \
      "$GO" install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "go install of kustomize failed (full output: $out)"
  fi
  [[ "$("$bin" version)" == "$KUSTOMIZE_VERSION" ]] || die "$bin does not report $KUSTOMIZE_VERSION"
  log "kustomize built in $((SECONDS - t0)) s"
}

install_validator() {
  local venv="$TOOLS/venv" stamp
  stamp="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  if [[ -x "$venv/bin/python" && "$(cat "$venv/.installed" 2>/dev/null)" == "$stamp" ]]; then return 0; fi
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: kubernetes-validate is installed from PyPI into a venv"
  log "installing kubernetes-validate (pip) into $venv ..."
  local t0=$SECONDS out="$TOOLS/pip-install.log"
  rm -rf "$venv"
  if ! { "$PYTHON" -m venv "$venv" && "$venv/bin/pip" install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS"; } >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "pip install failed (full output: $out)"
  fi
  echo "$stamp" >"$venv/.installed"
  log "kubernetes-validate installed in $((SECONDS - t0)) s"
}

install_kustomize
install_validator

case "${1:-install}" in
  install) ;;
  env)
    echo "KUSTOMIZE=$TOOLS/bin/kustomize"
    echo "K8S_VALIDATE_PYTHON=$TOOLS/venv/bin/python"
    ;;
  *) die "usage: $0 [install|env]" ;;
esac
