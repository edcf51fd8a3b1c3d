#!/usr/bin/env bash
# Installs what the Kubernetes tests need, without Docker: etcd from Debian and a
# kube-apiserver built from the Go module proxy. Both end up in
# $LANYARD_CACHE/k8s/bin (default <repo>/.cache/k8s/bin, git-ignored). Safe to re-run:
# anything already in place at the right version is kept.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.37.2}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
LANYARD_CACHE=${LANYARD_CACHE:-$REPO/.cache}
BIN=$LANYARD_CACHE/k8s/bin
SCRATCH=$LANYARD_CACHE/k8s/build-$K8S_VERSION

say() { printf '[k8s-install] %s\n' "$*"; }
die() { printf '[k8s-install] error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$BIN"

# Concurrent runs (two worktrees sharing one cache, parallel CI jobs) wait for each
# other instead of building twice into the same files.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$LANYARD_CACHE/k8s/.install.lock"
  flock 9 || die "could not lock $LANYARD_CACHE/k8s/.install.lock"
fi

install_etcd() {
  if [ -x "$BIN/etcd" ] && "$BIN/etcd" --version >/dev/null 2>&1; then
    say "etcd present: $("$BIN/etcd" --version | head -1)"
    return
  fi
  if ! command -v etcd >/dev/null 2>&1 && [ ! -x /usr/bin/etcd ]; then
    command -v apt-get >/dev/null 2>&1 || die "etcd missing and apt-get unavailable: put an etcd binary at $BIN/etcd"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    say "installing etcd-server from Debian"
    # Only refresh the package lists when apt does not know the package yet.
    if ! apt-cache policy etcd-server 2>/dev/null | grep -q 'Candidate: [0-9]'; then
      say "apt-get update"
      $sudo apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends etcd-server >/dev/null
  fi
  local src
  src=$(command -v etcd || echo /usr/bin/etcd)
  # A symlink keeps the Debian binary authoritative (upgrades apply) while tests find it here.
  ln -sf "$src" "$BIN/etcd"
  say "etcd ready: $("$BIN/etcd" --version | head -1)"
}

apiserver_ok() {
  [ -x "$BIN/kube-apiserver" ] && "$BIN/kube-apiserver" --version 2>/dev/null | grep -qx "Kubernetes $K8S_VERSION"
}

install_apiserver() {
  if apiserver_ok; then
    say "kube-apiserver present: $("$BIN/kube-apiserver" --version)"
    return
  fi
  command -v go >/dev/null 2>&1 || die "go is required to build kube-apiserver"
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
  say "building kube-apiserver $K8S_VERSION (cold: 8-13 min, ~2.3 GB RAM)"
  local start=$SECONDS
  go build -trimpath -o "$BIN/kube-apiserver.tmp" \
    -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    k8s.io/kubernetes/cmd/kube-apiserver
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
  apiserver_ok || die "built kube-apiserver does not report $K8S_VERSION"
  say "kube-apiserver built in $((SECONDS - start)) s: $("$BIN/kube-apiserver" --version)"
}

install_etcd
install_apiserver
say "binaries in $BIN"
