# Outpost — see README.md. Two commands matter: `make run` and `make test`.
GO ?= go
PKGS := ./...
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
ARCHES ?= amd64 arm64

.PHONY: all build dist image image-context tools test test-short vet fuzz-smoke run clean

all: build

# Static (CGO_ENABLED=0), version-stamped binaries of every command in
# BIN (bin/), for GOOS/GOARCH (default: this machine). `outpost version`
# prints the stamp.
BIN ?= bin
CMDS ?= ./cmd/...
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ $(CMDS)

# outpost and outpost-controlplane the same way for linux/ARCH of each of
# ARCHES, in bin/linux-ARCH/ (the container image's input).
dist:
	@for arch in $(ARCHES); do \
	  echo "building linux/$$arch"; \
	  GOOS=linux GOARCH=$$arch $(MAKE) --no-print-directory build BIN=bin/linux-$$arch \
	    CMDS="./cmd/outpost ./cmd/outpost-controlplane" || exit 1; \
	done

# The container image for linux/amd64 and linux/arm64 (Dockerfile, target
# runtime), from the static binaries of `make dist`, with podman (installed
# when missing); no base image is pulled. Docker format, so that the
# HEALTHCHECK is kept (OCI images have none). Tags: $(IMAGE):$(VERSION)-ARCH.
IMAGE ?= localhost/outpost
image: tools image-context
	@for arch in $(ARCHES); do \
	  podman build --isolation=chroot --pull=never --format docker --platform linux/$$arch --target runtime \
	    -t $(IMAGE):$(VERSION)-$$arch . || exit 1; \
	done

# What the runtime target copies besides the binaries: a CA bundle (for an
# https control plane) and the empty data directory.
image-context: dist
	mkdir -p bin/image/data
	cp /etc/ssl/certs/ca-certificates.crt bin/image/ca-certificates.crt

# Tools the tests need that Go does not bring: promtool (Debian package
# prometheus; docs/alerts.yml is tested with it) and podman (the image
# test). Installed with apt-get when missing.
tools:
	@missing=""; \
	  command -v promtool >/dev/null || missing="$$missing prometheus"; \
	  command -v podman >/dev/null || missing="$$missing podman"; \
	  if [ -n "$$missing" ]; then \
	    echo "installing$$missing"; \
	    SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	    $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	  fi

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every test, the race detector on the packages with concurrency, and a short
# fuzz smoke run of each fuzz target.
# TestHardeningConcurrencyLimit holds 3,072 connections open; it skips when
# the open-file limit is lower, so the test runs raise it (Go lifts the soft
# limit to the hard one by itself; raising the hard one needs root).
NOFILE := ulimit -n 8192 2>/dev/null || true;

test: vet tools postgres
	$(NOFILE) $(GO) test -count=1 $(PKGS)
	$(GO) test -count=1 -race ./replica/... ./query/... ./ingest/... ./testenv/chaos/...
	$(NOFILE) $(GO) test -count=1 -race -short ./snapshotter/... ./cmd/outpost/
	$(MAKE) fuzz-smoke
	$(MAKE) sdk-test
	$(MAKE) bench-smoke

# PostgreSQL server binaries for the local-authorization tests
# (testenv/pgtest starts and stops the server itself). Installs Debian's
# postgresql package when no server binary is found; needs root and apt.
PG_BIN_GLOB := /usr/lib/postgresql/*/bin/postgres
.PHONY: postgres
postgres:
	@if ls $(PG_BIN_GLOB) >/dev/null 2>&1 || [ -n "$$OUTPOST_PG_BIN" ] || command -v postgres >/dev/null 2>&1; then \
	  echo "postgres: server binaries present"; \
	else \
	  echo "postgres: installing Debian's postgresql package"; \
	  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; \
	fi

test-short:
	$(GO) test -short -count=1 $(PKGS)

FUZZTIME ?= 10s
fuzz-smoke:
	$(GO) test -run='^$$' -fuzz='^FuzzParsePrintParse$$' -fuzztime=$(FUZZTIME) ./query/polar
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeEvent$$' -fuzztime=$(FUZZTIME) ./replica
	$(GO) test -run='^$$' -fuzz='^FuzzRead$$' -fuzztime=$(FUZZTIME) ./snapshotter
	$(GO) test -run='^$$' -fuzz='^FuzzStrictParser$$' -fuzztime=$(FUZZTIME) ./query/httpapi

# The demo: a control plane with an embedded NATS broker and sample data,
# and one Outpost node following it (scripts/demo.sh says what it prints).
run:
	./scripts/demo.sh

clean:
	rm -rf bin

# Oso's Node SDK (oso-cloud, pinned in testenv/sdkcompat/package-lock.json)
# against a control plane, chaos proxies and Outpost nodes that the suite
# starts itself. npm ci runs only when node_modules is missing or older
# than the lock file.
SDKCOMPAT := testenv/sdkcompat
.PHONY: sdk-test
sdk-test: postgres $(SDKCOMPAT)/node_modules/.package-lock.json
	cd $(SDKCOMPAT) && GO=$(GO) node run.js

$(SDKCOMPAT)/node_modules/.package-lock.json: $(SDKCOMPAT)/package.json $(SDKCOMPAT)/package-lock.json
	npm ci --prefix $(SDKCOMPAT) --no-audit --no-fund
	@touch $@

# Benchmarks against DESIGN.md §10 (cmd/outpost-bench; docs/performance.md).
# `make bench` measures every scenario at 100k and 1M facts (a few minutes)
# and writes bin/bench-results.{md,json}; for 10M facts:
#   make bench BENCH_FACTS=10000000
# `make bench-smoke` runs every scenario at 100k facts briefly (about 25 s);
# it fails only on errors, never on a missed target.
BENCH_FACTS ?= 100000,1000000
BENCH_FLAGS ?=
.PHONY: bench bench-smoke
bench:
	$(GO) build -o bin/ ./cmd/outpost-bench
	bin/outpost-bench -facts $(BENCH_FACTS) -out bin/bench-results.json -md bin/bench-results.md $(BENCH_FLAGS)
	@echo "written: bin/bench-results.md, bin/bench-results.json (10M facts: make bench BENCH_FACTS=10000000)"

bench-smoke:
	$(GO) build -o bin/ ./cmd/outpost-bench
	bin/outpost-bench -facts 100000 -duration 1s -warmup 250ms -iterations 5000 -lag-writes 50 -timeout 3m -pinned-rounds 1 \
	  -out bin/bench-smoke.json -md bin/bench-smoke.md >/dev/null

# The soak test (testenv/soak; docs/reliability.md), not part of `make test`:
# a control plane with embedded NATS, two nodes, mixed checks at half of the
# measured capacity, continuous writes, checkpoints every 30 s, one node
# restart halfway, a row of figures every 30 s and a digest comparison at
# the end. 10 minutes by default; shorter: make soak SOAK_DURATION=2m
SOAK_DURATION ?= 10m
SOAK_FLAGS ?=
.PHONY: soak
soak:
	$(GO) build -o bin/ ./cmd/outpost ./cmd/outpost-controlplane ./cmd/outpost-soak
	bin/outpost-soak -bin bin -duration $(SOAK_DURATION) -md bin/soak-results.md $(SOAK_FLAGS)
