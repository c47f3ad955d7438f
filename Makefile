# clcnn: make | make test [SAN=1] | make demo | make install PREFIX=... | make clean
#        make fuzz [FUZZ_SECONDS=N] | make test-valgrind | make test-oclgrind (docs/RELIABILITY.md)
#        make test-gpu-class | make test-rusticl | make isa-report (docs/GPU.md)
# `make test` and `make demo` first install missing Debian packages (scripts/deps.sh).

PREFIX ?= /usr/local
CC ?= cc
SAN ?= 0
# The sanitizer and GPU-family runs leave the PyTorch file checks (test_zoo.c's
# torch_loads: Python, formats, no kernels) to the plain run, to keep CI short.
SKIP_TORCH := $(if $(filter 1,$(SAN)),CLCNN_TEST_SKIP_TORCH=1,)
# They also leave out (CLCNN_TEST_EXCLUDE, reported as skipped with the reason) what
# they would only repeat, so that CI stays well inside 30 minutes:
# - SAN=1 checks the host code: not the big networks' goldens and training steps and
#   the exhaustive GEMM tile and row sweeps, whose host code (graph building, loading,
#   launching) the small networks' and the other GEMM tests run too;
# - test-gpu-class checks the GPU family of kernels: not the tests that run no kernel
#   (images, preprocessing, data sets, loaders, metrics, rendering, fuzz regressions,
#   the crash runner) nor the tool's and clbench's option and file handling, the same in
#   both families (the tool's end-to-end run, zoo networks and PyTorch step stay); not
#   the bigger networks' goldens whose layer kinds the smaller ones run (ResNet-50 and
#   -101, SE-ResNet-50, Xception: ResNet-18, the compact nets, MobileNetV2 and
#   EfficientNet-B0 stay), nor gemm_gpu_rows, which forces the GPU class itself.
SAN_EXCLUDE := =gemm_every_tile =gemm_gpu_rows =gemm_split_k train_mobilenet_v2_matches train_efficientnet_b0_matches \
	zoo_golden_resnet50 zoo_golden_seresnet50 zoo_golden_resnet101 zoo_golden_mobilenet zoo_golden_efficientnet \
	zoo_golden_inception zoo_golden_xception cam_golden_seresnet50 cam_golden_mobilenet_v2 \
	cam_golden_efficientnet_b0 =tool_mobilenet_v2 =tool_efficientnet_b0 =bench_compare_tables
GPU_CLASS_EXCLUDE := image_ render_ prepare_ dataset_ loader_ metrics_ fit_ fuzz_regress_ runner_ bench_ \
	=gemm_gpu_rows zoo_golden_resnet50 zoo_golden_seresnet50 zoo_golden_resnet101 zoo_golden_xception \
	cam_golden_seresnet50 \
	=tool_resume =tool_train_options_reach_trainer =tool_freeze_backbone_keeps_init =tool_freeze_errors \
	=tool_backbone_lr_mult =tool_unfreeze_at =tool_fit =tool_metrics_files =tool_data_layout =tool_imbalance \
	=tool_kill_resume =tool_errors =tool_eval_options_reach =tool_predict_options_reach =tool_cam_options_reach \
	=tool_mpi_kill_resume =tool_devices_fault =dist_threads_sum =dist_timeout
EXCLUDE_ENV = CLCNN_TEST_EXCLUDE='$(1)' CLCNN_TEST_EXCLUDE_WHY='$(2)'
SAN_ENV := $(if $(filter 1,$(SAN)),$(call EXCLUDE_ENV,$(SAN_EXCLUDE),the plain make test runs it; SAN=1 checks host code),)

ifeq ($(SAN),1)
BUILD := build/san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
OPT := -O1
else
BUILD := build
SANFLAGS :=
OPT := -O2
endif

HAVE_CLBLAST := $(shell pkg-config --exists clblast 2>/dev/null && echo 1)
CLBLAST_CFLAGS := $(if $(HAVE_CLBLAST),-DCLCNN_HAVE_CLBLAST)
CLBLAST_LIBS := $(if $(HAVE_CLBLAST),-lclblast)

# Data-parallel training over MPI (docs/DISTRIBUTED.md): built when Open MPI is found
# (scripts/deps.sh installs it); make MPI=0 builds without it, and the library works the
# same, alone. Only src/dist/dist_mpi.c sees MPI's header; it is rebuilt when MPI changes.
ifeq ($(origin MPI),undefined)
MPI := $(shell pkg-config --exists ompi-c 2>/dev/null && echo 1 || echo 0)
endif
MPI_CFLAGS := $(if $(filter 1,$(MPI)),-DCLCNN_HAVE_MPI $(shell pkg-config --cflags ompi-c 2>/dev/null))
MPI_LIBS := $(if $(filter 1,$(MPI)),$(shell pkg-config --libs ompi-c 2>/dev/null))

# Images: libpng, libjpeg-turbo; drawing (CAM overlays, curves): cairo.
IMG_PKGS := libpng libjpeg cairo
IMG_CFLAGS := $(shell pkg-config --cflags $(IMG_PKGS) 2>/dev/null)
IMG_LIBS := $(shell pkg-config --libs $(IMG_PKGS) 2>/dev/null || echo -lpng16 -ljpeg -lcairo)

CFLAGS := -std=c11 $(OPT) -g -Wall -Wextra -Werror -fPIC -fvisibility=hidden -pthread \
          -D_POSIX_C_SOURCE=200809L -DCL_TARGET_OPENCL_VERSION=120 \
          -Iinclude -Isrc -I$(BUILD)/gen $(CLBLAST_CFLAGS) $(IMG_CFLAGS) $(SANFLAGS)
LDLIBS := $(CLBLAST_LIBS) $(IMG_LIBS) $(MPI_LIBS) -ljansson -lOpenCL -lm -pthread
LDFLAGS := $(SANFLAGS)

LIB_SRC := $(sort $(wildcard src/*/*.c))
CL_SRC := $(sort $(wildcard cl/*.cl))
LIB_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/gen/kernels.o
TEST_SRC := $(sort $(wildcard tests/*.c tests/ref/*.c))
TEST_OBJ := $(patsubst tests/%.c,$(BUILD)/obj/tests/%.o,$(TEST_SRC))

.PHONY: all deps test demo install clean bench fuzz fuzz-build test-valgrind test-oclgrind test-gpu-class \
        test-rusticl isa-report
all: $(BUILD)/libclcnn.a $(BUILD)/libclcnn.so $(BUILD)/clcnn $(BUILD)/clbench

deps:
	@sh scripts/deps.sh

$(BUILD)/embed_cl: scripts/embed_cl.c
	@mkdir -p $(@D)
	$(CC) -O1 -o $@ $<

# defines.cl: the kernels' codes (ACT_*) from include/clcnn.h's lists, embedded first.
$(BUILD)/cl_defines: scripts/cl_defines.c include/clcnn.h
	@mkdir -p $(@D)
	$(CC) -O1 -Iinclude -o $@ $<

$(BUILD)/gen/defines.cl: $(BUILD)/cl_defines
	@mkdir -p $(@D)
	$(BUILD)/cl_defines > $@

$(BUILD)/gen/kernels.c: $(CL_SRC) $(BUILD)/gen/defines.cl $(BUILD)/embed_cl
	@mkdir -p $(@D)
	$(BUILD)/embed_cl $@ $(BUILD)/gen/defines.cl $(CL_SRC)

$(BUILD)/obj/gen/kernels.o: $(BUILD)/gen/kernels.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*/*.h) include/clcnn.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/dist/dist_mpi.o: src/dist/dist_mpi.c src/dist/dist.h src/runtime/internal.h include/clcnn.h \
		$(BUILD)/obj/dist/with-mpi-$(MPI)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -c -o $@ $<

$(BUILD)/obj/dist/with-mpi-%:
	@mkdir -p $(@D)
	@rm -f $(@D)/with-mpi-*
	@touch $@

$(BUILD)/obj/tests/%.o: tests/%.c $(wildcard tests/*.h tests/ref/*.h src/*/*.h) include/clcnn.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests -c -o $@ $<

$(BUILD)/libclcnn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libclcnn.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libclcnn.so.0 $(LDFLAGS) -o $@ $^ $(LDLIBS)

TOOL_SRC := $(sort $(wildcard tools/*.c))
$(BUILD)/clcnn: $(TOOL_SRC) $(wildcard tools/*.h) $(BUILD)/libclcnn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(TOOL_SRC) $(BUILD)/libclcnn.a $(LDLIBS)

BENCH_SRC := $(sort $(wildcard bench/*.c))
# clbench shares the clcnn tool's option parser.
$(BUILD)/clbench: $(BENCH_SRC) bench/bench.h tools/cli.h tools/options.c tools/options.h $(BUILD)/libclcnn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(BENCH_SRC) tools/options.c $(BUILD)/libclcnn.a $(LDLIBS)

$(BUILD)/clcnn_tests: $(TEST_OBJ) $(BUILD)/libclcnn.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libclcnn.a $(LDLIBS)

# The suite runs on the default device (CLCNN_DEVICE picks another).
# ASan's leak checker is off under SAN=1: the OpenCL ICD loader and PoCL keep
# process-lifetime allocations that are not ours. So are ASan's alternate signal stacks
# (use_sigaltstack=0): with them, a `clcnn train --devices` rank thread failed ASan's
# own check at its exit, "failed to deallocate ... unable to unmap" (4 of 6 runs of
# tool_devices_fault; likely the thread's alternate stack was no longer ASan's, as
# PoCL's LLVM sets one when it compiles there).
test: deps
	@$(MAKE) --no-print-directory $(BUILD)/clcnn_tests $(BUILD)/clcnn $(BUILD)/clbench $(BUILD)/make_synthetic \
		$(BUILD)/libclcnn.so
	ASAN_OPTIONS=detect_leaks=0:use_sigaltstack=0 CLCNN_TEST_BUILD=$(BUILD) $(SKIP_TORCH) $(SAN_ENV) ./$(BUILD)/clcnn_tests

# The main job on the default device: make a synthetic data set, train the compact
# net on it, evaluate it and draw heatmaps (scripts/demo.sh; DEMO_DIR=... to move it).
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/clcnn $(BUILD)/make_synthetic
	BUILD=$(BUILD) sh scripts/demo.sh

$(BUILD)/make_synthetic: scripts/make_synthetic.c $(BUILD)/libclcnn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libclcnn.a $(LDLIBS)

bench: $(BUILD)/clbench

# Fuzzing (docs/RELIABILITY.md): libFuzzer targets fuzz/fuzz_*.c, built with clang into
# build/fuzz against an instrumented copy of the library, each run for FUZZ_SECONDS from
# the seeds in fuzz/corpus/NAME (new inputs go to build/fuzz/corpus/NAME, crashes to
# build/fuzz/crashes/). FUZZ_TARGETS="png csv" runs some. Needs clang and
# libclang-rt-14-dev (scripts/deps.sh installs them for this target only).
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
FUZZ_SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS := -std=c11 -O1 -g -Wall -Wextra -Werror -pthread -D_POSIX_C_SOURCE=200809L \
               -DCL_TARGET_OPENCL_VERSION=120 -Iinclude -Isrc -Itools $(CLBLAST_CFLAGS) $(IMG_CFLAGS) \
               $(FUZZ_SANFLAGS) -fsanitize=fuzzer-no-link
FUZZ_NAMES := $(patsubst fuzz/fuzz_%.c,%,$(sort $(wildcard fuzz/fuzz_*.c)))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_LIB_OBJ := $(patsubst src/%.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC)) $(FUZZ_BUILD)/obj/gen/kernels.o
FUZZ_TOOL_OBJ := $(patsubst tools/%.c,$(FUZZ_BUILD)/obj/tools/%.o,tools/options.c tools/tool.c tools/progress.c)
.SECONDARY: $(FUZZ_TOOL_OBJ)

$(FUZZ_BUILD)/gen/kernels.c: $(CL_SRC) $(BUILD)/gen/defines.cl $(BUILD)/embed_cl
	@mkdir -p $(@D)
	$(BUILD)/embed_cl $@ $(BUILD)/gen/defines.cl $(CL_SRC)

$(FUZZ_BUILD)/obj/gen/kernels.o: $(FUZZ_BUILD)/gen/kernels.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/obj/tools/%.o: tools/%.c $(wildcard tools/*.h) include/clcnn.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/obj/%.o: src/%.c $(wildcard src/*/*.h) include/clcnn.h
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/libclcnn.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: fuzz/fuzz_%.c $(wildcard fuzz/*.h) $(wildcard tools/*.c tools/*.h) $(FUZZ_BUILD)/libclcnn.a $(FUZZ_TOOL_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_TOOL_OBJ) $(FUZZ_BUILD)/libclcnn.a $(LDLIBS)

fuzz-build:
	@CLCNN_DEPS_FUZZ=1 sh scripts/deps.sh
	@$(MAKE) --no-print-directory $(patsubst %,$(FUZZ_BUILD)/fuzz_%,$(FUZZ_TARGETS))

fuzz: fuzz-build
	sh scripts/run_fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The host-side tests and the tool's error paths under valgrind's memcheck (definite
# leaks and memory errors fail); scripts/valgrind.supp holds the third-party suppressions.
test-valgrind:
	@CLCNN_DEPS_VALGRIND=1 sh scripts/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/clcnn_tests $(BUILD)/clcnn
	BUILD=$(BUILD) sh scripts/test_valgrind.sh

# The op tests on Oclgrind with its bounds, data-race, uninitialised-value and API checks,
# then the GEMM tests with gemm_local (and the implicit-GEMM convolutions); any report fails (scripts/oclgrind.sh,
# docs/RELIABILITY.md). OCLGRIND_TESTS="a b" runs some (with CLCNN_GEMM_LOCAL as set).
$(BUILD)/oclgrind_fill.so: scripts/oclgrind_fill.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O1 -Wall -Wextra -Werror -shared -fPIC -DCL_TARGET_OPENCL_VERSION=120 -o $@ $< -lOpenCL

test-oclgrind:
	@CLCNN_DEPS_OCLGRIND=1 sh scripts/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/clcnn_tests $(BUILD)/oclgrind_fill.so
	BUILD=$(BUILD) sh scripts/oclgrind.sh $(OCLGRIND_TESTS)
	$(if $(OCLGRIND_TESTS),,BUILD=$(BUILD) CLCNN_GEMM_LOCAL=16x16x8:4x4 sh scripts/oclgrind.sh =op_gemm =gemm_split_k =op_conv2d_1x1 \
		=gpu_family_backward)

# GPU checks without a GPU (docs/GPU.md):
# - test-gpu-class: the suite on the default device (PoCL in CI) with the GPU family of
#   kernels, parameters and local sizes (CLCNN_DEVICE_CLASS=gpu) and the parameter row
#   GPU_ROW (default: the generic one, whatever CPU PoCL reports as its vendor; test
#   gemm_gpu_rows checks every row's GEMM);
# - test-rusticl: the suite on Mesa's rusticl, llvmpipe presented as a GPU, which enforces
#   per-kernel work-group limits (scripts/test_rusticl.sh; RUSTICL_TESTS=all for every test);
# - isa-report: every kernel compiled for sm_90, gfx90a and gfx1100 with the GPU row's
#   options: registers, spills, stack (scripts/isa_report.py, build/isa/report.json),
#   then 8 entries recompiled from what the report says, to the same figures.
GPU_ROW ?= default
test-gpu-class: deps
	@$(MAKE) --no-print-directory $(BUILD)/clcnn_tests $(BUILD)/clcnn $(BUILD)/clbench $(BUILD)/make_synthetic \
		$(BUILD)/libclcnn.so
	ASAN_OPTIONS=detect_leaks=0 CLCNN_DEVICE_CLASS=gpu CLCNN_GPU_ROW=$(GPU_ROW) CLCNN_TEST_BUILD=$(BUILD) \
		CLCNN_TEST_SKIP_TORCH=1 \
		$(call EXCLUDE_ENV,$(GPU_CLASS_EXCLUDE),no GPU-family kernel of its own: the plain make test runs it) \
		./$(BUILD)/clcnn_tests

test-rusticl:
	@CLCNN_DEPS_RUSTICL=1 sh scripts/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/clcnn_tests $(BUILD)/clcnn $(BUILD)/clbench $(BUILD)/make_synthetic \
		$(BUILD)/libclcnn.so
	BUILD=$(BUILD) sh scripts/test_rusticl.sh $(RUSTICL_TESTS)

isa-report:
	@CLCNN_DEPS_ISA=1 sh scripts/deps.sh
	@$(MAKE) --no-print-directory $(BUILD)/clcnn_tests $(BUILD)/clbench
	python3 scripts/isa_report.py --build $(BUILD)
	python3 scripts/isa_report.py --build $(BUILD) --verify 8

# The version is include/clcnn.h's (CLCNN_VERSION_*), read here, defined nowhere else.
VERSION := $(shell sed -n 's/^\#define CLCNN_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)$$/\2/p' include/clcnn.h | paste -sd.)

$(BUILD)/clcnn.pc: Makefile include/clcnn.h
	@mkdir -p $(@D)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: clcnn\nDescription: OpenCL CNN training, inference and Grad-CAM\nVersion: $(VERSION)\nRequires.private: OpenCL jansson libpng libjpeg cairo\nLibs: -L$${libdir} -lclcnn\nLibs.private: $(CLBLAST_LIBS) $(MPI_LIBS) -lm -pthread\nCflags: -I$${includedir}\n' '$(PREFIX)' > $@

install: all $(BUILD)/clcnn.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/clcnn.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(BUILD)/libclcnn.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libclcnn.so $(DESTDIR)$(PREFIX)/lib/libclcnn.so.0
	ln -sf libclcnn.so.0 $(DESTDIR)$(PREFIX)/lib/libclcnn.so
	install -m 644 $(BUILD)/clcnn.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(BUILD)/clcnn $(BUILD)/clbench $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build
