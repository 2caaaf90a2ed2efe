# Outpost — see README.md. Two commands matter: `make run` and `make test`.
GO ?= go
PKGS := ./...

.PHONY: all build test test-short vet fuzz-smoke run clean

all: build

build:
	$(GO) build -o bin/ ./cmd/...

vet:
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Every test, the race detector on the packages with concurrency, and a short
# fuzz smoke run of each fuzz target.
test: vet
	$(GO) test -count=1 $(PKGS)
	$(GO) test -count=1 -race ./replica/...
	$(MAKE) fuzz-smoke

test-short:
	$(GO) test -short -count=1 $(PKGS)

FUZZTIME ?= 10s
fuzz-smoke:
	$(GO) test -run='^$$' -fuzz='^FuzzParsePrintParse$$' -fuzztime=$(FUZZTIME) ./query/polar
	$(GO) test -run='^$$' -fuzz='^FuzzDecodeEvent$$' -fuzztime=$(FUZZTIME) ./replica
	$(GO) test -run='^$$' -fuzz='^FuzzRead$$' -fuzztime=$(FUZZTIME) ./snapshotter

# The demo: a control plane with an embedded NATS broker and sample data,
# and one Outpost node following it (scripts/demo.sh says what it prints).
run:
	./scripts/demo.sh

clean:
	rm -rf bin
