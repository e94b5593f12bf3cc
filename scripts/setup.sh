#!/usr/bin/env bash
# Brings a bare Debian machine to the point where the daemon runs and the tests pass:
# Node.js 24 (from the npm registry's node-linux-<arch> package), the npm dependencies, and
# containerd, runc, the CNI plugins, busybox-static, iptables and prometheus (promtool) from Debian.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

need_apt=()
command -v containerd >/dev/null 2>&1 || need_apt+=(containerd)
command -v runc >/dev/null 2>&1 || need_apt+=(runc)
[ -x /usr/lib/cni/bridge ] || need_apt+=(containernetworking-plugins)
dpkg -s busybox-static >/dev/null 2>&1 || need_apt+=(busybox-static)
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)
# promtool checks /metrics in the specs
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
if [ "${#need_apt[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing ${need_apt[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "setup: apt-get install ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! { command -v node >/dev/null 2>&1 && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 24 ]; } \
   && [ ! -x .node24/bin/node ]; then
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) echo "setup: no Node.js 24 package for $(uname -m)" >&2; exit 1 ;;
  esac
  echo "setup: installing Node.js 24 (node-linux-$arch) into .node24/"
  rm -rf .node24 && mkdir -p .node24/pkg
  npm install --silent --no-save --no-package-lock --prefix .node24/pkg "node-linux-$arch@24" >/dev/null
  mkdir -p .node24/bin
  ln -sf "../pkg/node_modules/node-linux-$arch/bin/node" .node24/bin/node
fi
.node24/bin/node --version >/dev/null 2>&1 || bash scripts/node.sh --version >/dev/null

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then
  echo "setup: npm ci"
  npm ci --silent --no-audit --no-fund
fi
# usocket (dbus-next's file-descriptor passing: the logind inhibitor lock of graceful node shutdown)
# is a native addon that npm built for the system's Node; build it for Node 24 against its own
# headers (nothing downloaded)
if ! bash scripts/node.sh -e "require('usocket')" >/dev/null 2>&1; then
  echo "setup: building usocket for Node 24"
  node24="$(bash scripts/node.sh -p 'process.execPath')"
  npm_config_nodedir="$(dirname "$(dirname "$(readlink -f "$node24")")")" PATH="$(dirname "$node24"):$PATH" npm rebuild usocket --silent
  bash scripts/node.sh -e "require('usocket')"
fi
echo "setup: ready ($(bash scripts/node.sh --version), $(containerd --version | awk '{print $3}'), runc $(runc --version | awk 'NR==1{print $3}'))"
