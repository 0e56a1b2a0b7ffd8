# Quick start: `make demo` and `make test` do all set-up themselves (packages, configure, build).
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
BENCH_BUILD_DIR ?= build-bench
COMPARE_ARGS ?=
CTEST_ARGS ?=

.PHONY: all deps configure build test demo asan bench bench-compare clean

all: build

deps:
	@./deploy/install_deps.sh

configure: deps
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) >/dev/null

build: configure
	@cmake --build $(BUILD_DIR) -j $(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

demo: build
	@$(BUILD_DIR)/examples/fashion_mnist/fashion_mnist_sweep

# The suite under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	@$(MAKE) test BUILD_DIR=build-asan BUILD_TYPE=Asan

bench: build
	@for b in $(BUILD_DIR)/bench/*_bench; do $$b; done

# Sematic vs Dask on the same workloads, alternating (docs/benchmarks.md, "Side by side with
# Dask"): a Release build in $(BENCH_BUILD_DIR), Debian's python3-distributed, and the shared
# reference ../shared/bench/dask_baseline.py. Then our workloads without a Dask counterpart
# ("ours alone"). E.g. COMPARE_ARGS="--smoke", "--rounds=5", or "--full" (adds the 1M-step
# fan-out: about 1.5 min and 3 GiB per round).
bench-compare: deps
	@./deploy/install_deps.sh --bench
	@cmake -S . -B $(BENCH_BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BENCH_BUILD_DIR) -j $(JOBS) --target e2e_bench
	@/usr/bin/python3 bench/compare/compare.py --e2e-bench $(BENCH_BUILD_DIR)/bench/e2e_bench $(COMPARE_ARGS)

clean:
	rm -rf $(BUILD_DIR) build-asan $(BENCH_BUILD_DIR)
