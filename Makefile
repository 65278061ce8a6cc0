# Entry points for people and CI; CMake + Ninja do the building, CTest the testing.
BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
PREFIX     ?= /usr/local
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all deps build test test-plain test-asan demo bench install uninstall golden fuzz chaos clean

all: build

deps:
	@./scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja --quiet -C $(BUILD)

# The whole suite, then again under AddressSanitizer and UndefinedBehaviorSanitizer.
test: test-plain test-asan

test-plain: build
	@./scripts/e2e-setup.sh
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

test-asan: deps
	@./scripts/e2e-setup.sh
	@cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DBEAT_SANITIZE=ON >/dev/null
	@ninja --quiet -C $(ASAN_BUILD)
	@./scripts/test-asan.sh $(ASAN_BUILD) $(JOBS)

demo: build
	@./scripts/demo.sh $(BUILD)/beat

bench: build
	@./bench/run.sh $(BUILD)

install: build
	@cmake --install $(BUILD) --prefix $(PREFIX)

uninstall:
	@rm -f $(DESTDIR)$(PREFIX)/bin/beat

golden: build
	@./scripts/golden.sh $(BUILD)

fuzz:
	@./scripts/deps.sh --fuzz
	@cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_C_COMPILER=clang -DBEAT_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@ninja -C $(FUZZ_BUILD)
	@./scripts/fuzz.sh $(FUZZ_BUILD) $${FUZZ_SECONDS:-600}

clean:
	@rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

# The chaos test with many more rounds than the suite runs: CHAOS_ROUNDS (default 200);
# CHAOS_SEED repeats a run (each run prints its seed).
chaos: build
	@BEAT=$(BUILD)/beat BEAT_SRC=$(CURDIR) CHAOS_ROUNDS=$${CHAOS_ROUNDS:-200} bash tests/e2e/test-chaos.sh
