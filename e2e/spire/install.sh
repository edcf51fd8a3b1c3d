#!/usr/bin/env bash
# Builds SPIRE's own server and agent binaries from the Go module proxy, so the test suite
# can drive SPIRE's CLI and agent against Lanyard unchanged. They land in
# $LANYARD_CACHE/spire/bin (default <repo>/.cache/spire/bin, git-ignored) and are built in a
# scratch module there: SPIRE never enters Lanyard's go.mod. Safe to re-run: binaries
# already built at the right version are kept.
set -euo pipefail

SPIRE_VERSION=${SPIRE_VERSION:-v1.13.3}
NAME=spire-install
. "$(dirname "$0")/../lib/install.sh"
BIN=$LANYARD_CACHE/spire/bin
SCRATCH=$LANYARD_CACHE/spire/build-$SPIRE_VERSION

mkdir -p "$BIN"
lock "$LANYARD_CACHE/spire"

built() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/.version-$1" 2>/dev/null)" = "$SPIRE_VERSION" ]; }

if built spire-server && built spire-agent; then
  say "spire-server and spire-agent $SPIRE_VERSION present"
  exit 0
fi
command -v go >/dev/null 2>&1 || die "go is required to build SPIRE"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false"
mkdir -p "$SCRATCH"
cd "$SCRATCH"
cat > go.mod <<GOMOD
module lanyard.local/spire-build

go $(go env GOVERSION | sed -E 's/^go([0-9]+\.[0-9]+).*/\1/')
GOMOD
say "resolving github.com/spiffe/spire $SPIRE_VERSION"
go get "github.com/spiffe/spire@$SPIRE_VERSION" >/dev/null
start=$SECONDS
for cmd in spire-server spire-agent; do
  if built "$cmd"; then continue; fi
  say "building $cmd $SPIRE_VERSION (cold: several minutes)"
  go build -trimpath -ldflags "-s -w" -o "$BIN/$cmd.tmp" "github.com/spiffe/spire/cmd/$cmd"
  mv "$BIN/$cmd.tmp" "$BIN/$cmd"
  echo "$SPIRE_VERSION" > "$BIN/.version-$cmd"
done
say "built in $((SECONDS - start)) s; binaries in $BIN"
