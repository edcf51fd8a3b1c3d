#!/usr/bin/env bash
# Builds the helm CLI from the Go module proxy, so the tests can render and install
# deploy/helm/lanyard without a downloaded binary. It lands in $LANYARD_CACHE/helm/bin
# (default <repo>/.cache/helm/bin, git-ignored), built in a scratch module there: Helm
# never enters Lanyard's go.mod. Safe to re-run: a binary at the right version is kept.
set -euo pipefail

HELM_VERSION=${HELM_VERSION:-v3.22.0}
NAME=helm-install
. "$(dirname "$0")/../lib/install.sh"
BIN=$LANYARD_CACHE/helm/bin
SCRATCH=$LANYARD_CACHE/helm/build-$HELM_VERSION

mkdir -p "$BIN"
lock "$LANYARD_CACHE/helm"

if [ -x "$BIN/helm" ] && [ "$(cat "$BIN/.version-helm" 2>/dev/null)" = "$HELM_VERSION" ]; then
  say "helm $HELM_VERSION present"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "go is required to build helm"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
mkdir -p "$SCRATCH"
cd "$SCRATCH"
cat > go.mod <<GOMOD
module lanyard.local/helm-build

go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
GOMOD
say "resolving helm.sh/helm/v3 $HELM_VERSION"
go get "helm.sh/helm/v3@$HELM_VERSION" >/dev/null
start=$SECONDS
say "building helm $HELM_VERSION (cold: a few minutes)"
go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm
mv "$BIN/helm.tmp" "$BIN/helm"
echo "$HELM_VERSION" > "$BIN/.version-helm"
say "built in $((SECONDS - start)) s: $("$BIN/helm" version --short)"
