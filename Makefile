# Lanyard: two commands on a fresh machine.
#   make demo   server + agent + two workloads doing mTLS and a JWT round trip
#   make test   every test (installs what it needs under .cache/)
GO ?= go
export GOTOOLCHAIN := local
export GOFLAGS := -buildvcs=false

.PHONY: all build demo test k8s-deps vet bench bench-scale microbench fuzz clean images

all: build

build:
	$(GO) build -o bin/ ./cmd/lanyard-server ./cmd/lanyard-agent ./e2e/workload
	$(GO) build -o bin/lanyard-bench ./e2e/bench

demo:
	./e2e/demo.sh

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

# The Kubernetes tests need etcd, kube-apiserver and, for the real node, kubelet,
# kube-controller-manager, kube-scheduler, containerd and runc: install.sh puts them in
# .cache/ (built once, reused after), as e2e/helm/install.sh does helm for the chart's
# tests; LANYARD_REQUIRE_K8S makes a missing piece a failure instead of a silent skip.
#
# Tests that wait on a real component's own schedule (the kubelet renews a pod certificate
# 10-17 minutes after issue; its clock cannot be injected) run only when this is set.
test: export LANYARD_LONG_TESTS := 1
test: vet k8s-deps
	LANYARD_REQUIRE_K8S=1 $(GO) test -race -count=1 -timeout 30m ./...

k8s-deps:
	./e2e/k8s/install.sh
	./e2e/helm/install.sh

# Container images as OCI tarballs in bin/images/ (no Docker needed); IMAGE_TAG names them.
IMAGE_TAG ?= latest
images:
	$(GO) run ./e2e/images/mkimages -out bin/images -tag $(IMAGE_TAG)

# PostgreSQL for the datastore and multi-server tests; with LANYARD_REQUIRE_PG=1 they fail
# instead of skipping when it is missing.
.PHONY: pg-install
test: export LANYARD_REQUIRE_PG := 1
test: pg-install
pg-install:
	./e2e/pg/install.sh

# SPIRE's own server CLI and agent, built from the Go module proxy into .cache/spire (kept
# out of go.mod), so the tests prove SPIRE's tools work against Lanyard unchanged.
.PHONY: spire-install
test: export LANYARD_REQUIRE_SPIRE := 1
test: spire-install
spire-install:
	./e2e/spire/install.sh

# A software TPM (swtpm) and tpm2-tools from Debian for the tpm_devid tests; each test
# starts its own swtpm. With LANYARD_REQUIRE_TPM=1 they fail instead of skipping.
.PHONY: tpm-install
test: export LANYARD_REQUIRE_TPM := 1
test: tpm-install
tpm-install:
	./e2e/tpm/install.sh

# SoftHSM2 for the PKCS#11 key manager tests (server/keymanager/pkcs11); with
# LANYARD_REQUIRE_SOFTHSM=1 they fail instead of skipping when it is missing.
.PHONY: softhsm-install
test: export LANYARD_REQUIRE_SOFTHSM := 1
test: softhsm-install
softhsm-install:
	./e2e/softhsm/install.sh

# The system benchmark: fresh server + agent processes, results table in e2e/bench/results/.
bench: build
	bin/lanyard-bench -bin bin -out e2e/bench/results $(BENCHFLAGS)

# The scale benchmark: N = 100, 1,000, 10,000 simulated agents against one server on SQLite
# (3 runs) and against two servers sharing a throwaway PostgreSQL cluster (2 runs: -pg-runs 2
# keeps the whole at about 20 min on a quiet 2-core machine, where a SQLite run with the big
# agent takes about 4-5 min and a PostgreSQL run about 3-3.5), and one agent with 100,000
# entries (3 runs); table and charts in e2e/bench/results/scale.*. BENCHFLAGS override, e.g.
# "-sizes 100,1000 -runs 1 -pg-runs 1 -big 10000" (about 2 min), "-datastores sqlite" (no PostgreSQL).
bench-scale: build pg-install
	bin/lanyard-bench scale -bin bin -out e2e/bench/results -pg-runs 2 $(BENCHFLAGS)

# Go micro-benchmarks of the hot paths.
microbench:
	$(GO) test -run '^$$' -bench . -benchmem ./agent/... ./server/... ./attestors/...

# Every fuzz target in turn, FUZZTIME each (go test fuzzes one target per run); `make test`
# already runs their seed corpora. New inputs are minimized for at most 5s (the default 60s
# can eat a short run); FUZZFLAGS passes more, e.g. FUZZFLAGS=-parallel=1.
FUZZTIME ?= 60s
fuzz:
	@git ls-files '*_test.go' | xargs grep -o '^func Fuzz[A-Za-z0-9_]*' | sed 's|/[^/]*:func | |' | \
	while read dir target; do \
		echo "== $$target (./$$dir)"; \
		$(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 5s $(FUZZFLAGS) ./$$dir || exit 1; \
	done

clean:
	rm -rf bin .cache
