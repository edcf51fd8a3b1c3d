#!/usr/bin/env bash
# Installs what the Kubernetes tests need, without Docker: etcd, containerd and runc from
# Debian, and kube-apiserver, kubelet, kube-controller-manager and kube-scheduler built
# from the Go module proxy (one scratch module and one `go build`, so they share
# compilation). Everything ends up in $LANYARD_CACHE/k8s/bin (default
# <repo>/.cache/k8s/bin, git-ignored). Safe to re-run: anything already in place at the
# right version is kept.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
NAME=k8s-install
. "$(dirname "$0")/../lib/install.sh"
BIN=$LANYARD_CACHE/k8s/bin
SCRATCH=$LANYARD_CACHE/k8s/build-$K8S_VERSION
# The components built from source; each must report $K8S_VERSION.
COMPONENTS="kube-apiserver kubelet kube-controller-manager kube-scheduler"

mkdir -p "$BIN"
lock "$LANYARD_CACHE/k8s"

install_etcd() {
  if [ -x "$BIN/etcd" ] && "$BIN/etcd" --version >/dev/null 2>&1; then
    say "etcd present: $("$BIN/etcd" --version | head -1)"
    return
  fi
  if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    apt_install etcd-server
  fi
  local src
  src=$(command -v etcd || echo /usr/bin/etcd)
  # A symlink keeps the Debian binary authoritative (upgrades apply) while tests find it here.
  ln -sf "$src" "$BIN/etcd"
  say "etcd ready: $("$BIN/etcd" --version | head -1)"
}

# containerd (with its ctr client) and runc run the kubelet's containers. The tests start
# their own containerd (own root, state and socket under a temp dir), so the package's
# service is neither needed nor used.
install_runtime() {
  local c missing=""
  for c in containerd ctr runc; do
    command -v "$c" >/dev/null 2>&1 || missing=1
  done
  [ -z "$missing" ] || apt_install containerd runc
  for c in containerd ctr runc; do
    command -v "$c" >/dev/null 2>&1 || die "$c still missing after installing containerd and runc"
    ln -sf "$(command -v "$c")" "$BIN/$c"
  done
  say "containerd ready: $("$BIN/containerd" --version); $("$BIN/runc" --version | head -1)"
}

component_ok() {
  [ -x "$BIN/$1" ] && "$BIN/$1" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION"
}

install_components() {
  local missing="" c
  for c in $COMPONENTS; do
    if component_ok "$c"; then
      say "$c present: $("$BIN/$c" --version)"
    else
      missing="$missing $c"
    fi
  done
  [ -n "$missing" ] || return 0
  command -v go >/dev/null 2>&1 || die "go is required to build$missing"
  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
  local staging=${K8S_VERSION/#v1./v0.}
  local minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  mkdir -p "$SCRATCH"
  cd "$SCRATCH"
  say "preparing scratch module in $SCRATCH"
  cat > go.mod <<EOF
module lanyard.local/kube-apiserver-build

go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')

require k8s.io/kubernetes $K8S_VERSION
EOF
  say "fetching k8s.io/kubernetes $K8S_VERSION go.mod"
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
  [ -f "$gomod" ] || die "could not locate go.mod of k8s.io/kubernetes@$K8S_VERSION in the module cache"
  # k8s.io/kubernetes points its staging modules at ./staging/src; outside its repo
  # they must come from the proxy at the matching v0.x version instead.
  local replaces
  replaces=$(sed -n -E 's#^[[:space:]]*(replace[[:space:]]+)?(k8s\.io/[A-Za-z0-9._/-]+)[[:space:]]+=>[[:space:]]+\./staging/src/k8s\.io/.*#\2#p' "$gomod" \
    | grep -v -e '^k8s.io/sample-cli-plugin$' -e '^k8s.io/sample-controller$' | sort -u)
  [ -n "$replaces" ] || die "no staging replaces found in $gomod"
  say "replacing $(echo "$replaces" | wc -l) staging modules with $staging"
  {
    echo
    echo "replace ("
    for m in $replaces; do echo "	$m => $m $staging"; done
    echo ")"
  } >> go.mod
  local pkgs="" out=$SCRATCH/out
  for c in $missing; do pkgs="$pkgs k8s.io/kubernetes/cmd/$c"; done
  say "building$missing $K8S_VERSION (cold: kube-apiserver alone 8-13 min and ~2.3 GB RAM; each other component a few minutes more)"
  local start=$SECONDS
  rm -rf "$out" && mkdir -p "$out"
  # One build for all: the components share most of their packages.
  # shellcheck disable=SC2086 # $pkgs is a list of package paths
  go build -trimpath -o "$out/" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    $pkgs
  for c in $missing; do
    mv "$out/$c" "$BIN/$c"
    component_ok "$c" || die "built $c does not report $K8S_VERSION"
  done
  say "built$missing in $((SECONDS - start)) s"
}

install_etcd
install_runtime
install_components
say "binaries in $BIN"
