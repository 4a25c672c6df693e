#!/usr/bin/env bash
# `make image`: build the livechat image from the Dockerfile with docker or podman, whichever is
# present, tagged as the chart's default image (livechat:<appVersion>), so kind/minikube users can
# load it and a local cluster runs it with no chart overrides (docs/cluster.md).
#
# With podman and no local copy of the Dockerfile's base image, the base is made by debootstrap
# (.ci/cluster/install.sh base; Debian's Python 3.11.2) instead of pulled: this machine, like CI,
# reaches no container registry. `podman pull` the base first to build on the official one.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=cluster/versions.sh
. "$ROOT/.ci/cluster/versions.sh"
TAG="${IMAGE:-$LIVECHAT_IMAGE}"
if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  docker build -t "$TAG" "$ROOT"
elif command -v podman >/dev/null 2>&1; then
  if ! podman image exists "$BASE_IMAGE"; then
    "$ROOT/.ci/cluster/install.sh" base
  fi
  mounts=()
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pip.conf; do
    [ -f "$f" ] && mounts+=(-v "$f:$f:ro")
  done
  podman build --pull=never --network=host --ulimit nofile=20000:20000 "${mounts[@]}" \
    -t "$TAG" "$ROOT"
else
  echo "make image: neither docker nor podman is installed; install one of them" >&2
  exit 1
fi
echo "image: $TAG"
