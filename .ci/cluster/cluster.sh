#!/usr/bin/env bash
# A real single-node Kubernetes cluster on this machine, for `make cluster` and the live-cluster
# tests (tests/cluster): etcd, kube-apiserver, kube-controller-manager, kube-scheduler, a kubelet
# on containerd + runc, kube-proxy (iptables), CoreDNS and the CNI bridge, with the project's
# image and the test substitutes for redis and apache/kafka loaded under the chart's default names.
#
#   cluster.sh start|stop|status|env|recycle|is-up
#
# Isolation: every component runs inside one network namespace of its own (`livechat-<N>`),
# joined to the machine by a veth pair on a private /24 (host .1, node .2). Its iptables rules,
# ip_forward and bridge live and die with that namespace; nothing routes beyond the machine
# (the namespace has no default route). The host gets routes for the cluster's pod and Service
# ranges through the veth, so tests and `helm` on the host reach ClusterIPs directly.
# containerd has its own config, root, state and socket; the kubelet its own root directory and
# cgroup root. `stop` removes all of it except the caches (images, binaries).
#
# N (1-250) comes from LIVECHAT_CLUSTER_NET, else from the checkout's path, so two checkouts on
# one machine get two clusters. State: .tools/cluster/run; kubeconfig: .tools/cluster/kubeconfig.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="$ROOT/.tools"
BIN="$TOOLS/bin"
STATE="$TOOLS/cluster"
RUN="$STATE/run"
CACHE="${LIVECHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/livechat}/cluster"
KUBECONFIG_FILE="$STATE/kubeconfig"
# shellcheck source=versions.sh
. "$ROOT/.ci/cluster/versions.sh"
# shellcheck source=../lib.sh
. "$ROOT/.ci/lib.sh"

N="${LIVECHAT_CLUSTER_NET:-$(($(printf '%s' "$ROOT" | cksum | cut -d' ' -f1) % 200 + 20))}"
NS="livechat-$N"
VETH_HOST="lc${N}h"
VETH_NODE="lc${N}n"
HOST_IP="10.250.$N.1"
NODE_IP="10.250.$N.2"
POD_CIDR="10.244.$N.0/24"
SERVICE_CIDR="10.96.$N.0/24"
SERVICE_IP="10.96.$N.1" # the `kubernetes` Service
APISERVER_PORT=6443
NODE_NAME="livechat-node"
CGROUP_ROOT="/livechat-$N"
CONTAINERD_SOCK="$RUN/containerd/containerd.sock"
CONTAINERD_ROOT="$STATE/containerd-root"
export PATH="$BIN:$PATH"

log() { echo "cluster: $*"; }
in_ns() { nsenter --net="/var/run/netns/$NS" "$@"; }
ctr_() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }
kubectl_() { kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }

daemon() { # name command... : start in the cluster's namespace, log to $RUN/name.log
  local name="$1"
  shift
  alive "$name" && return 0
  nsenter --net="/var/run/netns/$NS" "$@" >"$RUN/$name.log" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

wait_for() { # seconds description command...
  local seconds="$1" what="$2" i
  shift 2
  for ((i = 0; i < seconds * 5; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  echo "cluster: $what not ready within $seconds s" >&2
  return 1
}

# ---------------------------------------------------------------------------- network

net_up() {
  if [ ! -e "/var/run/netns/$NS" ]; then
    ip netns add "$NS"
  fi
  in_ns ip link set lo up
  if ! ip link show "$VETH_HOST" >/dev/null 2>&1; then
    ip link add "$VETH_HOST" type veth peer name "$VETH_NODE"
    ip link set "$VETH_NODE" netns "$NS"
    ip addr add "$HOST_IP/24" dev "$VETH_HOST"
    ip link set "$VETH_HOST" up
    in_ns ip addr add "$NODE_IP/24" dev "$VETH_NODE"
    in_ns ip link set "$VETH_NODE" up
  fi
  ip route replace "$POD_CIDR" via "$NODE_IP" dev "$VETH_HOST"
  ip route replace "$SERVICE_CIDR" via "$NODE_IP" dev "$VETH_HOST"
  # Inside the namespace only: forwarding between the veth and the pod bridge, and bridged
  # traffic through iptables so kube-proxy's rules see pod-to-Service packets.
  in_ns sysctl -qw net.ipv4.ip_forward=1
  in_ns sysctl -qw net.ipv4.conf.all.route_localnet=1
  # bridge-nf-call-iptables is machine-wide on some kernels: remember its value to restore it.
  local bnf=/proc/sys/net/bridge/bridge-nf-call-iptables
  if [ ! -f "$bnf" ]; then modprobe br_netfilter 2>/dev/null || true; fi
  [ -f "$RUN/bridge-nf-call-iptables.orig" ] || cat "$bnf" >"$RUN/bridge-nf-call-iptables.orig"
  in_ns sh -c "echo 1 >$bnf"
  mkdir -p "$RUN/cni/net.d"
  cat >"$RUN/cni/net.d/10-livechat.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "livechat",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$RUN/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
EOF
}

net_down() {
  ip link del "$VETH_HOST" 2>/dev/null || true # routes through it go with it
  if [ -e "/var/run/netns/$NS" ]; then
    # Every iptables chain, the bridge and the sysctls above live in the namespace.
    ip netns del "$NS"
  fi
  if [ -f "$RUN/bridge-nf-call-iptables.orig" ]; then
    cat "$RUN/bridge-nf-call-iptables.orig" >/proc/sys/net/bridge/bridge-nf-call-iptables || true
    rm -f "$RUN/bridge-nf-call-iptables.orig"
  fi
}

# ---------------------------------------------------------------------------- certificates

pki() {
  local d="$RUN/pki"
  [ -f "$d/apiserver.crt" ] && return 0
  mkdir -p "$d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=livechat-test-ca" \
    -keyout "$d/ca.key" -out "$d/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$d/apiserver.key" -out "$d/apiserver.csr" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' \
    "IP:$SERVICE_IP,IP:$NODE_IP,IP:127.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost" \
    >"$d/apiserver.ext"
  openssl x509 -req -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
    -days 3650 -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" 2>/dev/null
  openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
  head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$d/token"
  echo "$(cat "$d/token"),livechat-admin,livechat-admin,system:masters" >"$d/tokens.csv"
}

write_kubeconfig() { # file server
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: livechat
    cluster:
      server: $2
      certificate-authority-data: $(base64 -w0 <"$RUN/pki/ca.crt")
users:
  - name: livechat-admin
    user:
      token: $(cat "$RUN/pki/token")
contexts:
  - name: livechat
    context: {cluster: livechat, user: livechat-admin}
current-context: livechat
EOF
  chmod 600 "$1"
}

# ---------------------------------------------------------------------------- components

start_containerd() {
  mkdir -p "$RUN/containerd"
  cat >"$RUN/containerd/config.toml" <<EOF
version = 2
# The root (images, snapshots) is a cache that outlives the cluster: images load once.
root = "$CONTAINERD_ROOT"
state = "$RUN/containerd/state"
[grpc]
  address = "$CONTAINERD_SOCK"
[ttrpc]
  address = "$CONTAINERD_SOCK.ttrpc"
[debug]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$RUN/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # root here lacks CAP_SYS_RESOURCE: never lower a process's oom_score_adj
  restrict_oom_score_adj = true
  enable_selinux = false
  # pod network namespaces under the state directory, so stop finds and removes them
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$RUN/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
EOF
  daemon containerd containerd --config "$RUN/containerd/config.toml"
  wait_for 60 containerd ctr_ version
}

load_images() { # import every cached image archive containerd lacks (or has older)
  local archive sum
  for archive in "$CACHE"/pause-*.tar "$CACHE/livechat.tar" "$CACHE/redis.tar" "$CACHE/kafka.tar"; do
    [ -f "$archive" ] || { echo "cluster: missing $archive (run .ci/cluster/install.sh)" >&2; return 1; }
    sum="$(stat -c %Y-%s "$archive")"
    [ "$(cat "$CONTAINERD_ROOT/loaded-$(basename "$archive")" 2>/dev/null)" = "$sum" ] && continue
    ctr_ images import "$archive" >/dev/null
    echo "$sum" >"$CONTAINERD_ROOT/loaded-$(basename "$archive")"
  done
}

start_control_plane() {
  mkdir -p "$RUN/etcd"
  chmod 700 "$RUN/etcd"
  daemon etcd etcd --name livechat --data-dir "$RUN/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster livechat=http://127.0.0.1:2380 --unsafe-no-fsync \
    --listen-metrics-urls http://127.0.0.1:2381
  daemon apiserver kube-apiserver --etcd-servers http://127.0.0.1:2379 \
    --bind-address "$NODE_IP" --advertise-address "$NODE_IP" --secure-port "$APISERVER_PORT" \
    --tls-cert-file "$RUN/pki/apiserver.crt" --tls-private-key-file "$RUN/pki/apiserver.key" \
    --client-ca-file "$RUN/pki/ca.crt" --token-auth-file "$RUN/pki/tokens.csv" \
    --authorization-mode RBAC --allow-privileged=true \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$RUN/pki/sa.key" \
    --service-account-signing-key-file "$RUN/pki/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --enable-priority-and-fairness=false \
    --profiling=false --endpoint-reconciler-type=lease --kubelet-preferred-address-types InternalIP
  wait_for 120 kube-apiserver kubectl_ get --raw /readyz
  daemon controller-manager kube-controller-manager --kubeconfig "$RUN/admin.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false \
    --service-account-private-key-file "$RUN/pki/sa.key" --root-ca-file "$RUN/pki/ca.crt" \
    --use-service-account-credentials=true --service-cluster-ip-range "$SERVICE_CIDR" \
    --concurrent-deployment-syncs 10 --node-monitor-grace-period 60s
  daemon scheduler kube-scheduler --kubeconfig "$RUN/admin.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

start_node() {
  mkdir -p "$RUN/kubelet"
  local sub
  # The kubelet's cgroup root, in every cgroup v1 hierarchy (cgroupfs driver).
  for sub in /sys/fs/cgroup/*/; do
    case "$sub" in */unified/) continue ;; esac
    mkdir -p "$sub${CGROUP_ROOT#/}"
  done
  cat >"$RUN/kubelet/config.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
cgroupDriver: cgroupfs
cgroupRoot: $CGROUP_ROOT
failCgroupV1: false
failSwapOn: false
clusterDNS: [$NODE_IP]
clusterDomain: cluster.local
resolvConf: ""
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
staticPodPath: ""
podLogsDir: $RUN/pod-logs
maxPods: 60
serializeImagePulls: false
# Images cannot be pulled again here: never collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%"}
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: true
EOF
  daemon kubelet kubelet --config "$RUN/kubelet/config.yaml" --kubeconfig "$RUN/admin.kubeconfig" \
    --root-dir "$RUN/kubelet" --hostname-override "$NODE_NAME" --node-ip "$NODE_IP" \
    --cert-dir "$RUN/kubelet/pki" --v 1
  cat >"$RUN/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: $RUN/admin.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
bindAddress: $NODE_IP
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [$NODE_IP/32]
# conntrack limits are machine-wide: leave them alone
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
  daemon kube-proxy kube-proxy --config "$RUN/kube-proxy.yaml"
  cat >"$RUN/Corefile" <<EOF
cluster.local:53 in-addr.arpa:53 ip6.arpa:53 {
    bind $NODE_IP
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $RUN/admin.kubeconfig
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 5
}
EOF
  # Only the cluster's zones: any other name is refused, nothing is forwarded off the machine.
  daemon coredns coredns -conf "$RUN/Corefile" -dns.port 53
}

cluster_objects() { # what a cluster installer would add: a default StorageClass with volumes
  kubectl_ apply -f - >/dev/null <<EOF
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local
  annotations: {storageclass.kubernetes.io/is-default-class: "true"}
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
reclaimPolicy: Retain
EOF
  # Static local volumes (a pool; the kubelet mounts them like any PersistentVolume).
  local i manifest=""
  for i in $(seq 1 "${LIVECHAT_CLUSTER_VOLUMES:-16}"); do
    mkdir -p "$RUN/volumes/pv$i"
    chmod 0777 "$RUN/volumes/pv$i"
    manifest+="---
apiVersion: v1
kind: PersistentVolume
metadata: {name: livechat-pv$i, labels: {livechat.test/pool: local}}
spec:
  capacity: {storage: 20Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: local
  local: {path: $RUN/volumes/pv$i}
  nodeAffinity:
    required:
      nodeSelectorTerms: [{matchExpressions: [{key: kubernetes.io/hostname, operator: In, values: [$NODE_NAME]}]}]
"
  done
  printf '%s' "$manifest" | kubectl_ apply -f - >/dev/null
}

# The pool's volumes are `Retain`: once their claim is gone, wipe them and make them Available
# again (what a local-volume provisioner's cleaner does), so repeated test runs never run dry.
recycle_volumes() {
  local pv dir
  for pv in $(kubectl_ get pv -l livechat.test/pool=local \
    -o jsonpath='{range .items[?(@.status.phase=="Released")]}{.metadata.name}{"\n"}{end}'); do
    dir="$RUN/volumes/${pv#livechat-}"
    find "$dir" -mindepth 1 -delete 2>/dev/null || true
    kubectl_ patch pv "$pv" --type json -p '[{"op": "remove", "path": "/spec/claimRef"}]' >/dev/null
  done
}

node_ready() {
  kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' |
    grep -qx True
}

healthy() {
  local c
  for c in containerd etcd apiserver controller-manager scheduler kubelet kube-proxy coredns; do
    alive "$c" || return 1
  done
  [ -f "$KUBECONFIG_FILE" ] && node_ready
}

start() {
  local t0=$SECONDS
  "$ROOT/.ci/cluster/install.sh"
  if healthy; then
    load_images
    recycle_volumes
    log "already up (kubeconfig $KUBECONFIG_FILE)"
    return 0
  fi
  stop >/dev/null 2>&1 || true
  mkdir -p "$RUN"
  net_up
  pki
  write_kubeconfig "$RUN/admin.kubeconfig" "https://$NODE_IP:$APISERVER_PORT"
  write_kubeconfig "$KUBECONFIG_FILE" "https://$NODE_IP:$APISERVER_PORT"
  start_containerd
  load_images
  start_control_plane
  start_node
  wait_for 180 "node $NODE_NAME" node_ready || { status >&2; return 1; }
  wait_for 60 "default ServiceAccount" kubectl_ get serviceaccount default
  cluster_objects
  log "up in $((SECONDS - t0)) s: KUBECONFIG=$KUBECONFIG_FILE (node $NODE_IP, namespace $NS)"
}

stop_pods() { # let the kubelet tear every pod down (CNI DEL, unmounts) while it still runs
  alive kubelet && alive apiserver || return 0
  alive controller-manager && stop_pidfile "$RUN/controller-manager.pid"
  kubectl_ delete pods --all --all-namespaces --grace-period=0 --force --wait=false \
    >/dev/null 2>&1 || true
  local i
  for ((i = 0; i < 150; i++)); do
    [ -z "$(ctr_ tasks ls -q 2>/dev/null)" ] && return 0
    sleep 0.2
  done
}

stop() {
  mkdir -p "$RUN"
  stop_pods
  local c
  for c in coredns kube-proxy kubelet scheduler controller-manager apiserver etcd; do
    stop_pidfile "$RUN/$c.pid"
  done
  if alive containerd; then # whatever the kubelet left behind
    local task
    for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$task" 2>/dev/null || true; done
    sleep 0.5
    for task in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$task" >/dev/null 2>&1 || true; done
  fi
  stop_pidfile "$RUN/containerd.pid"
  # Shims outlive containerd: end the ones serving this cluster's containerd.
  local pid
  for pid in $(pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true); do
    kill -9 "$pid" 2>/dev/null || true
  done
  # Mounts the kubelet and containerd made under the run directory, deepest first.
  awk -v run="$RUN/" 'index($2, run) == 1 {print $2}' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  net_down
  local sub
  for sub in /sys/fs/cgroup/*/; do
    [ -d "$sub${CGROUP_ROOT#/}" ] || continue
    find "$sub${CGROUP_ROOT#/}" -depth -type d -exec rmdir {} + 2>/dev/null || true
  done
  rm -rf "$RUN" "$KUBECONFIG_FILE"
  log "stopped"
}

status() {
  local c
  for c in containerd etcd apiserver controller-manager scheduler kubelet kube-proxy coredns; do
    if alive "$c"; then echo "$c: running"; else echo "$c: NOT running; last lines of $RUN/$c.log:"; tail -n 5 "$RUN/$c.log" 2>/dev/null | sed 's/^/  /'; fi
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  recycle) recycle_volumes ;;
  is-up) healthy ;;
  env) echo "export KUBECONFIG=$KUBECONFIG_FILE LIVECHAT_CLUSTER_NS=$NS LIVECHAT_NODE_IP=$NODE_IP" ;;
  *) echo "usage: $0 start|stop|status|env" >&2; exit 2 ;;
esac
