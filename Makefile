# Quick start: `make demo` and `make test` do all set-up themselves (packages, configure, build).
BUILD_DIR ?= build
BUILD_TYPE ?= RelWithDebInfo
JOBS ?= $(shell nproc)
CTEST_ARGS ?=

.PHONY: all deps configure build test demo asan bench clean

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

clean:
	rm -rf $(BUILD_DIR) build-asan
