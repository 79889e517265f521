# unroll - build, test and sanitizer targets.
#
#   make            bin/unroll and build/rel/libunroll.a
#   make test       every test; ends with "N passed, N failed" (", N skipped"
#                   when a check could not run here)
#   make asan       the same tests under AddressSanitizer + UBSan
#   make data       data/demo.txt (Debian's fortunes), data/words.tsv (word
#                   lists), data/parity/ (generated)
#   make bench      benchmarks (never part of test)
#   make bench-memory  peak memory against T, with and without train.memory_budget
#   make bench-gemm    the product kernel's GFLOP/s against OpenBLAS
#   make bench-sizes   unroll against oneDNN (and PyTorch) at sizes you name (SIZES="lstm:200:35:20 ...")
#   make bench-trace   one training step task by task, lane by lane (TRACE="V H T B
#                   DTYPE [STEPS] [FUSE] [CELL] [OPT]", bench/bench.c's bench trace)
#   make soak       determinism over SOAK_N (40) drawn sizes, cells and dtypes:
#                   1, 2, 3 threads, AVX2 and resumed give the same bytes
#                   (SOAK_HIDDEN, SOAK_BATCH, SOAK_STEPS: the sizes drawn from)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS (600) each (never part of
#                   test; tests/t_fuzz.sh replays their seeds)
#   make install    PREFIX=/usr/local (and DESTDIR): the command, the static
#                   and shared library, headers, unroll.pc, the man page and
#                   the Python package (PYDIR)
#   make docs-img   docs/img/architecture.svg from docs/architecture.dot
#                   (Graphviz) and the README's gradient-ledger pictures
#                   (the SVGs are committed)
#   make format / compdb / clean
#
# Dependencies come through pkg-config: libyaml (yaml-0.1) and SQLite
# (sqlite3). No BLAS is linked (the products are kernels/gemm.c's; a
# threaded OpenBLAS hung before main under ulimit -v): `unroll doctor`
# opens OpenBLAS at run time to check it, and the benchmarks that compare
# with it link it (openblas; Debian ships no cblas.pc).

CC      ?= cc
PKGS    := yaml-0.1 sqlite3
BLAS_FLAGS := $(shell pkg-config --cflags --libs openblas 2>/dev/null)
# MPI (data-parallel training) is built in when Open MPI's development
# files are there; MPI=0 leaves it out. Its headers only: the library is
# opened at run time, under mpirun (train/dist.c), so a plain run maps none
# of it.
MPI     ?= $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
ifeq ($(MPI),1)
MPI_DEF := -DUNROLL_MPI -DUNROLL_MPI_LIB='"$(shell pkg-config --variable=libdir ompi-c)/libmpi.so"' \
           $(shell pkg-config --cflags ompi-c)
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

BUILD   ?= build/rel
OPT     ?= -O2 -g
SAN     ?=
WARN    := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(MPI_DEF) $(OPT) $(SAN) $(WARN) -I. $(PKG_CFLAGS) $(CFLAGS)
LDLIBS_ALL := $(PKG_LIBS) -lm -lpthread $(LDLIBS)

# What every object is built with, kept beside the build: objects and
# programs depend on it, so a change of flags rebuilds them (a build made
# before tools/setup.sh installed Open MPI kept its objects without MPI;
# make -n leaves it as it is).
FLAGS_STAMP := $(BUILD)/flags
FLAGS_NOW   := $(CC) $(CFLAGS_ALL) $(LDLIBS_ALL)
DRY_RUN     := $(findstring n,$(firstword -$(MAKEFLAGS)))
ifneq ($(file <$(FLAGS_STAMP)),$(FLAGS_NOW))
ifeq ($(DRY_RUN),)
$(shell mkdir -p $(BUILD))
$(file >$(FLAGS_STAMP),$(FLAGS_NOW))
endif
endif

LIB_SRC  := $(sort $(wildcard base/*.c kernels/*.c graph/*.c ops/*.c engine/*.c models/*.c train/*.c store/*.c))
CLI_SRC  := $(sort $(wildcard cli/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIB      := $(BUILD)/libunroll.a
UNROLL   := $(BUILD)/unroll

.PHONY: all test asan data bench bench-sizes bench-memory bench-gemm bench-trace soak format compdb clean install shared

all: $(UNROLL) bin/unroll $(TEST_BIN)

# copied then renamed: cp over a binary that is running fails (text file busy)
bin/unroll: $(UNROLL)
	@mkdir -p bin
	cp $< $@.tmp && mv -f $@.tmp $@

$(BUILD)/obj/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(VECFLAGS) -MMD -MP -c $< -o $@

# The kernels (ops/) and the optimiser's loops are vectorised: -O3's
# vectoriser, and sqrt without errno so that it can be (nothing reads
# errno). The rest of the program keeps OPT.
VEC_OBJ := $(filter $(BUILD)/obj/ops/% $(BUILD)/obj/kernels/% $(BUILD)/obj/train/optim.o,$(LIB_OBJ))
$(VEC_OBJ): VECFLAGS := -O3 -fno-math-errno

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library: the same sources compiled position-independent.
PIC_OBJ := $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
SHLIB   := $(BUILD)/libunroll.so
$(BUILD)/pic/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(VECFLAGS) -fPIC -MMD -MP -c $< -o $@
$(filter $(BUILD)/pic/ops/% $(BUILD)/pic/kernels/% $(BUILD)/pic/train/optim.o,$(PIC_OBJ)): VECFLAGS := -O3 -fno-math-errno
$(SHLIB): $(PIC_OBJ)
	$(CC) -shared $(SAN) -Wl,-soname,libunroll.so.0 $(PIC_OBJ) $(LDLIBS_ALL) -o $@
shared: $(SHLIB)

# make install: headers keep their folders (the library includes them as
# "graph/graph.h"), so unroll.pc adds -I$(includedir)/unroll. The Python
# package goes where Debian's python3 looks under PREFIX (PYDIR), told
# where the installed library is (_libpath.py).
PREFIX  ?= /usr/local
VERSION := $(shell sed -n 's/^\#define UNROLL_VERSION "\(.*\)"/\1/p' base/version.h)
DESTDIR ?=
PYTHON  ?= python3
PYDIR   ?= $(PREFIX)/lib/python$(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)/dist-packages
INC_HDR := unroll.h graph/ops.def $(filter-out %_int.h,$(wildcard base/*.h kernels/*.h graph/*.h ops/*.h engine/*.h models/*.h train/*.h store/*.h))
install: $(UNROLL) $(LIB) $(SHLIB)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	    $(DESTDIR)$(PREFIX)/include/unroll $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 755 $(UNROLL) $(DESTDIR)$(PREFIX)/bin/unroll
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libunroll.a
	install -m 755 $(SHLIB) $(DESTDIR)$(PREFIX)/lib/libunroll.so.0
	ln -sf libunroll.so.0 $(DESTDIR)$(PREFIX)/lib/libunroll.so
	for h in $(INC_HDR); do install -D -m 644 $$h $(DESTDIR)$(PREFIX)/include/unroll/$$h; done
	install -m 644 docs/unroll.1 $(DESTDIR)$(PREFIX)/share/man/man1/unroll.1
	install -d $(DESTDIR)$(PYDIR)/unroll
	install -m 644 python/unroll/__init__.py $(DESTDIR)$(PYDIR)/unroll/__init__.py
	echo 'LIBRARY = "$(PREFIX)/lib/libunroll.so.0"' > $(DESTDIR)$(PYDIR)/unroll/_libpath.py
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' \
	    tools/unroll.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/unroll.pc

$(UNROLL): $(CLI_OBJ) $(LIB) $(FLAGS_STAMP)
	$(CC) $(CFLAGS_ALL) $(CLI_OBJ) $(LIB) $(LDLIBS_ALL) -o $@

$(BUILD)/tests/%: tests/%.c tests/check.h tests/leaves.h $(LIB) $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(LIB) $(LDLIBS_ALL) -o $@

test: $(UNROLL) $(TEST_BIN) $(SHLIB) data
	@sh tests/run.sh $(BUILD)

asan:
	$(MAKE) BUILD=build/asan OPT="-O1 -g" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer" \
	  UNROLL_QUICK=1 test

# The demo text: about 2 MB of fortune cookies from Debian's fortunes
# package, separators removed (a few collections are left out: ASCII art,
# and the ones whose jokes are about groups of people).
FORTUNES := computers cookie definitions education food fortunes goedel humorists \
	kids law linux literature love magic medicine miscellaneous people pets \
	platitudes pratchett riddles science songs-poems sports startrek tao wisdom work zippy
data: data/demo.txt data/words.tsv data/parity/targets.npy
$(BUILD)/tools/gen_parity: tools/gen_parity.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(LIB) $(LDLIBS_ALL) -o $@
data/parity/targets.npy: $(BUILD)/tools/gen_parity
	@mkdir -p data
	$(BUILD)/tools/gen_parity data/parity 4000 100 7
data/words.tsv: tools/make_words.sh
	@mkdir -p data
	@[ -f /usr/share/dict/ngerman ] || sh tools/setup.sh
	sh tools/make_words.sh $@
data/demo.txt:
	@mkdir -p data
	@[ -f /usr/share/games/fortunes/zippy ] || sh tools/setup.sh
	cd /usr/share/games/fortunes && cat $(FORTUNES) | grep -v '^%$$' > $(CURDIR)/$@.tmp
	mv $@.tmp $@

bench: $(UNROLL)
	@sh bench/run.sh $(BUILD)
soak: $(UNROLL) bin/unroll
	@UNROLL=$(UNROLL) sh tests/soak_determinism.sh | awk '{ print } /^PASS /{ p++ } /^FAIL /{ f++ } \
	    END { printf "%d passed, %d failed\n", p, f; exit f > 0 }'
bench-sizes: $(LIB)
	@sh bench/sizes.sh $(BUILD) $(SIZES)
bench-memory: $(UNROLL)
	@sh bench/memory.sh $(BUILD)
# kernels/gemm.c alone against OpenBLAS, GFLOP/s (bench/gemm.c)
$(BUILD)/bench/gemm: bench/gemm.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(LIB) $(BLAS_FLAGS) $(LDLIBS_ALL) -o $@
bench-gemm: $(BUILD)/bench/gemm
	$(BUILD)/bench/gemm
TRACE ?= 65 100 25 1 float32
$(BUILD)/bench/bench: bench/bench.c bench/timing.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $< $(LIB) $(LDLIBS_ALL) -o $@
bench-trace: $(BUILD)/bench/bench
	$(BUILD)/bench/bench trace $(TRACE)

# make fuzz: each tests/fuzz/fuzz_NAME.c as a libFuzzer binary (clang,
# ASan + UBSan, no recovery) in build/fuzz/, run one after another for
# FUZZ_SECONDS each; ends with executions and coverage per target. Never
# part of test (tests/t_fuzz.sh only replays the seeds and regressions).
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 600
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_SAN     := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
.PHONY: fuzz
fuzz:
	$(MAKE) BUILD=build/fuzz CC=$(FUZZ_CC) MPI=0 OPT="-O1 -g" SAN="$(FUZZ_SAN)" \
	  $(FUZZ_NAMES:%=build/fuzz/fuzz_%)
	sh tests/fuzz/run.sh build/fuzz $(FUZZ_SECONDS) $(FUZZ_NAMES)
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIB)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer $< $(LIB) $(LDLIBS_ALL) -o $@

# The README's data-flow picture; needs Graphviz, so never part of all.
.PHONY: docs-img
docs-img: $(UNROLL) data
	dot -Tsvg docs/architecture.dot -o docs/img/architecture.svg
	$(UNROLL) grad configs/vanishing_elman.yaml --jacobian --out $(BUILD)/docs-ledger \
	    --plot docs/img/ledger_elman.svg --quiet
	$(UNROLL) grad configs/vanishing_elman.yaml --set model.cell=lstm --jacobian \
	    --out $(BUILD)/docs-ledger --plot docs/img/ledger_lstm.svg --quiet

format:
	clang-format -i $(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(wildcard */*.h)

compdb:
	bear -- $(MAKE) -B all

clean:
	rm -rf build bin

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(PIC_OBJ:.o=.d)
