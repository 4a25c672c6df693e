#!/usr/bin/env bash
# A real Kubernetes API server on loopback for the chart tests: Debian's etcd plus kube-apiserver
# built by `.ci/install-tools.sh apiserver`. No kubelet, no controllers: objects are admitted,
# validated and stored exactly as a cluster's API server would, but no pod ever runs.
#
#   apiserver.sh start|stop
#
# State (etcd data, certificates, keys, logs, kubeconfig) lives in APISERVER_DIR (default
# .tools/run/apiserver-<port>); ports from APISERVER_PORT (6443), ETCD_PORT (2379) and
# ETCD_PEER_PORT (ETCD_PORT + 1), so a test can run a private one on free ports. `start`
# writes "$APISERVER_DIR/kubeconfig" (static token, self-signed serving certificate).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
APISERVER_PORT="${APISERVER_PORT:-6443}"
ETCD_PORT="${ETCD_PORT:-2379}"
ETCD_PEER_PORT="${ETCD_PEER_PORT:-$((ETCD_PORT + 1))}"
DIR="${APISERVER_DIR:-$ROOT/.tools/run/apiserver-$APISERVER_PORT}"
KUBE_APISERVER="$ROOT/.tools/bin/kube-apiserver"

# shellcheck source=lib.sh
. "$ROOT/.ci/lib.sh"
stop_pid() { stop_pidfile "$DIR/$1.pid"; } # name

start() {
  [ -x "$KUBE_APISERVER" ] || "$ROOT/.ci/install-tools.sh" apiserver
  mkdir -p "$DIR/etcd" "$DIR/certs"
  chmod 700 "$DIR/etcd"
  [ -f "$DIR/sa.key" ] || openssl genrsa -out "$DIR/sa.key" 2048 2>/dev/null
  [ -f "$DIR/token" ] || head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/token"
  local token; token="$(cat "$DIR/token")"
  echo "$token,livechat-test,livechat-test,system:masters" >"$DIR/tokens.csv"

  etcd --name livechat-test --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "livechat-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync >"$DIR/etcd.log" 2>&1 &
  echo $! >"$DIR/etcd.pid"

  "$KUBE_APISERVER" \
    --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$APISERVER_PORT" --cert-dir "$DIR/certs" \
    --token-auth-file "$DIR/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$DIR/sa.key" --service-account-signing-key-file "$DIR/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 \
    --enable-priority-and-fairness=false --profiling=false \
    >"$DIR/apiserver.log" 2>&1 &
  echo $! >"$DIR/apiserver.pid"

  cat >"$DIR/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: livechat-test
    cluster:
      server: https://127.0.0.1:$APISERVER_PORT
      insecure-skip-tls-verify: true
users:
  - name: livechat-test
    user:
      token: $token
contexts:
  - name: livechat-test
    context: {cluster: livechat-test, user: livechat-test}
current-context: livechat-test
KUBECONFIG

  for _ in $(seq 1 600); do
    if curl -fsk -H "Authorization: Bearer $token" \
      "https://127.0.0.1:$APISERVER_PORT/readyz" >/dev/null 2>&1; then
      echo "apiserver: ready on https://127.0.0.1:$APISERVER_PORT (kubeconfig $DIR/kubeconfig)"
      return 0
    fi
    kill -0 "$(cat "$DIR/apiserver.pid")" 2>/dev/null || break
    sleep 0.1
  done
  echo "apiserver: not ready; last lines of $DIR/apiserver.log:" >&2
  tail -n 20 "$DIR/apiserver.log" >&2
  stop
  return 1
}

stop() {
  stop_pid apiserver
  stop_pid etcd
  echo "apiserver: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
