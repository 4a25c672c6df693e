#!/usr/bin/env bash
# Install what the tests need beyond Python packages, idempotently; fast when already done.
#
#   install-tools.sh [debian|kafka|helm ...]   (default: all)
#
# debian: redis-server, prometheus (with promtool), chromium from Debian's archive.
# kafka:  Apache Kafka broker + tools jars resolved by Maven into .tools/kafka/libs.
# helm:   helm built with `go install` into .tools/bin/helm.
# apiserver: kube-apiserver built from .ci/apiserver/go.mod into .tools/bin (the chart tests
#         `helm install` into it, with Debian's etcd as its store), plus the CRDs the chart uses
#         (ServiceMonitor, PrometheusRule, HTTPRoute) copied from their Go modules into .tools/crds.
# cluster: everything the single-node test cluster needs (.ci/cluster/install.sh).
# actionlint: the GitHub Actions workflow linter, built with `go install` into .tools/bin.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
HELM_VERSION="v3.19.0"
# The Kubernetes version helm assumes without a cluster (helm template/lint); its own Makefile
# sets these from its client-go version, `go install` alone would leave v1.20.
HELM_K8S_LDFLAGS="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=34 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=34"
DEBIAN_PACKAGES=(redis-server prometheus chromium etcd-server)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_debian() {
  local missing=()
  for pkg in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "install-tools: apt-get install ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

install_kafka() {
  [ -f "$TOOLS/kafka/libs/.complete" ] && return 0
  echo "install-tools: resolving Apache Kafka with Maven into .tools/kafka"
  rm -rf "$TOOLS/kafka/libs"
  mvn -q -B -f "$ROOT/.ci/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$TOOLS/kafka/libs"
  touch "$TOOLS/kafka/libs/.complete"
}

install_helm() {
  if [ -x "$TOOLS/bin/helm" ] && "$TOOLS/bin/helm" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
    return 0
  fi
  echo "install-tools: go install helm $HELM_VERSION into .tools/bin"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" CGO_ENABLED=0 go install \
    -ldflags "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION $HELM_K8S_LDFLAGS" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

install_apiserver() {
  install_crds
  local version; version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$ROOT/.ci/apiserver/go.mod")"
  if [ -x "$TOOLS/bin/kube-apiserver" ] && "$TOOLS/bin/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $version"; then
    return 0
  fi
  echo "install-tools: go build kube-apiserver $version into .tools/bin (a few minutes, once)"
  mkdir -p "$TOOLS/bin"
  local minor; minor="$(echo "$version" | cut -d. -f2)"
  (cd "$ROOT/.ci/apiserver" && CGO_ENABLED=0 go build -trimpath -o "$TOOLS/bin/kube-apiserver" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver)
}

PROMETHEUS_OPERATOR_VERSION="v0.85.0"
GATEWAY_API_VERSION="v1.4.0"

install_crds() {
  [ -f "$TOOLS/crds/.complete-$PROMETHEUS_OPERATOR_VERSION-$GATEWAY_API_VERSION" ] && return 0
  echo "install-tools: CRDs from prometheus-operator $PROMETHEUS_OPERATOR_VERSION and gateway-api $GATEWAY_API_VERSION"
  local po gw
  po="$(cd "$ROOT/.ci/apiserver" && go mod download -json \
    "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  gw="$(cd "$ROOT/.ci/apiserver" && go mod download -json \
    "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  rm -rf "$TOOLS/crds" && mkdir -p "$TOOLS/crds"
  cp "$po/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
    "$po/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
    "$gw/config/crd/experimental/gateway.networking.k8s.io_httproutes.yaml" "$TOOLS/crds/"
  touch "$TOOLS/crds/.complete-$PROMETHEUS_OPERATOR_VERSION-$GATEWAY_API_VERSION"
}

install_cluster() { "$ROOT/.ci/cluster/install.sh"; }

ACTIONLINT_VERSION="v1.7.12"
install_actionlint() {
  if [ -x "$TOOLS/bin/actionlint" ] && "$TOOLS/bin/actionlint" -version 2>/dev/null | head -1 | grep -qx "$ACTIONLINT_VERSION"; then
    return 0
  fi
  echo "install-tools: go install actionlint $ACTIONLINT_VERSION into .tools/bin"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" CGO_ENABLED=0 go install \
    -ldflags "-X github.com/rhysd/actionlint.version=$ACTIONLINT_VERSION" \
    "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
}

targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(debian kafka helm apiserver actionlint cluster)
for t in "${targets[@]}"; do "install_$t"; done
