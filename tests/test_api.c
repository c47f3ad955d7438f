/* test_api.c: bad input to the public API is a clear error, never a crash: NULL
 * arguments, bad shapes, tensors from another context, allocations larger than the
 * device allows, and malformed weight files; and libclcnn.so exports exactly the
 * functions include/clcnn.h declares. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define CL_TARGET_OPENCL_VERSION 120
#include <CL/cl.h>
#include "harness.h"

static void test_null_and_bad_arguments(void) {
    clcnn_tensor *t = NULL;
    CHECK_STATUS(clcnn_context_create(0, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_tensor_create(NULL, 1, (int[]){4}, &t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_tensor_create(g_ctx, 0, (int[]){4}, &t), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_tensor_create(g_ctx, 7, (int[]){1, 1, 1, 1, 1, 1, 1}, &t), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_tensor_create(g_ctx, 2, (int[]){4, 0}, &t), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_tensor_create(g_ctx, 2, (int[]){4, -3}, &t), CLCNN_ERR_SHAPE);
    CHECK(strstr(clcnn_last_error(g_ctx), "[4, -3]") != NULL, "error lacks the shape: %s", clcnn_last_error(g_ctx));
    CHECK(t == NULL, "failed create left a tensor");
    CHECK_OK(clcnn_tensor_create(g_ctx, 2, (int[]){3, 4}, &t));
    if (!t) return;
    float buf[12] = {0};
    CHECK_STATUS(clcnn_tensor_write(t, buf, 11), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_tensor_read(t, buf, 13), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_tensor_read(t, NULL, 12), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_tensor_reshape(t, 2, (int[]){5, 2}), CLCNN_ERR_SHAPE);
    CHECK_OK(clcnn_tensor_reshape(t, 3, (int[]){2, 2, 3}));
    CHECK(clcnn_tensor_dim(t, -1) == 3 && clcnn_tensor_ndim(t) == 3, "reshape did not apply");
    CHECK_STATUS(clcnn_activate(g_ctx, t, (clcnn_activation)42, t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_activate(NULL, t, CLCNN_ACT_RELU, t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_activate(g_ctx, NULL, CLCNN_ACT_RELU, t), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_conv2d(g_ctx, t, NULL, NULL, NULL, NULL, CLCNN_ACT_NONE, t), CLCNN_ERR_SHAPE);
    CHECK_STATUS(clcnn_pool2d(g_ctx, t, NULL, t), CLCNN_ERR_SHAPE);
    clcnn_tensor *img = NULL;
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){1, 2, 5, 5}, &img));
    if (img) {
        clcnn_pool_params bad = {.mode = CLCNN_POOL_MAX, .kernel_h = 2, .kernel_w = 2, .pad_h = 2};
        CHECK_STATUS(clcnn_pool2d(g_ctx, img, &bad, img), CLCNN_ERR_INVALID_ARGUMENT);
        CHECK_STATUS(clcnn_pool2d(g_ctx, img, NULL, img), CLCNN_ERR_INVALID_ARGUMENT);
        clcnn_pool_params big = {.mode = CLCNN_POOL_AVG, .kernel_h = 9, .kernel_w = 9};
        CHECK_STATUS(clcnn_pool2d(g_ctx, img, &big, img), CLCNN_ERR_SHAPE);
    }
    clcnn_tensor_destroy(img);
    clcnn_tensor_destroy(t);
    clcnn_tensor_destroy(NULL); /* destroy accepts NULL */
    clcnn_context_destroy(NULL);
    /* data parallelism's entry points */
    clcnn_dist *d = NULL;
    clcnn_dataset *shard = NULL;
    double v = 1;
    CHECK_STATUS(clcnn_dist_create(NULL, &d), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dist_create_threads(2, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dist_allreduce_sum(NULL, &v, 1), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dist_barrier(NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_trainer_set_dist(NULL, NULL, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dataset_shard(NULL, 0, 1, &shard), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_device_select_rank(NULL, -1, &(int){0}), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(!d && !shard && clcnn_dist_local_rank(NULL) == 0, "NULL handles");
    clcnn_dist_abort(NULL, 1); /* returns: nothing to stop */
    clcnn_dist_destroy(NULL);
    double ms = -1;
    size_t bytes = 1;
    clcnn_trainer_comm(NULL, &ms, &bytes);
    CHECK(ms == 0 && bytes == 0, "clcnn_trainer_comm(NULL): %g ms, %zu bytes", ms, bytes);
}

static void test_oversized_allocation(void) {
    clcnn_tensor *t = NULL;
    /* 2^31 - 2 floats: fits the index type, but 8 GiB exceeds one allocation on the test devices. */
    clcnn_device_info info;
    CHECK_OK(clcnn_context_get_device_info(g_ctx, &info));
    if (info.max_alloc_bytes >= (8ull << 30)) {
        test_skip("the device allows single allocations of 8 GiB");
        return;
    }
    CHECK_STATUS(clcnn_tensor_create(g_ctx, 2, (int[]){2, (1 << 30) - 1}, &t), CLCNN_ERR_OUT_OF_MEMORY);
    CHECK(strstr(clcnn_last_error(g_ctx), "[2, 1073741823]") != NULL, "error lacks the shape: %s", clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_tensor_create(g_ctx, 3, (int[]){1 << 20, 1 << 10, 4}, &t), CLCNN_ERR_OUT_OF_MEMORY);
    CHECK(t == NULL, "failed create left a tensor");
}

static void test_context_mismatch(void) {
    clcnn_context *other = NULL;
    clcnn_tensor *a = NULL, *b = NULL;
    CHECK_OK(clcnn_context_create(-1, &other));
    if (!other) return;
    CHECK_OK(clcnn_tensor_create(g_ctx, 1, (int[]){8}, &a));
    CHECK_OK(clcnn_tensor_create(other, 1, (int[]){8}, &b));
    if (a && b) {
        CHECK_STATUS(clcnn_add(g_ctx, a, b, CLCNN_ACT_NONE, a), CLCNN_ERR_CONTEXT_MISMATCH);
        CHECK(strstr(clcnn_last_error(g_ctx), "another context") != NULL, "unclear error: %s", clcnn_last_error(g_ctx));
        /* A raw buffer of another OpenCL context cannot be wrapped. */
        clcnn_tensor *w = NULL;
        cl_int err;
        cl_mem buf = clCreateBuffer((cl_context)clcnn_context_cl_context(other), CL_MEM_READ_WRITE, 64, NULL, &err);
        CHECK(buf != NULL, "clCreateBuffer failed (%d)", err);
        if (buf) {
            CHECK_STATUS(clcnn_tensor_wrap(g_ctx, buf, 0, 1, (int[]){8}, &w), CLCNN_ERR_CONTEXT_MISMATCH);
            CHECK_STATUS(clcnn_tensor_wrap(other, buf, 4, 1, (int[]){13}, &w), CLCNN_ERR_SHAPE);
            clReleaseMemObject(buf);
        }
        CHECK_STATUS(clcnn_tensor_wrap(g_ctx, NULL, 0, 1, (int[]){8}, &w), CLCNN_ERR_INVALID_ARGUMENT);
    }
    clcnn_tensor_destroy(b);
    clcnn_tensor_destroy(a);
    clcnn_context_destroy(other);
}

/* ---- malformed weight files ---- */

static const char *tmp_path(const char *name) {
    static char path[256];
    snprintf(path, sizeof path, "/tmp/clcnn-test-%d-%s", (int)getpid(), name);
    return path;
}

/* A safetensors file from a header text and data bytes; hlen_override != 0 writes
 * a false header length. */
static const char *write_st(const char *name, const char *header, const void *data, size_t data_len,
                            unsigned long long hlen_override) {
    const char *path = tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f) return path;
    unsigned long long hlen = hlen_override ? hlen_override : strlen(header);
    for (int i = 0; i < 8; i++) fputc((int)((hlen >> (8 * i)) & 0xff), f);
    fputs(header, f);
    if (data_len) fwrite(data, 1, data_len, f);
    fclose(f);
    return path;
}

static void expect_load_error(const char *path, clcnn_status want, const char *needle) {
    clcnn_weights *w = NULL;
    CHECK_STATUS(clcnn_weights_load(g_ctx, path, &w), want);
    CHECK(w == NULL, "%s: failed load returned weights", path);
    CHECK(strstr(clcnn_last_error(g_ctx), needle) != NULL, "%s: error lacks \"%s\": %s", path, needle,
          clcnn_last_error(g_ctx));
    clcnn_weights_destroy(w);
    unlink(path);
}

static void test_malformed_weight_files(void) {
    const float data[6] = {1, 2, 3, 4, 5, 6};
    expect_load_error("/nonexistent/weights.safetensors", CLCNN_ERR_IO, "/nonexistent/weights.safetensors");
    const char *short_path = tmp_path("short");
    FILE *f = fopen(short_path, "wb");
    if (f) {
        fputs("abc", f);
        fclose(f);
    }
    expect_load_error(short_path, CLCNN_ERR_FORMAT, "too short");
    expect_load_error(write_st("empty-header", "", NULL, 0, 0), CLCNN_ERR_FORMAT, "JSON");
    expect_load_error(write_st("hugelen", "{}", NULL, 0, 1ull << 62), CLCNN_ERR_FORMAT, "header length");
    expect_load_error(write_st("notjson", "{\"a\": [1, 2", data, sizeof data, 0), CLCNN_ERR_FORMAT, "JSON");
    expect_load_error(write_st("offsets", "{\"w\":{\"dtype\":\"F32\",\"shape\":[6],\"data_offsets\":[0,4096]}}", data,
                               sizeof data, 0),
                      CLCNN_ERR_FORMAT, "w");
    expect_load_error(write_st("sizes", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,4],\"data_offsets\":[0,24]}}", data,
                               sizeof data, 0),
                      CLCNN_ERR_FORMAT, "tensor w");
    expect_load_error(write_st("bigdim", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4000000000],\"data_offsets\":[0,24]}}",
                               data, sizeof data, 0),
                      CLCNN_ERR_FORMAT, "dimension");
    expect_load_error(write_st("nodtype", "{\"w\":{\"shape\":[6],\"data_offsets\":[0,24]}}", data, sizeof data, 0),
                      CLCNN_ERR_FORMAT, "dtype");
    /* A well-formed file loads; F16 converts; integer tensors are skipped. */
    const unsigned short half[2] = {0x3c00, 0xc000}; /* 1.0, -2.0 */
    unsigned char mixed[24 + 4 + 8];
    memcpy(mixed, data, 24);
    memcpy(mixed + 24, half, 4);
    memset(mixed + 28, 0, 8);
    const char *ok = write_st("ok",
                              "{\"__metadata__\":{\"arch\":\"x\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                              "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
                              "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[28,36]}}",
                              mixed, sizeof mixed, 0);
    clcnn_weights *w = NULL;
    CHECK_OK(clcnn_weights_load(g_ctx, ok, &w));
    if (w) {
        CHECK(clcnn_weights_count(w) == 2, "count %d, want 2 (I64 skipped)", clcnn_weights_count(w));
        const char *arch = clcnn_weights_metadata(w, "arch");
        CHECK(arch && !strcmp(arch, "x"), "metadata arch = %s", arch ? arch : "(null)");
        const clcnn_tensor *h = clcnn_weights_get(w, "h");
        float hv[2] = {0, 0};
        CHECK(h != NULL, "tensor h missing");
        if (h) CHECK_OK(clcnn_tensor_read(h, hv, 2));
        CHECK(hv[0] == 1.0f && hv[1] == -2.0f, "F16 converted to %g %g", hv[0], hv[1]);
        /* Weights that are not a ResNet: a clear error naming the first missing tensor. */
        clcnn_model *m = NULL;
        CHECK_STATUS(clcnn_resnet_create(g_ctx, w, &m), CLCNN_ERR_NOT_FOUND);
        CHECK(strstr(clcnn_last_error(g_ctx), "layer1.0.conv1.weight") != NULL, "unclear error: %s",
              clcnn_last_error(g_ctx));
        CHECK(m == NULL, "failed create returned a model");
    }
    clcnn_weights_destroy(w);
    unlink(ok);

    /* A whole one-block ResNet whose stem batch norm does not fit its convolution (3
     * channels against 2): the error names the tensor and both shapes. */
    static const struct {
        const char *name;
        int ndim, shape[4];
    } tensors[] = {{"conv1.weight", 4, {2, 3, 7, 7}}, {"bn1.weight", 1, {3}}, {"bn1.bias", 1, {3}},
                   {"bn1.running_mean", 1, {3}}, {"bn1.running_var", 1, {3}},
                   {"layer1.0.conv1.weight", 4, {2, 2, 3, 3}}, {"layer1.0.bn1.weight", 1, {2}},
                   {"layer1.0.bn1.bias", 1, {2}}, {"layer1.0.bn1.running_mean", 1, {2}},
                   {"layer1.0.bn1.running_var", 1, {2}}, {"layer1.0.conv2.weight", 4, {2, 2, 3, 3}},
                   {"layer1.0.bn2.weight", 1, {2}}, {"layer1.0.bn2.bias", 1, {2}},
                   {"layer1.0.bn2.running_mean", 1, {2}}, {"layer1.0.bn2.running_var", 1, {2}},
                   {"fc.weight", 2, {4, 2}}, {"fc.bias", 1, {4}}};
    char header[4096] = "{";
    size_t floats = 0;
    for (size_t i = 0; i < sizeof tensors / sizeof tensors[0]; i++) {
        size_t n = 1;
        char shape[64] = "";
        for (int d = 0; d < tensors[i].ndim; d++) {
            n *= (size_t)tensors[i].shape[d];
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", d ? "," : "", tensors[i].shape[d]);
        }
        snprintf(header + strlen(header), sizeof header - strlen(header),
                 "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}", i ? "," : "",
                 tensors[i].name, shape, 4 * floats, 4 * (floats + n));
        floats += n;
    }
    strcat(header, "}");
    float *vals = calloc(floats, sizeof *vals);
    const char *bad_bn = vals ? write_st("bad-bn", header, vals, floats * sizeof *vals, 0) : NULL;
    free(vals);
    w = NULL;
    if (bad_bn) CHECK_OK(clcnn_weights_load(g_ctx, bad_bn, &w));
    if (w) {
        clcnn_model *m = NULL;
        CHECK_STATUS(clcnn_resnet_create(g_ctx, w, &m), CLCNN_ERR_SHAPE);
        const char *e = clcnn_last_error(g_ctx);
        CHECK(strstr(e, "bn1.") && strstr(e, "[3]") && strstr(e, "[2]"), "unclear error: %s", e);
        printf("    %s\n", e);
        CHECK(m == NULL, "failed create returned a model");
        clcnn_model_destroy(m);
    }
    clcnn_weights_destroy(w);
    if (bad_bn) unlink(bad_bn);
}

/* The names of the functions include/clcnn.h declares (CLCNN_API ... clcnn_NAME(), one
 * per line, as the header writes them) into names, NUL-separated; their count. */
static int declared_functions(char *names, size_t cap) {
    FILE *f = fopen("include/clcnn.h", "r");
    if (!f) return -1;
    char line[512];
    int n = 0;
    size_t used = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "CLCNN_API ", 10)) continue;
        const char *paren = strchr(line, '('), *start = paren;
        while (start && start > line && (start[-1] == '_' || (start[-1] >= 'a' && start[-1] <= 'z') ||
                                          (start[-1] >= '0' && start[-1] <= '9')))
            start--;
        if (!paren || paren == start || used + (size_t)(paren - start) + 1 > cap) continue;
        memcpy(names + used, start, (size_t)(paren - start));
        used += (size_t)(paren - start);
        names[used++] = 0;
        n++;
    }
    fclose(f);
    return n;
}

static int in_list(const char *names, int n, const char *name) {
    for (int i = 0; i < n; i++, names += strlen(names) + 1)
        if (!strcmp(names, name)) return 1;
    return 0;
}

/* libclcnn.so's dynamic symbols (nm -D) are the header's functions, no more, no less:
 * the library is built with -fvisibility=hidden and CLCNN_API marks what it exports. */
static void test_exports(void) {
    const char *build = getenv("CLCNN_TEST_BUILD");
    if (!build) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    if (system("command -v nm >/dev/null 2>&1") != 0) return test_skip("no nm (Debian: binutils)");
    char so[512];
    snprintf(so, sizeof so, "%s/libclcnn.so", build);
    if (access(so, R_OK) != 0) return test_skip("no libclcnn.so in CLCNN_TEST_BUILD (make builds it)");
    static char declared[1 << 16];
    const int n = declared_functions(declared, sizeof declared);
    CHECK(n > 150, "include/clcnn.h: %d CLCNN_API functions read (run from the repository root)", n);
    if (n <= 150) return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "nm -D --defined-only %s/libclcnn.so", build);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL, "cannot run %s", cmd);
    if (!p) return;
    char line[512], sym[400], kind;
    int exported = 0, extra = 0;
    static char seen[1 << 16];
    size_t used = 0;
    while (fgets(line, sizeof line, p)) {
        /* absolute, weak and reserved names (_...: what compilers and sanitizers add) are not ours */
        if (sscanf(line, "%*s %c %399s", &kind, sym) != 2 || kind == 'A' || kind == 'w' || kind == 'v' || sym[0] == '_')
            continue;
        exported++;
        if (!in_list(declared, n, sym) && extra++ < 5) CHECK(0, "libclcnn.so exports %s (%c), not in clcnn.h", sym, kind);
        const size_t len = strlen(sym) + 1;
        if (used + len <= sizeof seen) memcpy(seen + used, sym, len), used += len;
    }
    pclose(p);
    int missing = 0;
    const char *name = declared;
    for (int i = 0; i < n; i++, name += strlen(name) + 1)
        if (!in_list(seen, exported, name) && missing++ < 5) CHECK(0, "clcnn.h declares %s, libclcnn.so lacks it", name);
    printf("    libclcnn.so exports %d symbols; clcnn.h declares %d functions\n", exported, n);
    CHECK(extra == 0 && missing == 0, "%d exported symbols not in the header, %d declared functions not exported", extra,
          missing);
    /* Internal functions carry their layer's prefix (rt_, ops_, graph_, ...), so that a
     * clcnn_ name always means API: no hidden global of libclcnn.a is named clcnn_. */
    snprintf(cmd, sizeof cmd, "nm --defined-only %s/libclcnn.a 2>/dev/null", build);
    p = popen(cmd, "r");
    CHECK(p != NULL, "cannot run %s", cmd);
    if (!p) return;
    int lookalikes = 0, globals = 0;
    while (fgets(line, sizeof line, p))
        if (sscanf(line, "%*s %c %399s", &kind, sym) == 2 && strchr("TDBR", kind)) {
            globals++;
            if (!strncmp(sym, "clcnn_", 6) && !in_list(declared, n, sym) && lookalikes++ < 5)
                CHECK(0, "libclcnn.a defines %s (%c): internal, but named like the API", sym, kind);
        }
    pclose(p);
    CHECK(globals > exported, "nm read %d global symbols in libclcnn.a", globals);
    printf("    libclcnn.a: %d global symbols, %d of them API\n", globals, exported);
}

/* The config structs' initialisers give what clcnn.h says, and what they make is
 * accepted as it is (a trainer on a one-layer graph). */
static void test_config_defaults(void) {
    const clcnn_train_params tp = clcnn_train_params_default();
    const clcnn_optimizer_params sgd = clcnn_optimizer_defaults(CLCNN_OPT_SGD);
    CHECK(!memcmp(&tp.optimizer, &sgd, sizeof sgd) && tp.schedule.base_lr == 0 && tp.clip_norm == 0 &&
              tp.loss == CLCNN_LOSS_CROSS_ENTROPY && tp.label_smoothing == 0 && !tp.class_weights,
          "clcnn_train_params_default: optimizer %d lr %g, schedule lr %g, clip %g, loss %d", (int)tp.optimizer.kind,
          (double)tp.optimizer.lr, (double)tp.schedule.base_lr, (double)tp.clip_norm, (int)tp.loss);
    const clcnn_loader_params lp = clcnn_loader_params_default();
    const clcnn_normalization imagenet = clcnn_normalization_imagenet();
    CHECK(lp.batch == 32 && lp.size == 224 && !lp.shuffle && !lp.augment && !memcmp(&lp.norm, &imagenet, sizeof imagenet) &&
              lp.seed == 0 && lp.threads == 0 && !lp.skip_bad && !lp.balanced && lp.fit == CLCNN_FIT_CROP &&
              lp.shard == 0 && lp.shards == 0,
          "clcnn_loader_params_default: batch %d size %d shuffle %d", lp.batch, lp.size, lp.shuffle);
    const clcnn_cam_params cp = clcnn_cam_params_default();
    CHECK(cp.method == CLCNN_CAM_GRADCAM && !cp.layer && cp.scorecam_batch == 32,
          "clcnn_cam_params_default: method %d, layer %s, batch %d", (int)cp.method, cp.layer ? cp.layer : "NULL",
          cp.scorecam_batch);
    clcnn_graph *g = NULL;
    clcnn_trainer *t = NULL;
    CHECK_OK(clcnn_graph_create(g_ctx, 3, 4, 4, 1, &g));
    if (g) CHECK_OK(clcnn_graph_linear(g, "fc", "input", 2, 1));
    if (g && !test_failures()) CHECK_OK(clcnn_trainer_create(g, &tp, &t));
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g);
}

/* Host-only code (src/data, src/render, metrics, boxes, localisation) never sees a
 * device: none of it includes runtime/internal.h or an OpenCL header (runtime/error.h
 * is what it has of the runtime). */
static void test_host_only_layers(void) {
    if (access("src/data/loader.c", R_OK) != 0) return test_skip("not run from the repository root");
    FILE *p = popen("grep -l -E '#include [<\"](CL/|runtime/internal\\.h|runtime/kernels\\.h|ops/|graph/)' "
                    "src/data/*.c src/data/*.h src/render/*.c src/train/metrics.c src/explain/boxes.c "
                    "src/explain/localize.c 2>/dev/null", "r");
    CHECK(p != NULL, "cannot run grep");
    if (!p) return;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, p)) {
        CHECK(0, "host-only %.*s includes device code", (int)strcspn(line, "\n"), line);
        n++;
    }
    pclose(p);
    printf("    %d host-only files include device headers\n", n);
}

const test_case test_api_cases[] = {
    {"api_host_only_layers", test_host_only_layers},
    {"api_config_defaults", test_config_defaults},
    {"api_null_and_bad_arguments", test_null_and_bad_arguments},
    {"api_oversized_allocation", test_oversized_allocation},
    {"api_context_mismatch", test_context_mismatch},
    {"api_malformed_weight_files", test_malformed_weight_files},
    {"api_exports", test_exports},
    {NULL, NULL}};
