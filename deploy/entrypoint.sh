#!/usr/bin/env bash
# The kubelet-ts node container: containerd in the background, then the kubelet in the
# foreground (compose's `init: true` reaps the shims). Extra arguments go to kubelet-ts.
set -euo pipefail
cd /opt/kubelet-ts
node_name="${NODE_NAME:-kubelet-ts-node}"
kubeconfig="${KUBECONFIG_PATH:-/etc/kubernetes/pki/kubelet.conf}"

# Everything is installed at build time; this only checks (and would repair) the toolchain.
bash scripts/setup.sh

# cgroup v2 in a container: move ourselves out of the root cgroup so that controllers can be
# delegated to the pods' cgroups ("no internal processes"), as docker's dind and kind do.
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
  mkdir -p /sys/fs/cgroup/init.scope
  xargs -rn1 < /sys/fs/cgroup/cgroup.procs > /sys/fs/cgroup/init.scope/cgroup.procs 2>/dev/null || true
  sed -e 's/ / +/g' -e 's/^/+/' < /sys/fs/cgroup/cgroup.controllers > /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null || true
fi

mkdir -p /etc/cni/net.d /etc/kubernetes/manifests /var/lib/kubelet /var/log/pods /run/containerd
cp deploy/cni/10-kubelet-ts.conflist /etc/cni/net.d/

containerd --config deploy/containerd.toml &
for _ in $(seq 1 100); do
  [ -S /run/containerd/containerd.sock ] && break
  sleep 0.1
done
[ -S /run/containerd/containerd.sock ] || { echo "entrypoint: containerd did not start" >&2; exit 1; }

for _ in $(seq 1 300); do
  [ -s "$kubeconfig" ] && break
  echo "entrypoint: waiting for $kubeconfig" >&2
  sleep 1
done

exec bin/kubelet-ts \
  --kubeconfig="$kubeconfig" \
  --container-runtime-endpoint=unix:///run/containerd/containerd.sock \
  --hostname-override="$node_name" \
  --pod-manifest-path=/etc/kubernetes/manifests \
  --root-dir=/var/lib/kubelet \
  -v=2 \
  "$@"
