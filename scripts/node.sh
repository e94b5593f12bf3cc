#!/usr/bin/env bash
# Runs a .ts file with Node.js 24 (type stripping). Uses the system node when it is >= 24,
# else the copy that scripts/setup.sh installed under .node24/.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_bin=""
if command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 24 ]; then
  node_bin="$(command -v node)"
elif [ -x "$here/.node24/bin/node" ]; then
  node_bin="$here/.node24/bin/node"
else
  echo "kubelet-ts needs Node.js >= 24: run 'bash scripts/setup.sh' first" >&2
  exit 1
fi
exec "$node_bin" --disable-warning=ExperimentalWarning "$@"
