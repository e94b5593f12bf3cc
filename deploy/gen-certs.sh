#!/usr/bin/env bash
# One-shot PKI for the docker-compose cluster (what `kubeadm init phase certs/kubeconfig` makes):
# a CA, the API server's serving certificate, the service-account key pair, and client
# certificates + kubeconfigs for the admin (system:masters), the controller manager, the
# scheduler and the kubelet-ts node (system:node:<node>, group system:nodes, so the Node
# authorizer and NodeRestriction apply to it exactly as to an upstream kubelet).
#
#   gen-certs.sh <pki-dir> [node-name]
#
# Idempotent: an existing CA means the PKI is already there and nothing is touched.
set -euo pipefail
dir="${1:?usage: gen-certs.sh <pki-dir> [node-name]}"
node="${2:-${NODE_NAME:-kubelet-ts-node}}"
# The kubeconfigs of the cluster components reach the API server by its compose service name;
# admin.conf is for the host, through the published port.
internal="${APISERVER_URL:-https://kube-apiserver:6443}"
external="${APISERVER_EXTERNAL_URL:-https://127.0.0.1:6443}"
days=3650

mkdir -p "$dir"
cd "$dir"
if [ -s ca.crt ] && [ -s kubelet.conf ]; then
  echo "gen-certs: PKI already present in $dir"
  exit 0
fi
umask 077

openssl genrsa -out ca.key 2048 2>/dev/null
openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/CN=kubernetes" -out ca.crt \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"

# sign <name> <subject> <extendedKeyUsage> [subjectAltName]
sign() {
  local name="$1" subj="$2" eku="$3" san="${4:-}"
  openssl genrsa -out "$name.key" 2048 2>/dev/null
  openssl req -new -key "$name.key" -subj "$subj" -out "$name.csr"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
    -extfile "$name.ext" -out "$name.crt" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

sign apiserver "/CN=kube-apiserver" serverAuth \
  "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:kube-apiserver,DNS:localhost,IP:127.0.0.1,IP:10.96.0.1"
sign admin "/O=system:masters/CN=kubernetes-admin" clientAuth
sign controller-manager "/CN=system:kube-controller-manager" clientAuth
sign scheduler "/CN=system:kube-scheduler" clientAuth
sign kubelet "/O=system:nodes/CN=system:node:$node" clientAuth
sign apiserver-kubelet-client "/O=kubeadm:cluster-admins/CN=kube-apiserver-kubelet-client" clientAuth

openssl genrsa -out sa.key 2048 2>/dev/null
openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null

b64() { base64 -w0 < "$1"; }

# kubeconfig <file> <server> <user> <cert-name>
kubeconfig() {
  cat > "$1" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: kubelet-ts
  cluster:
    server: $2
    certificate-authority-data: $(b64 ca.crt)
users:
- name: $3
  user:
    client-certificate-data: $(b64 "$4.crt")
    client-key-data: $(b64 "$4.key")
contexts:
- name: $3@kubelet-ts
  context:
    cluster: kubelet-ts
    user: $3
current-context: $3@kubelet-ts
YAML
}

kubeconfig admin.conf "$external" kubernetes-admin admin
kubeconfig controller-manager.conf "$internal" system:kube-controller-manager controller-manager
kubeconfig scheduler.conf "$internal" system:kube-scheduler scheduler
kubeconfig kubelet.conf "$internal" "system:node:$node" kubelet

# admin.conf is meant to be copied out to the host (docker compose cp); the rest stays private
chmod 0644 ca.crt admin.conf
echo "gen-certs: PKI for node $node written to $dir"
