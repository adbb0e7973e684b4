# Thin wrapper over scripts/bootstrap, the CMake presets and ctest.
# The two Quick-start commands (README.md): `make demo` and `make test`.
# Both install what is missing (scripts/bootstrap, as root) and build first.

SHELL := /bin/bash
JOBS ?= $(shell nproc)
# CI (CI=true) turns warnings into errors.
WERROR := $(if $(filter true 1 yes,$(CI)),ON,OFF)

.PHONY: all bootstrap build build-aarch64 build-asan build-release test test-dev test-aarch64 test-asan demo bench bench-baseline bench-scale gpu-check images packages clean

all: build

bootstrap:
	@scripts/bootstrap

build: bootstrap
	@cmake --preset dev -DSTRATOSWARM_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset dev -j $(JOBS)

build-aarch64: bootstrap
	@cmake --preset aarch64 -DSTRATOSWARM_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset aarch64 -j $(JOBS)

build-asan: bootstrap
	@cmake --preset asan -DSTRATOSWARM_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset asan -j $(JOBS)

build-release: bootstrap
	@cmake --preset release -DSTRATOSWARM_WERROR=$(WERROR) >/dev/null
	@cmake --build --preset release -j $(JOBS)

test-dev: build build-aarch64
	ctest --preset dev -j $(JOBS)

test-aarch64: build-aarch64
	ctest --preset aarch64 -j $(JOBS)

test-asan: build-asan build-aarch64
	ctest --preset asan -j $(JOBS)

# Every test: x86_64 (its join test also joins the aarch64 swarmlet under
# qemu), aarch64 under qemu, and x86_64 under ASan+UBSan.
test: test-dev test-aarch64 test-asan

demo: build build-aarch64
	@scripts/demo

# Issue 9's benchmark suite: seed 001's scenarios on a namespace cluster (root),
# then issue 20's membership scale scenario (below) into $(BENCH_OUT)/scale,
# then build/bench/testbed/report.html + results.json, compared with
# bench/baseline.json (a regression beyond its threshold fails; the scale
# figures are shown, a size that failed fails the run). Not part of
# `make test` (its smoke version is). BENCH_ARGS go to tests/testbed/testbed.py.
# COMPARE=swarm (issue 19): then Docker Swarm on the same namespace layout, side
# by side in the report (installs docker.io first if missing; only this needs it).
BENCH_OUT ?= build/bench/testbed
COMPARE ?=
bench: build build-aarch64
	$(if $(filter swarm,$(COMPARE)),scripts/bootstrap --with-docker)
	tests/testbed/testbed.py --out $(BENCH_OUT) $(if $(COMPARE),--compare $(COMPARE)) $(BENCH_ARGS); rc=$$?; \
	  tests/testbed/scale.py --out $(BENCH_OUT)/scale $(SCALE_BENCH) $(SCALE_ARGS) || rc=1; \
	  bench/report $(BENCH_OUT) --baseline bench/baseline.json || rc=1; exit $$rc

# Issue 20: per-swarmlet idle cost (CPU, wake-ups, bytes/s, RSS, fds) at
# SCALE_SIZES swarmlets in network namespaces (root), under the seed's message
# stress, and kill -> decided times (SCALE_KILLS swarmlets killed one by one);
# build/bench/scale/scale.json. SCALE_ARGS go to tests/testbed/scale.py after
# these (e.g. --idle 60; --sizes there wins over SCALE_SIZES).
SCALE_SIZES ?= 5,20,50,100
SCALE_KILLS ?= 3
SCALE_BENCH = --sizes $(SCALE_SIZES) --stress --kills $(SCALE_KILLS)
bench-scale: build
	tests/testbed/scale.py --out build/bench/scale $(SCALE_BENCH) $(SCALE_ARGS)

# Records the last `make bench` run as the new baseline.
bench-baseline:
	bench/report $(BENCH_OUT) --write-baseline bench/baseline.json

# Issue 18: on a machine with an NVIDIA GPU, build the CUDA targets, run every
# [cuda] test, selftest, consensus_bench and sched_bench with their GPU rows;
# one met/MISSED line per target and build/gpu-check/gpu-check.json. Without
# a GPU it says so and exits 0. Not part of `make test`.
gpu-check: bootstrap
	@scripts/gpu-check

# The swarmlet image (OCI layout + docker-load archives, amd64 + arm64) in build/images.
VERSION := $(shell awk '/^project/ && $$2 == "VERSION" {print $$3}' CMakeLists.txt)
REVISION := $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
images: build-release build-aarch64
	@mkdir -p build/images/bin
	@strip -o build/images/bin/swarmlet-amd64 build/release/swarmlet/swarmlet
	@aarch64-linux-gnu-strip -o build/images/bin/swarmlet-arm64 build/aarch64/swarmlet/swarmlet
	@rm -rf build/images/oci
	images/build.py --version $(VERSION) --revision $(REVISION) --out build/images \
	  --binary amd64=build/images/bin/swarmlet-amd64 --binary arm64=build/images/bin/swarmlet-arm64

# Issue 19: Debian packages in build/packages (docs/packaging.md):
# stratoswarm_<ver>_amd64.deb, swarmlet_<ver>_amd64.deb and swarmlet_<ver>_arm64.deb,
# from the release and aarch64 trees (cmake/Packaging.cmake; CPack strips them).
# (The builds make the man pages too: help2man, target man_pages.)
packages: build-release build-aarch64
	tests/packaging/build_debs.sh build/packages build/release build/aarch64

clean:
	rm -rf build
