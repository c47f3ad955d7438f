# clcnn: make | make test [SAN=1] | make demo | make install PREFIX=... | make clean
# `make test` and `make demo` first install missing Debian packages (scripts/deps.sh).

PREFIX ?= /usr/local
CC ?= cc
SAN ?= 0

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

# Images: libpng, libjpeg-turbo; drawing (CAM overlays, curves): cairo.
IMG_PKGS := libpng libjpeg cairo
IMG_CFLAGS := $(shell pkg-config --cflags $(IMG_PKGS) 2>/dev/null)
IMG_LIBS := $(shell pkg-config --libs $(IMG_PKGS) 2>/dev/null || echo -lpng16 -ljpeg -lcairo)

CFLAGS := -std=c11 $(OPT) -g -Wall -Wextra -Werror -fPIC -pthread \
          -D_POSIX_C_SOURCE=200809L -DCL_TARGET_OPENCL_VERSION=120 \
          -Iinclude -Isrc -I$(BUILD)/gen $(CLBLAST_CFLAGS) $(IMG_CFLAGS) $(SANFLAGS)
LDLIBS := $(CLBLAST_LIBS) $(IMG_LIBS) -ljansson -lOpenCL -lm -pthread
LDFLAGS := $(SANFLAGS)

LIB_SRC := $(sort $(wildcard src/*/*.c))
CL_SRC := $(sort $(wildcard cl/*.cl))
LIB_OBJ := $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRC)) $(BUILD)/obj/gen/kernels.o
TEST_SRC := $(sort $(wildcard tests/*.c tests/ref/*.c))
TEST_OBJ := $(patsubst tests/%.c,$(BUILD)/obj/tests/%.o,$(TEST_SRC))

.PHONY: all deps test demo install clean bench
all: $(BUILD)/libclcnn.a $(BUILD)/libclcnn.so $(BUILD)/clcnn $(BUILD)/clbench

deps:
	@sh scripts/deps.sh

$(BUILD)/embed_cl: scripts/embed_cl.c
	@mkdir -p $(@D)
	$(CC) -O1 -o $@ $<

$(BUILD)/gen/kernels.c: $(CL_SRC) $(BUILD)/embed_cl
	@mkdir -p $(@D)
	$(BUILD)/embed_cl $@ $(CL_SRC)

$(BUILD)/obj/gen/kernels.o: $(BUILD)/gen/kernels.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c $(wildcard src/*/*.h) include/clcnn.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/obj/tests/%.o: tests/%.c $(wildcard tests/*.h tests/ref/*.h) include/clcnn.h
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
$(BUILD)/clbench: $(BENCH_SRC) bench/bench.h tools/cli.h $(BUILD)/libclcnn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(BENCH_SRC) $(BUILD)/libclcnn.a $(LDLIBS)

$(BUILD)/clcnn_tests: $(TEST_OBJ) $(BUILD)/libclcnn.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libclcnn.a $(LDLIBS)

# The suite runs on the default device (CLCNN_DEVICE picks another).
# ASan's leak checker is off under SAN=1: the OpenCL ICD loader and PoCL keep
# process-lifetime allocations that are not ours.
test: deps
	@$(MAKE) --no-print-directory $(BUILD)/clcnn_tests $(BUILD)/clcnn $(BUILD)/clbench $(BUILD)/make_synthetic
	ASAN_OPTIONS=detect_leaks=0 CLCNN_TEST_BUILD=$(BUILD) ./$(BUILD)/clcnn_tests

# The main job on the default device: make a synthetic data set, train the compact
# net on it, evaluate it and draw heatmaps (scripts/demo.sh; DEMO_DIR=... to move it).
demo: deps
	@$(MAKE) --no-print-directory $(BUILD)/clcnn $(BUILD)/make_synthetic
	BUILD=$(BUILD) sh scripts/demo.sh

$(BUILD)/make_synthetic: scripts/make_synthetic.c $(BUILD)/libclcnn.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libclcnn.a $(LDLIBS)

bench: $(BUILD)/clbench

$(BUILD)/clcnn.pc: Makefile
	@mkdir -p $(@D)
	printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: clcnn\nDescription: OpenCL CNN training, inference and Grad-CAM\nVersion: 0.1.0\nRequires.private: OpenCL jansson libpng libjpeg cairo\nLibs: -L$${libdir} -lclcnn\nLibs.private: $(CLBLAST_LIBS) -lm -pthread\nCflags: -I$${includedir}\n' '$(PREFIX)' > $@

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
