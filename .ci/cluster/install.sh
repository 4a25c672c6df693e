#!/usr/bin/env bash
# Install what the single-node test cluster (.ci/cluster/cluster.sh) needs, idempotently; fast when
# already done. Binaries land in .tools/bin; images and the base root file system are cached in
# ~/.cache/livechat/cluster (shared by every checkout, so a fresh clone is warm too).
#
#   install.sh [packages|kube|coredns|pause|base|images ...]   (default: all)
#
# packages: containerd, runc, podman, buildah, debootstrap, CNI plugins, iptables from Debian.
# kube:     kubelet, kube-controller-manager, kube-scheduler, kube-proxy, kubectl built with Go from
#           .ci/cluster/go.mod (same Kubernetes release as .ci/apiserver), plus kube-apiserver.
# coredns:  CoreDNS built with `go install` at a pinned version; it runs on the host.
# pause:    the sandbox ("pause") image, built from k8s.io/kubernetes' build/pause/linux/pause.c.
# base:     a Debian bookworm root file system made by debootstrap (python3, venv, CA certificates),
#           cached as a tarball and imported into podman under the name the Dockerfile's FROM uses.
# images:   the project's image from the unchanged Dockerfile, and the test-only substitutes for
#           the redis and apache/kafka images (tests/cluster/images), saved as archives that
#           cluster.sh imports into containerd under the names the chart's defaults use.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
TOOLS="$ROOT/.tools"
CACHE="${LIVECHAT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/livechat}/cluster"
# shellcheck source=versions.sh
. "$ROOT/.ci/cluster/versions.sh"
PACKAGES=(containerd runc podman buildah debootstrap containernetworking-plugins iptables conntrack)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
log() { echo "cluster-install: $*"; }

install_packages() {
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
}

kube_version() { awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2}' "$ROOT/.ci/cluster/go.mod"; }

install_kube() {
  "$ROOT/.ci/install-tools.sh" apiserver helm
  local version want=() b
  version="$(kube_version)"
  for b in kubelet kube-controller-manager kube-scheduler kube-proxy kubectl; do
    if [ -x "$TOOLS/bin/$b" ] && [ "$(cat "$TOOLS/bin/.$b.version" 2>/dev/null)" = "$version" ]; then
      continue
    fi
    want+=("$b")
  done
  [ ${#want[@]} -eq 0 ] && return 0
  log "go build ${want[*]} $version into .tools/bin (long when cold, once)"
  mkdir -p "$TOOLS/bin"
  local minor pkgs=()
  minor="$(echo "$version" | cut -d. -f2)"
  for b in "${want[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
  # One `go build` for all of them: the shared packages compile once.
  (cd "$ROOT/.ci/cluster" && CGO_ENABLED=0 go build -trimpath -o "$TOOLS/bin/" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$version \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor \
      -X k8s.io/client-go/pkg/version.gitVersion=$version \
      -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor" \
    "${pkgs[@]}")
  for b in "${want[@]}"; do echo "$version" >"$TOOLS/bin/.$b.version"; done
}

install_coredns() {
  if [ -x "$TOOLS/bin/coredns" ] && [ "$(cat "$TOOLS/bin/.coredns.version" 2>/dev/null)" = "$COREDNS_VERSION" ]; then
    return 0
  fi
  log "go install coredns $COREDNS_VERSION into .tools/bin (a few minutes, once)"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/bin" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
    "github.com/coredns/coredns@$COREDNS_VERSION"
  echo "$COREDNS_VERSION" >"$TOOLS/bin/.coredns.version"
}

# The sandbox image, built from the Kubernetes sources of the pinned release: registry.k8s.io
# cannot be reached, and the kubelet only needs a process that sleeps and reaps zombies.
install_pause() {
  local archive="$CACHE/pause-$PAUSE_VERSION.tar"
  [ -f "$archive" ] && return 0
  install_packages
  log "building $PAUSE_IMAGE from k8s.io/kubernetes build/pause"
  local dir src work
  dir="$(cd "$ROOT/.ci/cluster" && go mod download -json "k8s.io/kubernetes@$(kube_version)" |
    sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  src="$dir/build/pause/linux/pause.c"
  work="$(mktemp -d)"
  gcc -Os -static -Wall -Werror -DVERSION="v$PAUSE_VERSION-livechat" -o "$work/pause" "$src"
  strip "$work/pause"
  local ctr
  ctr="$(buildah from scratch)"
  buildah copy "$ctr" "$work/pause" /pause >/dev/null
  buildah config --entrypoint '["/pause"]' --user 65535:65535 "$ctr"
  buildah commit -q "$ctr" "$PAUSE_IMAGE" >/dev/null
  buildah rm "$ctr" >/dev/null
  mkdir -p "$CACHE"
  rm -f "$archive.tmp"
  podman save -q --format docker-archive -o "$archive.tmp" "$PAUSE_IMAGE"
  mv "$archive.tmp" "$archive"
  rm -rf "$work"
}

# Debian's own mirror, as apt on this machine is configured (never named in a file).
debian_mirror() {
  local uri
  uri="$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)"
  [ -n "$uri" ] || uri="$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
  echo "${uri:?no Debian mirror found in apt sources}"
}

# The base the Dockerfile's FROM names, made without a registry: Debian bookworm (Python 3.11.2,
# Debian's) by debootstrap, with what the Dockerfile expects of the python image (python on PATH,
# venv, CA certificates). Cached as a tarball; imported into podman when podman lacks it.
install_base() {
  install_packages
  local tarball="$CACHE/base-bookworm-$BASE_REVISION.tar"
  if [ ! -f "$tarball" ]; then
    log "debootstrap bookworm into a cached tarball (a few minutes, once)"
    local dir="$CACHE/base-rootfs"
    as_root rm -rf "$dir"
    mkdir -p "$CACHE"
    as_root debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,tini \
      bookworm "$dir" "$(debian_mirror)" >"$CACHE/debootstrap.log" 2>&1 ||
      { tail -n 20 "$CACHE/debootstrap.log" >&2; return 1; }
    # The python image has `python`; Debian calls it python3.
    as_root ln -sf python3 "$dir/usr/bin/python"
    as_root rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
    as_root tar -C "$dir" --numeric-owner -cf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    as_root rm -rf "$dir"
  fi
  if ! podman image exists "$BASE_IMAGE"; then
    podman import -q --change 'CMD ["python3"]' --change 'ENV LANG=C.UTF-8' \
      "$tarball" "$BASE_IMAGE" >/dev/null
  fi
}

# Build an image with podman without any registry: `--pull=never`, host network for pip/apt, and
# the machine's CA bundle and pip configuration (when it has them) mounted read-only, so the
# build's pip and apt reach the same package indexes as the machine's.
podman_build() { # name containerfile context [args...]
  local name="$1" file="$2" context="$3" mounts=() f
  shift 3
  for f in /etc/ssl/certs/ca-certificates.crt /etc/pip.conf; do
    [ -f "$f" ] && mounts+=(-v "$f:$f:ro")
  done
  podman build --pull=never --network=host --ulimit nofile=20000:20000 "${mounts[@]}" \
    "$@" -t "$name" -f "$file" "$context" >"$CACHE/build-$(basename "$name" | tr ':/' '__').log" 2>&1 ||
    { tail -n 30 "$CACHE/build-$(basename "$name" | tr ':/' '__').log" >&2; return 1; }
}

save_image() { # name archive
  rm -f "$2.tmp"
  podman save -q --format docker-archive -o "$2.tmp" "$1"
  mv "$2.tmp" "$2"
}

# The project's image from the unchanged Dockerfile. Its archive is rebuilt when the files the
# build context takes (.dockerignore) change.
install_images() {
  install_base
  install_pause
  mkdir -p "$CACHE"
  local sum
  sum="$(cd "$ROOT" && { cat Dockerfile .dockerignore pyproject.toml README.md; find app ingest -name '*.py' -o -name '*.html' -o -name '*.js' -o -name '*.css' | sort | xargs cat; } | sha256sum | cut -c1-16)"
  if [ "$(cat "$CACHE/livechat.sum" 2>/dev/null)" != "$sum" ] || [ ! -f "$CACHE/livechat.tar" ]; then
    log "podman build $LIVECHAT_IMAGE from the Dockerfile"
    podman_build "$LIVECHAT_IMAGE" "$ROOT/Dockerfile" "$ROOT"
    save_image "$LIVECHAT_IMAGE" "$CACHE/livechat.tar"
    echo "$sum" >"$CACHE/livechat.sum"
  fi
  local sub
  for sub in redis kafka; do
    local dir="$ROOT/tests/cluster/images/$sub" image
    image="$(sub_image "$sub")"
    sum="$(cat "$dir"/* "$ROOT/.ci/cluster/versions.sh" "$ROOT/.ci/kafka/pom.xml" | sha256sum | cut -c1-16)"
    if [ "$(cat "$CACHE/$sub.sum" 2>/dev/null)" = "$sum" ] && [ -f "$CACHE/$sub.tar" ]; then
      continue
    fi
    log "podman build the test substitute for $image"
    if [ "$sub" = kafka ]; then
      "$ROOT/.ci/install-tools.sh" kafka
      local ctx; ctx="$(mktemp -d)"
      cp "$dir"/* "$ctx/" && cp -r "$TOOLS/kafka/libs" "$ctx/libs"
      podman_build "$image" "$ctx/Containerfile" "$ctx" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --build-arg "DEBIAN_MIRROR=$(debian_mirror)"
      rm -rf "$ctx"
    else
      podman_build "$image" "$dir/Containerfile" "$dir" --build-arg "BASE_IMAGE=$BASE_IMAGE" \
        --build-arg "DEBIAN_MIRROR=$(debian_mirror)"
    fi
    save_image "$image" "$CACHE/$sub.tar"
    echo "$sum" >"$CACHE/$sub.sum"
  done
}

targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=(packages kube coredns pause base images)
for t in "${targets[@]}"; do "install_$t"; done
