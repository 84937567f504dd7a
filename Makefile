# loraplex top-level commands. See README.md.
#   make serve   install deps, build Release, serve the demo model + its adapters on 127.0.0.1:8000
#   make test    install deps, build, run every test (and the clang build's kernel tests)
#   make bench   install the yardstick libraries too (OpenBLAS, oneDNN), build, run the benchmarks
BUILD_DIR ?= build
CLANG_BUILD_DIR ?= build-clang
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
MODEL ?= models/demo/base
LORAS ?= models/demo/loras

.PHONY: all deps bench-deps build test check-layers unit-test test-clang e2e-test serve bench asan clean

all: build

deps:
	@bash scripts/install-deps.sh

$(BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(BUILD_DIR) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD_DIR)/CMakeCache.txt
	cmake --build $(BUILD_DIR) -j $(JOBS)

unit-test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

e2e-test: build
	@bash tests/e2e/run.sh $(BUILD_DIR)

# No file includes from a layer above its own (order: docs/architecture.md).
check-layers:
	@bash scripts/check-layers.sh

# The tree built with clang++ (Debian 12: clang 14): proves it compiles warning-free there too and
# that the AVX2/AVX-512 kernels are compiled in and selected (IsaSelection fails on a scalar
# fallback), then runs the kernel and dtype tests on that build.
CLANG_TESTS ?= IsaSelection.*:Kernel*:Bf16DotInvariance.*:DType*
$(CLANG_BUILD_DIR)/CMakeCache.txt:
	cmake -S . -B $(CLANG_BUILD_DIR) -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++ \
	  -DLPX_BUILD_BENCH=OFF $(CMAKE_FLAGS)

test-clang: deps $(CLANG_BUILD_DIR)/CMakeCache.txt
	cmake --build $(CLANG_BUILD_DIR) -j $(JOBS) --target loraplex loraplex_tests
	$(CLANG_BUILD_DIR)/loraplex_tests --gtest_filter='$(CLANG_TESTS)' --gtest_brief=1
	$(CLANG_BUILD_DIR)/loraplex version

test: check-layers unit-test test-clang e2e-test

PORT ?= 8000

serve: build
	$(BUILD_DIR)/loraplex serve --model $(MODEL) --peft-source $(LORAS) --port $(PORT)

bench-deps:
	@bash scripts/install-deps.sh --bench

bench: bench-deps build
	cmake -S . -B $(BUILD_DIR) >/dev/null
	cmake --build $(BUILD_DIR) -j $(JOBS)
	@bash bench/run.sh $(BUILD_DIR)

asan:
	$(MAKE) BUILD_DIR=build-asan CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DLPX_SANITIZE=address" unit-test

clean:
	rm -rf $(BUILD_DIR) $(CLANG_BUILD_DIR) build-asan
