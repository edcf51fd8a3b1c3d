# Lanyard: two commands on a fresh machine.
#   make demo   server + agent + two workloads doing mTLS and a JWT round trip
#   make test   every test (installs what it needs under .cache/)
GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

.PHONY: all build demo test vet bench clean

all: build

build:
	$(GO) build -o bin/ ./cmd/lanyard-server ./cmd/lanyard-agent ./e2e/workload

demo:
	./e2e/demo.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

test: vet
	$(GO) test -race -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin .cache
