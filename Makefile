# convnet — one plain GNU Makefile.
#   make             build/libconvnet.a, build/libconvnet.so, build/convnet
#   make test        every test (C and Python); ends with "N passed, M failed"
#   make bench       naive vs fast layer timings and the end-to-end epoch
#   make test-asan   the C tests under AddressSanitizer + UBSan
# No -ffast-math anywhere: the tests check gradients and NaNs.

CC      ?= cc
BUILD   ?= build
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -fopenmp -fno-math-errno \
           -Iinclude -I/usr/include/x86_64-linux-gnu/openblas-pthread
LDLIBS  += -lopenblas -lz -lpng -ljpeg $(shell pkg-config --libs cairo 2>/dev/null || echo -lcairo) -lm
CAIRO_CFLAGS := $(shell pkg-config --cflags cairo 2>/dev/null)
CFLAGS  += $(CAIRO_CFLAGS)
LDFLAGS += -fopenmp

LAYER_SRC := $(wildcard src/layers/*.c)
PLAIN_SRC := $(wildcard src/*.c)
LIB_OBJ   := $(patsubst src/layers/%.c,$(BUILD)/obj/%_f32.o,$(LAYER_SRC)) \
             $(patsubst src/layers/%.c,$(BUILD)/obj/%_f64.o,$(LAYER_SRC)) \
             $(patsubst src/%.c,$(BUILD)/obj/%.o,$(PLAIN_SRC))
HDRS      := include/convnet.h $(wildcard src/*.h src/layers/*.h)
TOOL_SRC  := $(wildcard tools/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCH_SRC := $(wildcard bench/*.c)
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all test bench test-asan test-faults soak clean info deps
all: info $(BUILD)/libconvnet.a $(BUILD)/libconvnet.so $(BUILD)/convnet

info:
	@echo "convnet build: CC=$(CC) CFLAGS=$(OPT) cpu=$$(if grep -qw avx512f /proc/cpuinfo; then echo avx512f; elif grep -qw avx2 /proc/cpuinfo; then echo avx2; else echo generic; fi) blas=openblas"

$(BUILD)/obj/%_f32.o: src/layers/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/%_f64.o: src/layers/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DCN_REAL_F64 -c $< -o $@
$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PLAIN_DEFS) -c $< -o $@

$(BUILD)/libconvnet.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libconvnet.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/convnet: $(TOOL_SRC) $(BUILD)/libconvnet.a $(HDRS)
	$(CC) $(CFLAGS) -o $@ $(TOOL_SRC) $(BUILD)/libconvnet.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h tests/cli_util.h $(BUILD)/libconvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libconvnet.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libconvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libconvnet.a $(LDFLAGS) $(LDLIBS)

deps:
	@bash scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@$(MAKE) --no-print-directory run-tests

run-tests: $(TESTS)
	@BUILD=$(BUILD) bash tests/run.sh $(TESTS)

bench: all $(BENCHES)
	@BUILD=$(BUILD) bash bench/run.sh

# The C tests (the CLI tests run build-asan/convnet) under ASan + UBSan (gcc's
# runtimes). Any report fails the test program: UBSan aborts
# (-fno-sanitize-recover), ASan exits non-zero, and LeakSanitizer runs at exit.
# libgomp keeps its thread pool to the end of the process and is not
# reported, so no leak suppressions are needed (tests/lsan.supp is the place
# if a runtime ever needs one; it is empty). The Python tests load
# libconvnet.so into an uninstrumented python3 and are skipped here.
ASAN_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1 \
            UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 CN_NO_PYTHON=1 \
            CN_SOAK_KILLS=8 CN_SOAK_EPOCHS=3
test-asan:
	$(ASAN_ENV) $(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fopenmp -fsanitize=address,undefined" test

# ---- fuzzing: libFuzzer targets for every reader of outside bytes --------
#   make fuzz                      build fuzz/fuzz_*.c with clang (libFuzzer,
#                                  ASan, UBSan) and run each FUZZ_SECONDS
#   make fuzz FUZZ_SECONDS=600 FUZZ_TARGETS="st resume"
#   make fuzz-seeds                regenerate the committed seed corpus
# New inputs go to build-fuzz/corpus/<target>, crashes to build-fuzz/crashes/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= st cifar idx spec image resume
FUZZ_CC      ?= clang
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_BINS    := $(patsubst %,build-fuzz/fuzz/fuzz_%,$(FUZZ_TARGETS))
.PHONY: fuzz fuzz-build fuzz-seeds valgrind

# The readers, nets and Solver (src/*.c) are built with clang: libFuzzer
# coverage, ASan, UBSan. The layers (src/layers/*.c) use GCC vector
# extensions clang does not take (__builtin_shuffle), so they are built with
# gcc + ASan and linked in; libomp provides the GOMP_* entry points they call.
FUZZ_LAYER_CC  ?= gcc
FUZZ_LAYER_OBJ := $(patsubst src/layers/%.c,build-fuzz/gcc/obj/%_f32.o,$(LAYER_SRC)) \
                  $(patsubst src/layers/%.c,build-fuzz/gcc/obj/%_f64.o,$(LAYER_SRC))
FUZZ_PLAIN_OBJ := $(patsubst src/%.c,build-fuzz/obj/%.o,$(PLAIN_SRC))
FUZZ_LIB       := build-fuzz/libconvnet-fuzz.a

fuzz-build:
	@$(MAKE) --no-print-directory BUILD=build-fuzz/gcc CC=$(FUZZ_LAYER_CC) \
	        OPT="-O1 -fsanitize=address -fno-omit-frame-pointer" $(FUZZ_LAYER_OBJ)
	@$(MAKE) --no-print-directory BUILD=build-fuzz CC=$(FUZZ_CC) \
	        OPT="-O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link -Wno-pass-failed" $(FUZZ_PLAIN_OBJ)
	@rm -f $(FUZZ_LIB) && ar rcs $(FUZZ_LIB) $(FUZZ_LAYER_OBJ) $(FUZZ_PLAIN_OBJ)
	@$(MAKE) --no-print-directory $(FUZZ_BINS)

build-fuzz/fuzz/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h fuzz/fuzz_data.h $(FUZZ_LIB)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -O1 -g $(FUZZ_SAN) -fsanitize=fuzzer -fopenmp -std=gnu11 -Wall -Wextra -Iinclude \
	        -o $@ $< $(FUZZ_LIB) $(LDLIBS)

fuzz: fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh $(FUZZ_TARGETS)

fuzz-seeds: $(BUILD)/libconvnet.a
	@mkdir -p $(BUILD)/fuzz
	$(CC) $(CFLAGS) -o $(BUILD)/fuzz/mkseeds fuzz/mkseeds.c $(BUILD)/libconvnet.a $(LDFLAGS) $(LDLIBS)
	rm -rf fuzz/corpus && $(BUILD)/fuzz/mkseeds fuzz/corpus

# ---- valgrind memcheck of a short real training run ----------------------
valgrind: all
	@bash tests/valgrind.sh $(BUILD)/convnet

# ---- soak: SIGKILL at random moments, resumed each time, the final
# checkpoint byte for byte the uninterrupted run's. make test runs 20 kills
# over 10 epochs (~20 s); this is the long version (13 min on 2 shared cores).
SOAK_KILLS  ?= 200
SOAK_EPOCHS ?= 20
soak: all $(BUILD)/tests/test_soak
	CN_SOAK_KILLS=$(SOAK_KILLS) CN_SOAK_EPOCHS=$(SOAK_EPOCHS) $(BUILD)/tests/test_soak

# ---- fault injection (SQLite-style): every allocation, read, write, fsync
# and rename of the library's own sources (src/*.c, built with -DCN_FAULTS:
# src/faults.h) fails in turn, under ASan + UBSan, along a short train ->
# checkpoint -> resume -> eval run; tests/faults.sh checks each run ends with
# an error message or a warning (never a signal, a sanitizer report or a
# leak) and leaves a loadable checkpoint. FAULT_STRIDE=K tries every K-th N.
FAULT_STRIDE ?= 1
test-faults:
	@$(MAKE) --no-print-directory BUILD=build-faults PLAIN_DEFS=-DCN_FAULTS \
	        OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fopenmp -fsanitize=address,undefined" build-faults/convnet
	@FAULT_STRIDE=$(FAULT_STRIDE) bash tests/faults.sh build-faults/convnet

clean:
	rm -rf build build-asan build-faults
