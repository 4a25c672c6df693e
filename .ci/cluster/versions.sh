# Versions and image names of the test cluster; sourced by .ci/cluster/*.sh, never run.
# shellcheck shell=bash
_CLUSTER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COREDNS_VERSION="v1.13.1"
PAUSE_VERSION="3.10.1"
# What the kubelet and containerd expect as the sandbox image for this Kubernetes release.
PAUSE_IMAGE="registry.k8s.io/pause:$PAUSE_VERSION"
# Bump to rebuild the cached debootstrap tarball.
BASE_REVISION="1"
# The Dockerfile's default FROM, fully qualified as podman and containerd name it.
BASE_IMAGE="docker.io/library/$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$_CLUSTER_ROOT/Dockerfile")"
# The chart's default image names, so a default `helm install` needs no image overrides.
_values() { # key (image block under top level, redis or kafka): repository:tag
  awk -v block="$1" '
    /^[a-z]/ { top = $1; sub(":", "", top) }
    top == block && /^ *image:/ { inimg = 1; next }
    inimg && /repository:/ { repo = $2 } inimg && /tag:/ { tag = $2; gsub("\"", "", tag) }
    inimg && repo != "" && /tag:/ { print repo ":" tag; exit }' "$_CLUSTER_ROOT/charts/livechat/values.yaml"
}
qualify() { # image reference -> as containerd names it (docker.io/library/ for bare names)
  case "$1" in
    */*/*|*.*/*|localhost/*) echo "$1" ;;
    */*) echo "docker.io/$1" ;;
    *) echo "docker.io/library/$1" ;;
  esac
}
APP_VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$_CLUSTER_ROOT/charts/livechat/Chart.yaml")"
LIVECHAT_IMAGE="$(qualify "$(awk '/^image:/ {i = 1} i && /repository:/ {print $2; exit}' \
  "$_CLUSTER_ROOT/charts/livechat/values.yaml"):$APP_VERSION")"
sub_image() { qualify "$(_values "$1")"; } # redis|kafka
