#!/bin/sh
# Regenerates the Go code of Lanyard's own protos. The generated files are committed, so
# building needs neither protoc nor this script; run it only after editing a .proto.
#
# Needs: protoc (apt-get install -y protobuf-compiler),
#        go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#        go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
set -eu

cd "$(dirname "$0")"
GOBIN="$(go env GOPATH)/bin"
PATH="$GOBIN:$PATH"
# spire-api-sdk's type protos are imported from the module cache at the version go.mod pins.
SDK="$(go list -m -f '{{.Dir}}' github.com/spiffe/spire-api-sdk)/proto"
if [ ! -d "$SDK/spire/api/types" ]; then
	echo "gen.sh: spire-api-sdk protos not found at $SDK; run 'go mod download github.com/spiffe/spire-api-sdk'" >&2
	exit 1
fi

# paths=source_relative puts the .pb.go next to the .proto; the go_package options inside
# spire-api-sdk's protos map their imports to github.com/spiffe/spire-api-sdk/proto/spire/api/types.
protoc -I . -I "$SDK" \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	lanyard/agent/v1/sync.proto
