#!/usr/bin/env bash
# Runs one tier of specs (unit | replay | integration) or all of them, with Node's own runner.
# Integration specs need root (they start a private containerd); they run one file at a time.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
tier="${1:-all}"
shopt -s nullglob
run() {
  local pattern="$1"; shift
  # shellcheck disable=SC2086
  local files=( $pattern )
  [ "${#files[@]}" -gt 0 ] || { echo "no specs match $pattern"; return 0; }
  bash scripts/node.sh --test --test-reporter=spec "$@" "${files[@]}"
}
case "$tier" in
  unit) run 'specs/unit/*.spec.ts' ;;
  replay) run 'specs/replay/*.spec.ts' ;;
  integration) run 'specs/integration/*.spec.ts' --test-concurrency=1 --test-timeout=240000 ;;
  all)
    run 'specs/unit/*.spec.ts specs/replay/*.spec.ts specs/integration/*.spec.ts' --test-concurrency=1 --test-timeout=240000 ;;
  *) echo "usage: scripts/test.sh [unit|replay|integration|all]" >&2; exit 2 ;;
esac
