# stsrotator — every entry point a user or CI needs. See README.md.
SHELL := /bin/bash
GO ?= go
FUNCTIONS := $(notdir $(wildcard functions/*))
# Deploy builds target Lambda's arm64; tests build the same packages for
# the host (an arm64 binary cannot run on an x86 machine).
LAMBDA_ARCH ?= arm64
# Reproducible: no paths, no build ID, no VCS stamp, no cgo, stripped.
GOFLAGS_LAMBDA := -tags lambda.norpc -trimpath -buildvcs=false -ldflags='-s -w -buildid='
STATICCHECK_VERSION := v0.8.2

.PHONY: all build test test-short lint bench fuzz synth deploy local tools clean

all: lint test

## build: every function as dist/<fn>/bootstrap (linux/$(LAMBDA_ARCH), reproducible)
build: $(addprefix dist/,$(addsuffix /bootstrap,$(FUNCTIONS)))

dist/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(GOFLAGS_LAMBDA) -o $@ ./functions/$*

FORCE:

## test: the whole suite, race detector on (what CI runs)
test:
	$(GO) test -race -count=1 ./...

## lint: gofmt, go vet, staticcheck
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

## bench: the benchmarks behind docs/benchmarks.md
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./...

## fuzz: each fuzz target for FUZZTIME (CI runs them briefly)
FUZZTIME ?= 10s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' '^func Fuzz' .); do \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "fuzz ./$$(dirname $$f) $$fn ($(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$f); \
		done; \
	done

clean:
	rm -rf dist cdk.out
