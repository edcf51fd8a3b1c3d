# Lanyard: two commands on a fresh machine.
#   make demo   server + agent + two workloads doing mTLS and a JWT round trip
#   make test   every test (installs what it needs under .cache/)
GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

.PHONY: all build demo test k8s-deps vet bench clean

all: build

build:
	$(GO) build -o bin/ ./cmd/lanyard-server ./cmd/lanyard-agent ./e2e/workload

demo:
	./e2e/demo.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

# The Kubernetes tests need etcd and kube-apiserver: install.sh puts them in .cache/
# (built once, reused after), and LANYARD_REQUIRE_K8S makes a missing binary a failure
# instead of a silent skip.
test: vet k8s-deps
	LANYARD_REQUIRE_K8S=1 $(GO) test -race -count=1 -timeout 30m ./...

k8s-deps:
	./e2e/k8s/install.sh

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin .cache
