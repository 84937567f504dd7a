# loraplex top-level commands. See README.md.
#   make serve   install deps, build Release, serve the demo model + its adapters on 127.0.0.1:8000
#   make test    install deps, build, run every test
#   make bench   install the yardstick libraries too (OpenBLAS, oneDNN), build, run the benchmarks
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
MODEL ?= models/demo/base
LORAS ?= models/demo/loras

.PHONY: all deps bench-deps build test check-layers unit-test e2e-test serve bench asan clean

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

test: check-layers unit-test e2e-test

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
	rm -rf $(BUILD_DIR) build-asan
