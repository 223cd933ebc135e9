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
CFLAGS  += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -fopenmp \
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

.PHONY: all test bench test-asan clean info deps
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
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libconvnet.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libconvnet.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/convnet: $(TOOL_SRC) $(BUILD)/libconvnet.a $(HDRS)
	$(CC) $(CFLAGS) -o $@ $(TOOL_SRC) $(BUILD)/libconvnet.a $(LDFLAGS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libconvnet.a
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

test-asan:
	$(MAKE) BUILD=build-asan OPT="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	        LDFLAGS="-fopenmp -fsanitize=address,undefined" test CN_NO_PYTHON=1

clean:
	rm -rf build build-asan
