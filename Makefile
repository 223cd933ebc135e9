# convnet — one plain GNU Makefile.
#   make             build/libconvnet.a, build/libconvnet.so, build/convnet and
#                    build/libconvnet-plot.{a,so} (the pictures; cairo)
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
LDLIBS  += -lopenblas -lz -lpng -ljpeg -lm
# cairo only for the pictures' library (src/plot/, libconvnet-plot) and what
# links it (the CLI, test_image): libconvnet itself does not need it.
CAIRO_CFLAGS := $(shell pkg-config --cflags cairo 2>/dev/null)
CAIRO_LIBS   := $(shell pkg-config --libs cairo 2>/dev/null || echo -lcairo)
LDFLAGS += -fopenmp

LAYER_SRC := $(wildcard src/layers/*.c)
# The layer kinds' records (src/ops/*.c, see src/ops.h), compiled twice as the layers are
OPS_SRC   := $(wildcard src/ops/*.c)
PLAIN_SRC := $(wildcard src/*.c)
# Kernels (src/layers/simd/*.c): compiled once per SIMD level and element
# type, each with its level's -m flags (src/layers/simd.h); the context picks
# a level at run time. Non-x86 builds have the generic level only.
KERN_SRC    := $(wildcard src/layers/simd/*.c)
ifeq ($(shell uname -m),x86_64)
SIMD_LEVELS := generic avx2 avx512
else
SIMD_LEVELS := generic
endif
SIMD_generic := -DCN_SIMD_LEVEL=0
SIMD_avx2    := -DCN_SIMD_LEVEL=1 -mavx2 -mfma
SIMD_avx512  := -DCN_SIMD_LEVEL=2 -mavx512f -mavx512vl -mavx512dq -mavx512bw -mavx2 -mfma
ops_obj  = $(foreach t,f32 f64,$(patsubst src/ops/%.c,$(1)/obj/op_%_$(t).o,$(OPS_SRC)))
kern_obj = $(foreach l,$(SIMD_LEVELS),$(foreach t,f32 f64,$(patsubst src/layers/simd/%.c,$(1)/obj/k_%_$(l)_$(t).o,$(KERN_SRC))))
LIB_OBJ   := $(patsubst src/layers/%.c,$(BUILD)/obj/%_f32.o,$(LAYER_SRC)) \
             $(patsubst src/layers/%.c,$(BUILD)/obj/%_f64.o,$(LAYER_SRC)) \
             $(call ops_obj,$(BUILD)) \
             $(call kern_obj,$(BUILD)) \
             $(patsubst src/%.c,$(BUILD)/obj/%.o,$(PLAIN_SRC))
HDRS      := include/convnet.h include/convnet_plot.h $(wildcard src/*.h src/layers/*.h src/layers/simd/*.h)
# libconvnet-plot: the pictures (filter grid, charts, edges demo), built on
# libconvnet's public functions; link it before libconvnet.
PLOT_SRC  := $(wildcard src/plot/*.c)
PLOT_OBJ  := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(PLOT_SRC))
$(PLOT_OBJ): CFLAGS += $(CAIRO_CFLAGS)
TOOL_SRC  := $(wildcard tools/*.c)
TEST_SRC  := $(wildcard tests/test_*.c)
TESTS     := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCH_SRC := $(wildcard bench/*.c)
# bench_dnnl (the oneDNN comparison) only where libdnnl-dev is installed
BENCH_SRC := $(if $(wildcard /usr/include/oneapi/dnnl/dnnl.h),$(BENCH_SRC),$(filter-out bench/bench_dnnl.c,$(BENCH_SRC)))
$(BUILD)/bench/bench_dnnl: LDLIBS += -ldnnl
BENCHES   := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))

.PHONY: all test bench test-asan test-levels test-faults soak clean info deps
all: info $(BUILD)/libconvnet.a $(BUILD)/libconvnet.so $(BUILD)/libconvnet-plot.a $(BUILD)/libconvnet-plot.so \
     $(BUILD)/convnet

info:
	@echo "convnet build: CC=$(CC) CFLAGS=$(OPT) kernels=$(SIMD_LEVELS) cpu=$$(if grep -qw avx512f /proc/cpuinfo; then echo avx512; elif grep -qw avx2 /proc/cpuinfo; then echo avx2; else echo generic; fi) blas=openblas mpi=$(MPI) onnx-export=$(HAVE_ONNX)$(if $(filter no,$(HAVE_ONNX)), (apt-get install protobuf-c-compiler libprotobuf-c-dev libonnx-dev))"

$(BUILD)/obj/%_f32.o: src/layers/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/%_f64.o: src/layers/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DCN_REAL_F64 -c $< -o $@
$(BUILD)/obj/op_%_f32.o: src/ops/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@
$(BUILD)/obj/op_%_f64.o: src/ops/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -DCN_REAL_F64 -c $< -o $@
define KERN_RULES
$$(BUILD)/obj/k_%_$(1)_f32.o: src/layers/simd/%.c $$(HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(SIMD_$(1)) -c $$< -o $$@
$$(BUILD)/obj/k_%_$(1)_f64.o: src/layers/simd/%.c $$(HDRS)
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(SIMD_$(1)) -DCN_REAL_F64 -c $$< -o $$@
endef
$(foreach l,$(SIMD_LEVELS),$(eval $(call KERN_RULES,$(l))))
$(BUILD)/obj/%.o: src/%.c $(HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PLAIN_DEFS) -c $< -o $@

$(BUILD)/libconvnet.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^
# The soname carries the major version (include/convnet.h): an ABI break bumps it.
CN_MAJOR := $(shell sed -n 's/^\#define CN_VERSION_MAJOR \([0-9]*\).*/\1/p' include/convnet.h)
CN_MINOR := $(shell sed -n 's/^\#define CN_VERSION_MINOR \([0-9]*\).*/\1/p' include/convnet.h)
CN_VERSION := $(CN_MAJOR).$(CN_MINOR).0
$(BUILD)/libconvnet.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libconvnet.so.$(CN_MAJOR) -o $@ $^ $(LDLIBS)
# The same scheme (soname libconvnet-plot.so.MAJOR); it needs libconvnet.so.MAJOR,
# which build/ gets as a link too, so LD_LIBRARY_PATH=build finds both.
$(BUILD)/libconvnet-plot.a: $(PLOT_OBJ)
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/libconvnet-plot.so: $(PLOT_OBJ) $(BUILD)/libconvnet.so
	ln -sf libconvnet.so $(BUILD)/libconvnet.so.$(CN_MAJOR)
	$(CC) -shared $(LDFLAGS) -Wl,-soname,libconvnet-plot.so.$(CN_MAJOR) -o $@ $(PLOT_OBJ) \
	      -L$(BUILD) -lconvnet $(CAIRO_LIBS) $(LDLIBS)

# `convnet export --onnx` needs protobuf-c (protobuf-c-compiler, libprotobuf-c-dev) and the
# onnx.proto of libonnx-dev; the C code is generated from it here with protoc-c. Without them
# the CLI is built without export (it says what to install) and `make` says so.
ONNX_PROTO ?= $(firstword $(wildcard /usr/include/onnx/onnx.proto))
PROTOC_C   ?= $(shell command -v protoc-c 2>/dev/null)
HAVE_ONNX  := $(if $(and $(ONNX_PROTO),$(PROTOC_C),$(shell pkg-config --exists libprotobuf-c && echo y)),yes,no)
ifeq ($(HAVE_ONNX),yes)
ONNX_GEN    := $(BUILD)/gen/onnx.pb-c.c
ONNX_CFLAGS := -DCN_HAVE_ONNX -I$(BUILD)/gen $(shell pkg-config --cflags libprotobuf-c)
ONNX_LIBS   := $(shell pkg-config --libs libprotobuf-c)
$(BUILD)/gen/onnx.pb-c.c: $(ONNX_PROTO)
	@mkdir -p $(dir $@)
	$(PROTOC_C) --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(BUILD)/gen $(ONNX_PROTO)
endif

# `make MPI=1`: the CLI (only it: the library has no MPI in it) built with
# Open MPI's mpicc flags for `mpirun -np K convnet train --groups G ...`
# (tools/mpi.c, docs/mpi.md); needs openmpi-bin and libopenmpi-dev. By
# default MPI is used when mpicc is there (as the ONNX export is), else
# the CLI is built without it: no MPI package is needed; MPI=0 forces it off. $(BUILD)/mpi.flag remembers the choice, so switching
# relinks the CLI.
MPICC   ?= mpicc
MPI     ?= $(if $(shell $(MPICC) --showme:link 2>/dev/null),1,0)
ifeq ($(MPI),1)
MPI_CFLAGS := -DCN_HAVE_MPI $(shell $(MPICC) --showme:compile 2>/dev/null)
MPI_LIBS   := $(shell $(MPICC) --showme:link 2>/dev/null)
ifeq ($(strip $(MPI_LIBS)),)
$(error MPI=1 needs Open MPI's mpicc: apt-get install openmpi-bin libopenmpi-dev)
endif
endif
$(BUILD)/mpi.flag: FORCE
	@mkdir -p $(BUILD)
	@echo "$(MPI)" | cmp -s - $@ || echo "$(MPI)" > $@
.PHONY: FORCE
FORCE:

$(BUILD)/convnet: $(TOOL_SRC) $(wildcard tools/*.h) $(BUILD)/libconvnet-plot.a $(BUILD)/libconvnet.a $(HDRS) $(ONNX_GEN) $(BUILD)/mpi.flag
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -Itools $(ONNX_CFLAGS) -o $@ $(TOOL_SRC) $(ONNX_GEN) $(BUILD)/libconvnet-plot.a $(BUILD)/libconvnet.a $(LDFLAGS) $(ONNX_LIBS) $(MPI_LIBS) $(CAIRO_LIBS) $(LDLIBS)

# The tests of the pictures link libconvnet-plot (and cairo) too.
PLOT_TESTS := $(BUILD)/tests/test_image
$(PLOT_TESTS): $(BUILD)/libconvnet-plot.a
$(PLOT_TESTS): TEST_CFLAGS = $(CAIRO_CFLAGS)
$(PLOT_TESTS): TEST_PLOT = $(BUILD)/libconvnet-plot.a
$(PLOT_TESTS): TEST_LIBS = $(CAIRO_LIBS)
$(BUILD)/tests/%: tests/%.c tests/check.h tests/harness.h tests/fixtures.h tests/cli_util.h $(BUILD)/libconvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(TEST_CFLAGS) -o $@ $< $(TEST_PLOT) $(BUILD)/libconvnet.a $(LDFLAGS) $(TEST_LIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c bench/peak.h $(BUILD)/libconvnet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libconvnet.a $(LDFLAGS) $(LDLIBS)

deps:
	@bash scripts/deps.sh

test: deps
	@$(MAKE) --no-print-directory all $(TESTS)
	@$(MAKE) --no-print-directory run-tests

run-tests: $(TESTS)
	@BUILD=$(BUILD) bash tests/run.sh $(TESTS)

# Every test again at each lower SIMD level this CPU has (CN_SIMD caps the
# level every context picks), so an AVX2 or baseline regression shows on an
# AVX-512 machine. (The layer tests also run each level themselves.)
test-levels: all $(TESTS)
	@for lv in avx2 generic; do \
	  if [ $$lv = avx2 ] && ! grep -qw avx2 /proc/cpuinfo; then continue; fi; \
	  echo "== every test with CN_SIMD=$$lv"; \
	  CN_SIMD=$$lv BUILD=$(BUILD) bash tests/run.sh $(TESTS) > $(BUILD)/test-$$lv.log 2>&1; st=$$?; \
	  grep '^FAIL' $(BUILD)/test-$$lv.log; tail -n 1 $(BUILD)/test-$$lv.log; \
	  [ $$st -eq 0 ] || exit 1; \
	done

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
                  $(patsubst src/layers/%.c,build-fuzz/gcc/obj/%_f64.o,$(LAYER_SRC)) \
                  $(call ops_obj,build-fuzz/gcc) $(call kern_obj,build-fuzz/gcc)
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

# ---- install -------------------------------------------------------------
#   make install [PREFIX=/usr/local] [DESTDIR=]     make uninstall (same variables)
# libconvnet.so.MAJOR.MINOR.0 with the soname libconvnet.so.MAJOR and the
# libconvnet.so dev link, libconvnet.a, convnet.h, convnet.pc, the same for
# libconvnet-plot (convnet_plot.h, convnet-plot.pc), the CLI, its
# man page, and the Python package where Debian's /usr/bin/python3 looks:
# /usr/lib/python3/dist-packages for PREFIX=/usr, else
# PREFIX/lib/python3.X/dist-packages (/usr/local/lib/python3/dist-packages
# is not on Debian's sys.path). The package records the installed library's
# path (convnet/_installed.py), so it needs neither PYTHONPATH nor CONVNET_LIB.
PREFIX    ?= /usr/local
BINDIR    ?= $(PREFIX)/bin
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
MANDIR    ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PYVER     := $(shell /usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PYVER)/dist-packages)
PY_SRC    := $(shell cd python && find convnet -name '*.py' ! -name _installed.py | sort)
.PHONY: install uninstall
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(MANDIR)/man1 \
	        $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(PYTHONDIR)/convnet
	install -m 755 $(BUILD)/convnet $(DESTDIR)$(BINDIR)/convnet
	install -m 644 $(BUILD)/libconvnet.so $(DESTDIR)$(LIBDIR)/libconvnet.so.$(CN_VERSION)
	ln -sf libconvnet.so.$(CN_VERSION) $(DESTDIR)$(LIBDIR)/libconvnet.so.$(CN_MAJOR)
	ln -sf libconvnet.so.$(CN_MAJOR) $(DESTDIR)$(LIBDIR)/libconvnet.so
	install -m 644 $(BUILD)/libconvnet.a $(DESTDIR)$(LIBDIR)/libconvnet.a
	install -m 644 $(BUILD)/libconvnet-plot.so $(DESTDIR)$(LIBDIR)/libconvnet-plot.so.$(CN_VERSION)
	ln -sf libconvnet-plot.so.$(CN_VERSION) $(DESTDIR)$(LIBDIR)/libconvnet-plot.so.$(CN_MAJOR)
	ln -sf libconvnet-plot.so.$(CN_MAJOR) $(DESTDIR)$(LIBDIR)/libconvnet-plot.so
	install -m 644 $(BUILD)/libconvnet-plot.a $(DESTDIR)$(LIBDIR)/libconvnet-plot.a
	install -m 644 include/convnet.h include/convnet_plot.h $(DESTDIR)$(INCDIR)/
	for pc in convnet convnet-plot; do \
	  sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	      -e 's|@VERSION@|$(CN_VERSION)|' $$pc.pc.in > $(DESTDIR)$(PKGCONFIGDIR)/$$pc.pc || exit 1; \
	done
	install -m 644 man/convnet.1 $(DESTDIR)$(MANDIR)/man1/convnet.1
	for f in $(PY_SRC); do install -D -m 644 python/$$f $(DESTDIR)$(PYTHONDIR)/$$f || exit 1; done
	printf '# written by make install: the library this copy of the package loads\nLIBRARY = %s\n' \
	    "'$(LIBDIR)/libconvnet.so.$(CN_MAJOR)'" > $(DESTDIR)$(PYTHONDIR)/convnet/_installed.py
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi
	@echo "installed convnet $(CN_VERSION) under $(DESTDIR)$(PREFIX) (python: $(DESTDIR)$(PYTHONDIR)/convnet)"
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/convnet $(DESTDIR)$(LIBDIR)/libconvnet.so.$(CN_VERSION) \
	      $(DESTDIR)$(LIBDIR)/libconvnet.so.$(CN_MAJOR) $(DESTDIR)$(LIBDIR)/libconvnet.so \
	      $(DESTDIR)$(LIBDIR)/libconvnet.a $(DESTDIR)$(INCDIR)/convnet.h $(DESTDIR)$(PKGCONFIGDIR)/convnet.pc \
	      $(DESTDIR)$(LIBDIR)/libconvnet-plot.so.$(CN_VERSION) $(DESTDIR)$(LIBDIR)/libconvnet-plot.so.$(CN_MAJOR) \
	      $(DESTDIR)$(LIBDIR)/libconvnet-plot.so $(DESTDIR)$(LIBDIR)/libconvnet-plot.a \
	      $(DESTDIR)$(INCDIR)/convnet_plot.h $(DESTDIR)$(PKGCONFIGDIR)/convnet-plot.pc \
	      $(DESTDIR)$(MANDIR)/man1/convnet.1
	rm -rf $(DESTDIR)$(PYTHONDIR)/convnet
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v ldconfig >/dev/null; then ldconfig; fi

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
