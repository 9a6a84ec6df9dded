# posd — see README.md. Every target that builds first runs scripts/setup.sh,
# which installs missing system packages and a Go toolchain (idempotent).

SHELL := /bin/bash
GO := $(shell scripts/setup.sh --print-go)
export GO
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.7.0
FUZZTIME ?= 10s
RUN_DIR ?= run
# The firmware's build time, its commit's: posd takes a clock before it for
# a wrong one (no offline approvals while it is; README, Risk rules).
BUILD_TIME ?= $(shell git log -1 --format=%cI 2>/dev/null)
LDFLAGS := -X posd/internal/daemon.builtAt=$(BUILD_TIME)

.PHONY: all deps build run test test-nocv check lint fmt-check vet staticcheck tidy-check layers bench crash fleet slots-soak reset-soak face-soak face-eval store-damage e2e-cup cross arm64-cv fuzz clean

all: build

deps:
	@scripts/setup.sh

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/ ./cmd/posd ./cmd/posctl ./cmd/acquirer-sim ./cmd/tms-sim ./cmd/posd-supervisor

# The demo: acquirer simulator + posd on the simulated board, on loopback,
# with a fresh data dir under $(RUN_DIR). Ctrl-C stops both.
run: build
	scripts/run-demo.sh $(RUN_DIR)

# All tests, with the race detector, including the end-to-end tests that run
# acquirer-sim, posd and posctl as separate processes. -count=1: the
# end-to-end tests build and run the binaries, which go test's result cache
# cannot see, so a cached pass could hide a broken daemon. -timeout: the
# end-to-end package runs about 40 tests against real processes, several
# minutes under the race detector on two cores (go test's default bound
# is 10 minutes per package). -p: one more test binary than cores at a
# time: the end-to-end tests and the daemon's mostly wait on processes,
# timers and sockets (two packages at a time kept two cores 60 % busy;
# three finish the suite about a fifth sooner).
TEST_P ?= $(shell echo $$(( $$(nproc) + 1 )))
test: deps
	$(GO) test -race -count=1 -p $(TEST_P) -timeout 30m ./...

# The pure-Go build (-tags nocv, no cgo, as make cross ships it) passes the
# same tests, the end-to-end ones included; without cgo there is no race
# detector. NOCV_E2E_RUN=PATTERN runs only those end-to-end tests (CI runs
# the ones whose behaviour differs in this build, to stay in its time), side
# by side with the unit tests (the daemon's alone take a minute and a half).
NOCV_E2E_RUN ?=
# NOCV_PKGS=differ: the unit tests of only the packages the nocv tag
# changes (scripts/nocv-pkgs.sh); the others are the same pure Go that
# make test ran. Empty: every package.
NOCV_PKGS ?=
ifeq ($(NOCV_PKGS),differ)
nocv_units = $$(scripts/nocv-pkgs.sh | grep -v '/cmd/e2e$$')
else
nocv_units = $$($(GO) list ./... | grep -v '/cmd/e2e$$')
endif
test-nocv: deps
ifeq ($(NOCV_E2E_RUN),)
	CGO_ENABLED=0 $(GO) test -tags nocv -count=1 -p $(TEST_P) -timeout 30m ./...
else
	CGO_ENABLED=0 $(GO) test -tags nocv -count=1 -timeout 30m $(nocv_units) & units=$$!; \
	CGO_ENABLED=0 $(GO) test -tags nocv -count=1 -timeout 30m -run '$(NOCV_E2E_RUN)' ./cmd/e2e; e2e=$$?; \
	wait $$units && exit $$e2e
endif

check: lint test test-nocv cross

lint: fmt-check vet staticcheck tidy-check layers

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The pure-Go build is checked again where it differs: the packages the
# nocv tag changes or that import gocv (scripts/nocv-pkgs.sh); every
# other package is the same source either way.
vet:
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) vet -tags nocv $$(scripts/nocv-pkgs.sh)

staticcheck:
	$(GO) run $(STATICCHECK) ./...
	CGO_ENABLED=0 $(GO) run $(STATICCHECK) -tags nocv $$(scripts/nocv-pkgs.sh)

tidy-check:
	@cp go.mod /tmp/posd-go.mod.bak; cp go.sum /tmp/posd-go.sum.bak
	@$(GO) mod tidy
	@if ! git diff --quiet -- go.mod go.sum; then git --no-pager diff -- go.mod go.sum; cp /tmp/posd-go.mod.bak go.mod; cp /tmp/posd-go.sum.bak go.sum; echo "go mod tidy changes go.mod/go.sum"; exit 1; fi

layers:
	scripts/layercheck.sh

bench: deps
	$(GO) test -run='^$$' -bench=. -benchmem ./...

# The crash test at full size: CRASH_SALES sales with posd killed at
# random points (make test runs 200); see TestKillNineMixed.
CRASH_SALES ?= 1000
crash: deps
	POSD_CRASH_SALES=$(CRASH_SALES) $(GO) test -count=1 -run 'TestKillNine' -v -timeout 60m ./cmd/e2e

# The A/B firmware kill tests at full size: SLOTS_KILLS SIGKILLs of an
# install and of the supervisor's switch (make test runs 50 each).
SLOTS_KILLS ?= 500
slots-soak: deps
	POSD_SLOTS_KILLS=$(SLOTS_KILLS) $(GO) test -count=1 -run Kill -v -timeout 60m ./terminal/slots ./cmd/posd-supervisor

# The factory reset's kill test at full size: RESET_KILLS SIGKILLs of
# posd at random points of a reset (make test runs 30); see
# TestFactoryResetKills.
RESET_KILLS ?= 500
reset-soak: deps
	POSD_RESET_KILLS=$(RESET_KILLS) $(GO) test -count=1 -run TestFactoryResetKills -v -timeout 60m ./internal/daemon

# Face sales at full size: FACE_SALES whole face sales in process (make
# test runs 8), then no OpenCV matrix may be left open; see
# TestFaceSalesLeakNothing.
FACE_SALES ?= 100
face-soak: deps
	POSD_FACE_SALES=$(FACE_SALES) $(GO) test -count=1 -run TestFaceSalesLeakNothing -v -timeout 30m ./internal/daemon

# Damaged databases at full size: STORE_DAMAGE copies of a database with
# one byte changed, each opened as posd opens it (make test runs 60); see
# TestOneByteDamageNeverCrashes.
STORE_DAMAGE ?= 2000
store-damage: deps
	POSD_STORE_DAMAGE=$(STORE_DAMAGE) $(GO) test -count=1 -run TestOneByteDamageNeverCrashes -v -timeout 60m ./terminal/store

# The liveness evaluation on a larger generated set: FACE_CLIPS live and
# FACE_CLIPS attack clips (make test runs 40 and 40); see
# TestLivenessISO30107.
FACE_CLIPS ?= 500
face-eval: deps
	POSD_FACE_CLIPS=$(FACE_CLIPS) $(GO) test -count=1 -run TestLivenessISO30107 -v -timeout 60m ./cmd/faceclips

# The fleet simulation at full size: FLEET terminals (make test runs 200)
# lose the host for an hour and come back; see TestFleetDoesNotStampede.
FLEET ?= 2000
fleet: deps
	$(GO) test -count=1 -run TestFleetDoesNotStampede -v -timeout 30m ./terminal/txn -args -fleet=$(FLEET)

# The whole end-to-end suite with the China UnionPay-style host dialect
# (BCD fields, TPDU + header, DE53/DE60, 0400 with DE39 and the original
# STAN) on both sides. make test runs the transaction tests in both
# dialects and the others (face, QR, console, OTA...) in the default one;
# this runs every one of them in cup. E2E_RUN=PATTERN narrows it.
E2E_RUN ?= .
e2e-cup: deps
	POSD_E2E_DIALECT=cup $(GO) test -count=1 -timeout 40m -run '$(E2E_RUN)' ./cmd/e2e

# Pure-Go builds for the ARM boards: no cgo, no OpenCV. 32-bit ARM needs a
# one-line fix in a dependency; see scripts/gomod-arm32.sh.
cross:
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags nocv -o /dev/null ./...
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags nocv -ldflags '$(LDFLAGS)' -o bin/linux-arm64/ ./cmd/...
	modfile=$$(scripts/gomod-arm32.sh) && \
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -modfile=$$modfile -tags nocv -o /dev/null ./... && \
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -modfile=$$modfile -tags nocv -ldflags '$(LDFLAGS)' -o bin/linux-armv7/ ./cmd/...

# posd for linux/arm64 with cgo and the camera, against Debian 12's arm64
# OpenCV 4.6 in a sysroot kept in ~/.cache/posd-arm64, built into
# bin/linux-arm64-cv and checked under qemu-user (its tests, -print-config,
# and the camera OK in `posctl devices selftest`). See scripts/arm64-cv.sh.
arm64-cv: deps
	POSD_LDFLAGS='$(LDFLAGS)' scripts/arm64-cv.sh

# A short run of every fuzz target (FUZZTIME each).
fuzz: deps
	scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -rf bin $(RUN_DIR)
