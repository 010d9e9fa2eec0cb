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
# Named, not ./...: npm puts Go template files under node_modules.
PKGS := ./cmd/... ./functions/... ./infra/... ./internal/... ./shared/...
# jsii's Node-version banner says nothing about this app (synth works
# offline on Node 20), so every recipe, the CDK tests' own jsii processes
# included, runs without it. The jsii runtime captures its environment
# while Go packages initialise, before main or TestMain could set it, so
# it must come from outside the process; cdk.json's "app" repeats it for
# a bare `npx cdk`.
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 18,20

.PHONY: all build tools test lint bench fuzz synth deploy local clean

all: lint test

## build: every function as dist/<fn>/bootstrap (linux/$(LAMBDA_ARCH), reproducible)
build: $(addprefix dist/,$(addsuffix /bootstrap,$(FUNCTIONS)))

# Built beside the target, then renamed over it: go build -o rewrites a
# file in place (truncate, then copy from its cache), and tests run synths
# in parallel (infra/app, the local stack, the deploy proof on moto), so a
# synth staging the asset must never read a half-written binary. rename(2)
# is atomic: a reader sees the old file or the new, identical one.
dist/%/bootstrap: FORCE
	@mkdir -p $(dir $@)
	CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build $(GOFLAGS_LAMBDA) -o $@.$$$$.tmp ./functions/$* && mv -f $@.$$$$.tmp $@

FORCE:

## tools: install or check every tool the tests need (.ci/tools: moto, cfn-lint, the AWS CLI, boto3, npm packages, Go modules)
tools:
	@.ci/tools

# Every long step runs under .ci/progress, which says what it starts, what
# it is still doing after each 10 s of silence, and how long it took.
## test: the whole suite, race detector on (what CI runs); installs what it needs first
test: tools
	@.ci/progress "go test -race, every package (first run about 10 min: compiling with -race, the CDK app, moto deploys; ok lines as packages pass)" -- \
		$(GO) test -race -count=1 -timeout 25m $(PKGS)
	@.ci/progress "budgets (timed: no race detector, one package at a time)" -- \
		bash -c "set -o pipefail; $(GO) test -count=1 -p 1 -timeout 30m -run 'Budget' -v $(PKGS) | grep --line-buffered -E '^(=== RUN|--- |ok|FAIL)|budget|ratio|floor|median' | grep --line-buffered -v 'no tests to run'"

## lint: gofmt, go vet, staticcheck, no tracked build outputs
lint:
	@$(GO) run ./internal/trackedfiles
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@.ci/progress "go vet (first run compiles every package: about 2 min)" -- $(GO) vet $(PKGS)
	@.ci/progress "staticcheck $(STATICCHECK_VERSION)" -- $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) $(PKGS)

## bench: the benchmarks behind docs/benchmarks.md
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 $(PKGS)

## fuzz: each fuzz target for FUZZTIME (CI runs them briefly)
# FUZZTIME is a duration (10s) or an execution count (20000x). CI uses a
# count: with a duration, Go 1.26's fuzz coordinator can report its own
# deadline as a failure ("context deadline exceeded", no crasher written;
# go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 10s
fuzz:
	@set -e; for f in $$(grep -rl --include='*_test.go' --exclude-dir=node_modules '^func Fuzz' .); do \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			.ci/progress "fuzz ./$$(dirname $$f) $$fn ($(FUZZTIME))" -- $(GO) test -run='^$$' -fuzz="^$$fn$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$f); \
		done; \
	done

clean:
	rm -rf dist cdk.out

# The CDK CLI comes from package-lock.json only, and synth must work offline.
CDK := npx --no-install cdk
CDK_ENV := CDK_DISABLE_VERSION_CHECK=1
# e.g. make synth CDK_ARGS='-c config=path/to.yaml'
CDK_ARGS ?=

# npm's update notice and spinner stay out of every recipe's output.
export NPM_CONFIG_UPDATE_NOTIFIER := false

.PHONY: cdk-cli
cdk-cli:
	@.ci/tools cdk

# synth and deploy need no `build` prerequisite: cdk.json's "build" runs
# `make build` before every synth, and a second build would only cost time.
## synth: build, then synthesise the whole service into cdk.out (cdk-nag must pass)
synth: cdk-cli
	$(CDK_ENV) $(CDK) synth --quiet --no-notices $(CDK_ARGS)

## deploy: build, then deploy every stack to the account of your AWS credentials
deploy: cdk-cli
	$(CDK_ENV) $(CDK) deploy --all --no-notices $(CDK_ARGS)

LOCAL_PORT ?= 4566
# Taken when make starts, so the first-mint time `make local` prints
# includes a synth it had to run.
LOCAL_T0 := $(shell date +%s%N)
# The assembly is re-synthesised only when something it is built from
# changed, so a warm `make local` goes straight to the emulator. Tests, the
# CLI and internal/ (the local runner and test harnesses) are not part of it.
ASSEMBLY_INPUTS := $(shell git ls-files 'infra/*.go' 'functions/*.go' 'shared/*.go' ':!:*_test.go' \
	go.mod go.sum cdk.json package-lock.json 2>/dev/null) stsrotator.yaml

# make local's own assembly, apart from cdk.out (what `make synth` and a
# deploy use): its function packages hold host-architecture bootstraps,
# which compile from the same cache as the host binaries below instead of
# compiling the AWS SDK a second time for arm64. The local stack runs the
# host binaries, never the packaged bootstraps, so only the config, lane
# files and routes in it matter; nothing deploys it.
LOCAL_ASSEMBLY := dist/local/cdk.out
HOST_ARCH = $(shell $(GO) env GOARCH)

# Empty when the local assembly is up to date with everything it is built from.
ASSEMBLY_STALE = $(if $(wildcard $(LOCAL_ASSEMBLY)/manifest.json),$(shell find $(ASSEMBLY_INPUTS) -newer $(LOCAL_ASSEMBLY)/manifest.json 2>/dev/null | head -1),no local assembly yet)

# The synth's output (cdk's spinner, npm's notices) goes to the log; its
# last lines are shown if it fails.
$(LOCAL_ASSEMBLY)/manifest.json: $(ASSEMBLY_INPUTS)
	@.ci/progress "cdk synth: the whole service, cdk-nag checks included (about 20 s once compiled; output in dist/logs/synth.log)" \
		--log dist/logs/synth.log -- $(MAKE) --no-print-directory synth LAMBDA_ARCH=$(HOST_ARCH) CDK_ARGS='-o $(LOCAL_ASSEMBLY)'

# The host binaries make local runs, in one go build so the packages they
# share compile once, with the compile flags of the functions' own build
# and of cdk.json's app (CGO_ENABLED=0, -tags lambda.norpc, -trimpath), so
# the synth that follows reuses every package they share. The build ID
# stays, so an up-to-date binary is not even relinked.
LOCAL_BIN := dist/local
LOCAL_PKGS := ./cmd/stsrotator-local ./cmd/stsrotator ./functions/rotator ./functions/reactor
.PHONY: local-bins local-synth-warm
local-bins:
	@mkdir -p $(LOCAL_BIN)
	@CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -buildvcs=false -o $(LOCAL_BIN)/ $(LOCAL_PKGS)
# What the synth compiles that the host binaries do not (the CDK app's
# packages, with cdk.json's flags), compiled alongside them so a cold run
# keeps both cores busy. go list -export compiles without linking: the
# synth's go run links once, and a warm run pays nothing here.
local-synth-warm:
	@CGO_ENABLED=0 $(GO) list -tags lambda.norpc -trimpath -export -deps -f '{{.ImportPath}}' ./infra/app >/dev/null

## local: the whole system on the embedded emulator (kumo), narrated; runs until Ctrl-C
# The build comes first and --check right after it: a second `make local`
# in this checkout stops there, before a synth could rewrite the assembly
# the first run uses (the run itself holds .local/ and refuses a second one
# too). A cold first run compiles the CDK's Go bindings, the AWS SDK and
# kumo: docs/benchmarks.md has the phases.
local:
	@.ci/progress "building the emulator, the CLI and the functions for this machine$(if $(ASSEMBLY_STALE), and compiling the CDK app for the synth) (first run several minutes on 2 cores, then 1 s)" -- \
		$(MAKE) -s -j3 --no-print-directory local-bins $(if $(ASSEMBLY_STALE),local-synth-warm)
	@$(LOCAL_BIN)/stsrotator-local --check
	@$(if $(ASSEMBLY_STALE),$(MAKE) --no-print-directory $(LOCAL_ASSEMBLY)/manifest.json,true)
	@STSROTATOR_LOCAL_T0=$(LOCAL_T0) exec $(LOCAL_BIN)/stsrotator-local --bin $(LOCAL_BIN) --assembly $(LOCAL_ASSEMBLY) --port $(LOCAL_PORT) $(LOCAL_ARGS)

## soak: the resilience suite at full length (a simulated day at 30% faults, 6 storm windows, 400 sweep/reactor races under -race); STSROTATOR_SEED=n replays a failing seed
SOAK_PKGS := ./shared/rotation/ ./shared/reaction/ ./shared/credprovider/ ./internal/consumersim/
.PHONY: soak
soak:
	set -o pipefail; STSROTATOR_SOAK=1 $(GO) test -count=1 -timeout 30m -run 'Resilience' -v $(SOAK_PKGS) | grep -vE '^=== (RUN|PAUSE|CONT)'
	set -o pipefail; STSROTATOR_SOAK=1 $(GO) test -race -count=1 -timeout 30m -run 'ResilienceSweepRacesReactor' -v ./shared/reaction/ | grep -vE '^=== (RUN|PAUSE|CONT)'
