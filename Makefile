# carousel: `make demo` renders every phase of the bundled example,
# `make test` runs the whole suite with the real tools (installed here, pinned).
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

export GOTOOLCHAIN := local
# Every build here (carousel, the test binaries, vet's compiles, the tool
# builds of hack/tools.sh, the release's) compiles without DWARF and links
# without it: about 15% of a cold compile, and a cold `make test` is
# mostly compiling. Stack traces do not need it; the same flags everywhere
# keep the build cache shared between them.
export GOFLAGS := -gcflags=all=-dwarf=false -ldflags=-w
BIN := $(CURDIR)/bin
# The examples' function configs run `carousel` from PATH, as every
# pipeline does (CI, Argo CD's repo-server): bin/ comes first here.
export PATH := $(BIN):$(PATH)
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Every release artifact carries the commit's time (SOURCE_DATE_EPOCH).
EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 1)
GO_SOURCES := $(shell find fn cmd pkg internal -name '*.go' -not -name '*_test.go') go.mod go.sum $(shell find pkg -name '*.yaml')

# Real tools the tests drive, built from source at pinned versions into a
# cache outside the repository (hack/tools.sh; CAROUSEL_TOOLS_CACHE moves it)
# and linked into bin/.
TEST_TOOLS := kustomize sops age mermaid-parser etcd kube kwok actionlint argocd-crds argo-rollouts-crds kruise-crds kpt istio-cacerts osm-tresor trust-manager cert-manager-runner flux-health argocd-health kubeadm-ca promtool
TESTFLAGS ?=

.PHONY: build tools demo test vet bench fmt clean flux-render fuzz goldens release

build: $(BIN)/carousel

$(BIN)/carousel: $(GO_SOURCES)
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/carousel-dev/carousel/fn.version=$(VERSION) -X github.com/carousel-dev/carousel/fn.commit=$(COMMIT)" -o $@ ./cmd/carousel

tools:
	hack/tools.sh install $(TEST_TOOLS)

demo: build
	hack/tools.sh install kustomize
	go run ./hack/demo -kustomize $(BIN)/kustomize -carousel $(BIN)/carousel examples/cluster-ca

# The systems' harness modules (hack/systems/*) are vetted with the flags
# their tool builds use (CGO off, -trimpath, no DWARF), so after `make tools` their
# dependencies come from the Go build cache: about 2.5 minutes from a cold
# machine's tool builds, seconds after that.
SYSTEMS := $(sort $(wildcard hack/systems/*))
vet:
	@bad=$$(gofmt -l fn cmd pkg internal hack examples); if [ -n "$$bad" ]; then echo "gofmt needed: $$bad"; exit 1; fi
	go vet ./...
	@for m in $(SYSTEMS) hack/release; do echo "go vet $$m"; (cd $$m && CGO_ENABLED=0 go vet -trimpath ./...) || exit 1; done

# A package's tests may take minutes on a loaded 2-core machine (the crash
# test kills commands at every file syscall): the default 10-minute limit
# would fail a slow run, not a wrong one.
# The release's test (hack/release: two release builds for four platforms,
# compared, and the image read back) and `make vet` (on a cold machine
# minutes of analysing every dependency of every module for facts) run
# beside the suite, one after the other: the suite's tests spend much of
# their time waiting on API servers and controllers, with a core idle.
test: build tools
	@($(MAKE) --no-print-directory vet > $(CURDIR)/bin/vet.log 2>&1; echo $$? > $(CURDIR)/bin/vet.rc; \
	  cd hack/release && go test -timeout 20m $(TESTFLAGS) ./... > $(CURDIR)/bin/release-test.log 2>&1; echo $$? > $(CURDIR)/bin/release-test.rc) & \
	suite=0; go test -timeout 40m $(TESTFLAGS) ./... || suite=$$?; wait; \
	echo "make vet"; cat bin/vet.log; echo "cd hack/release && go test"; cat bin/release-test.log; \
	vet=$$(cat bin/vet.rc); release=$$(cat bin/release-test.rc); rm -f bin/vet.log bin/vet.rc bin/release-test.log bin/release-test.rc; \
	[ "$$suite" = 0 ] && [ "$$vet" = 0 ] && [ "$$release" = 0 ]

# The release: static binaries named carousel for linux and darwin on amd64
# and arm64, SHA256SUMS, a CycloneDX SBOM and a multi-arch OCI image layout
# (dist/oci, and dist/carousel-oci.tar), with no Docker engine. Built twice
# from one commit, dist/ is byte-identical (hack/release's test builds twice
# and compares); the commit's time stands in for every clock.
release:
	cd hack/release && go run . -repo $(CURDIR) -out $(CURDIR)/dist -version $(VERSION) -commit $(COMMIT) -epoch $(EPOCH)

# Rewrites every golden file from the actual output: the function's render
# of each phase and step (fn/testdata/render), the plans and the pull-request
# body (fn/testdata/plan, fn/testdata/advance). GOLDEN_TESTS are the tests
# that call golden() in fn/golden_test.go (-update makes golden() write);
# review `git diff fn/testdata` before committing. A new example gets its
# render case on a first run and its expected phases on a second.
GOLDEN_TESTS := TestGoldenPhases|TestPlanGoldens|TestAdvanceMovesOneStepKeepsCommentsAndWritesThePullRequest
goldens: build
	go test ./fn -count=1 -run '^($(GOLDEN_TESTS))$$' -update

# Go fuzz targets: the function's whole input, the spec loader, its DNS names
# (issued through cfssl), the consumer and state loaders, the KeyPair parser,
# the in-place spec editor. Each runs for FUZZTIME; a crash is written under the package's
# testdata/fuzz/<target>/, where `go test` replays it from then on: commit it
# with the fix. FUZZPARALLEL bounds the workers (default: GOMAXPROCS). New
# inputs are minimized for at most FUZZMINIMIZE (Go's default, 60s, would
# spend a short run minimizing the large example inputs instead of fuzzing).
FUZZTIME ?= 30s
FUZZMINIMIZE ?= 5s
FUZZ_TARGETS := ./fn:FuzzFunction ./pkg/spec:FuzzLoad ./pkg/spec:FuzzLoadFleet ./pkg/spec:FuzzDNSName ./pkg/material:FuzzParse ./pkg/rotate:FuzzSpecEdit
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		echo "fuzz $${t#*:} ($${t%%:*}) for $(FUZZTIME)"; \
		go test $${t%%:*} -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) $(if $(FUZZPARALLEL),-parallel $(FUZZPARALLEL)) || exit 1; \
	done

bench: build
	hack/tools.sh install kustomize etcd kube
	hack/bench.sh

# Renders each Flux cluster's phase into examples/flux/rendered (the CI step
# of the Flux example; the tests fail when the committed output is stale).
flux-render: build
	hack/tools.sh install kustomize
	KUSTOMIZE=$(BIN)/kustomize examples/flux/render.sh

fmt:
	gofmt -w fn pkg internal hack examples

clean:
	rm -rf $(BIN)
