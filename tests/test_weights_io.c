/* test_weights_io.c: clcnn_graph_save and clcnn_weights_load together: a saved graph
 * reads back bit for bit (shapes, values including -0, subnormals, infinities and NaN
 * payloads, metadata) and loads strictly into a fresh graph; the file follows the
 * safetensors layout exactly; saving replaces a file atomically, and a failed save
 * (missing directory, a directory in the way, a full disk) leaves the old file and no
 * temporary file behind; truncated files are format errors, never crashes. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "tmptree.h"
#include "testutil.h"

/* ---- files ---- */

/* A scratch folder and the model file path in it. */
typedef struct {
    tmptree t;
    char path[128];
} scratch_dir;

static int scratch_open(scratch_dir *s) {
    if (!tmptree_open(&s->t, "weights_io")) return 0;
    snprintf(s->path, sizeof s->path, "%s/model.safetensors", s->t.root);
    return 1;
}

/* ---- graphs ---- */

/* Two conv + batch-norm stages and a linear head, named as torchvision names modules. */
static clcnn_graph *small_graph(uint64_t seed) {
    clcnn_graph *g = NULL;
    const clcnn_conv_params same = {.pad_h = 1, .pad_w = 1};
    CHECK_OK(clcnn_graph_create(g_ctx, 3, 9, 7, seed, &g));
    if (!g) return NULL;
    CHECK_OK(clcnn_graph_conv2d(g, "conv1", "input", 5, 3, 3, &same, 1));
    CHECK_OK(clcnn_graph_batchnorm(g, "bn1", "conv1"));
    CHECK_OK(clcnn_graph_activation(g, "relu", "bn1", CLCNN_ACT_RELU));
    CHECK_OK(clcnn_graph_conv2d(g, "layer1.0.conv1", "relu", 6, 1, 1, NULL, 0));
    CHECK_OK(clcnn_graph_batchnorm(g, "layer1.0.bn1", "layer1.0.conv1"));
    CHECK_OK(clcnn_graph_global_avg_pool(g, "avgpool", "layer1.0.bn1"));
    CHECK_OK(clcnn_graph_linear(g, "fc", "avgpool", 3, 1));
    if (test_failures()) {
        clcnn_graph_destroy(g);
        return NULL;
    }
    return g;
}

static clcnn_resnet_config tiny_seresnet(void) {
    return (clcnn_resnet_config){.bottleneck = 0, .stages = 2, .blocks = {1, 1}, .widths = {8, 16}, .se = 1,
                                 .classes = 5, .in_channels = 3, .height = 32, .width = 32};
}

/* Give every parameter and running statistic random values (running variances
 * positive); with specials, the first tensor starts with bit patterns that a careless
 * conversion would change. */
static void randomize(clcnn_graph *g, test_rng *rng, int specials) {
    static const uint32_t special_bits[] = {0x80000000u, 0x00000001u, 0x007fffffu, 0x7f800000u,
                                            0xff800000u, 0x7fc00001u, 0xffc12345u, 0x7f7fffffu};
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        clcnn_tensor *t = clcnn_graph_param(g, name);
        const size_t n = clcnn_tensor_numel(t);
        float *v = malloc(n * sizeof *v);
        if (!v) return;
        const int var = strstr(name, "running_var") != NULL;
        for (size_t k = 0; k < n; k++) v[k] = test_rng_uniform(rng, var ? 0.2f : -3.0f, 3.0f);
        const size_t n_special = sizeof special_bits / sizeof special_bits[0];
        for (size_t k = 0; specials && i == 0 && k < n_special && k < n; k++) memcpy(&v[k], &special_bits[k], 4);
        CHECK_OK(clcnn_tensor_write(t, v, n));
        free(v);
    }
}

/* Same shape and the same bits. */
static void expect_same_tensor(const char *what, const char *name, const clcnn_tensor *a, const clcnn_tensor *b) {
    char sa[64], sb[64];
    if (!a || !b) {
        CHECK(0, "%s: %s is missing", what, name);
        return;
    }
    int same_shape = clcnn_tensor_ndim(a) == clcnn_tensor_ndim(b);
    for (int d = 0; same_shape && d < clcnn_tensor_ndim(a); d++) same_shape = clcnn_tensor_dim(a, d) == clcnn_tensor_dim(b, d);
    CHECK(same_shape, "%s: %s is %s, want %s", what, name, clcnn_tensor_shape_str(b, sb, sizeof sb),
          clcnn_tensor_shape_str(a, sa, sizeof sa));
    if (!same_shape) return;
    const size_t n = clcnn_tensor_numel(a);
    float *va = malloc(n * sizeof *va), *vb = malloc(n * sizeof *vb);
    if (va && vb) {
        CHECK_OK(clcnn_tensor_read(a, va, n));
        CHECK_OK(clcnn_tensor_read(b, vb, n));
        for (size_t k = 0; k < n; k++) {
            uint32_t ua, ub;
            memcpy(&ua, &va[k], 4);
            memcpy(&ub, &vb[k], 4);
            if (ua != ub) {
                CHECK(0, "%s: %s[%zu] has bits %08x, want %08x", what, name, k, (unsigned)ub, (unsigned)ua);
                break;
            }
        }
    }
    free(va);
    free(vb);
}

/* The file holds exactly the graph's parameters, bit for bit. */
static void expect_file_matches(const clcnn_graph *g, const clcnn_weights *w) {
    CHECK(clcnn_weights_count(w) == clcnn_graph_param_count(g), "the file holds %d tensors, the graph %d parameters",
          clcnn_weights_count(w), clcnn_graph_param_count(g));
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        expect_same_tensor("file", name, clcnn_graph_param(g, name), clcnn_weights_get(w, name));
    }
}

static void expect_same_params(const clcnn_graph *want, const clcnn_graph *got) {
    CHECK(clcnn_graph_param_count(want) == clcnn_graph_param_count(got), "%d parameters, want %d",
          clcnn_graph_param_count(got), clcnn_graph_param_count(want));
    for (int i = 0; i < clcnn_graph_param_count(want); i++) {
        const char *name = clcnn_graph_param_name(want, i);
        expect_same_tensor("loaded graph", name, clcnn_graph_param(want, name), clcnn_graph_param(got, name));
    }
}

static const char *const meta_keys[] = {"arch", "classes", "class_names", "note"};
static const char *const meta_values[] = {"tiny", "3", "intact,damaged,unknown", "größe \"quoted\" ✓"};
#define N_META 4

/* ---- tests ---- */

static void test_weights_io_round_trip(void) {
    test_rng rng = {g_seed ^ 0x5a7e1001u};
    scratch_dir s;
    clcnn_graph *g = small_graph(1), *fresh = small_graph(2);
    clcnn_weights *w = NULL;
    if (!g || !fresh || !scratch_open(&s)) goto done;
    randomize(g, &rng, 1);
    CHECK_OK(clcnn_graph_save(g, s.path, N_META, meta_keys, meta_values));
    CHECK_OK(clcnn_weights_load(g_ctx, s.path, &w));
    if (!w) goto close;
    expect_file_matches(g, w);
    for (int i = 0; i < N_META; i++) {
        const char *v = clcnn_weights_metadata(w, meta_keys[i]);
        CHECK(v && !strcmp(v, meta_values[i]), "metadata %s is %s, want %s", meta_keys[i], v ? v : "(none)",
              meta_values[i]);
    }
    CHECK(!clcnn_weights_metadata(w, "made_by"), "metadata nobody gave");
    CHECK(!clcnn_weights_get(w, "bn1.num_batches_tracked"), "the file holds num_batches_tracked");
    int loaded = 0;
    CHECK_OK(clcnn_graph_load(fresh, w, CLCNN_LOAD_STRICT, &loaded));
    CHECK(loaded == clcnn_graph_param_count(g), "strict load copied %d of %d", loaded, clcnn_graph_param_count(g));
    expect_same_params(g, fresh);
close:
    tmptree_close(&s.t);
done:
    clcnn_weights_destroy(w);
    clcnn_graph_destroy(fresh);
    clcnn_graph_destroy(g);
}

/* A ResNet with SE blocks, no metadata: the reloaded network computes the same logits. */
static void test_weights_io_resnet(void) {
    test_rng rng = {g_seed ^ 0x5a7e1002u};
    const clcnn_resnet_config cfg = tiny_seresnet();
    scratch_dir s;
    clcnn_graph *g = NULL, *fresh = NULL;
    clcnn_weights *w = NULL;
    clcnn_tensor *x = NULL;
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 1, &g));
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 2, &fresh));
    CHECK_OK(clcnn_tensor_create(g_ctx, 4, (int[]){2, 3, 32, 32}, &x));
    if (test_failures() || !scratch_open(&s)) goto done;
    randomize(g, &rng, 0);
    CHECK_OK(clcnn_graph_save(g, s.path, 0, NULL, NULL));
    CHECK_OK(clcnn_weights_load(g_ctx, s.path, &w));
    if (!w) goto close;
    expect_file_matches(g, w);
    CHECK(!clcnn_weights_metadata(w, "arch"), "metadata in a file saved without any");
    CHECK_OK(clcnn_graph_load(fresh, w, CLCNN_LOAD_STRICT, NULL));
    expect_same_params(g, fresh);
    float in[2 * 3 * 32 * 32], want[10], got[10];
    for (size_t k = 0; k < sizeof in / sizeof in[0]; k++) in[k] = test_rng_uniform(&rng, -1.0f, 1.0f);
    CHECK_OK(clcnn_tensor_write(x, in, sizeof in / sizeof in[0]));
    clcnn_graph_set_training(g, 0);
    clcnn_graph_set_training(fresh, 0);
    const clcnn_tensor *out = NULL;
    CHECK_OK(clcnn_graph_forward(g, x, &out));
    if (out) CHECK_OK(clcnn_tensor_read(out, want, 10));
    CHECK_OK(clcnn_graph_forward(fresh, x, &out));
    if (out) CHECK_OK(clcnn_tensor_read(out, got, 10));
    CHECK(!test_failures() && !memcmp(want, got, sizeof got), "the reloaded network's logits differ: %g vs %g", got[0],
          want[0]);
close:
    tmptree_close(&s.t);
done:
    clcnn_tensor_destroy(x);
    clcnn_weights_destroy(w);
    clcnn_graph_destroy(fresh);
    clcnn_graph_destroy(g);
}

/* clcnn_model_from_weights leaves out the random initial values that its strict load
 * overwrites: the network holds exactly the file's values; and the skip ends with the
 * call, also when the load fails, so a network built afterwards is initialised as one
 * built before it. */
static void test_weights_io_model_skips_init(void) {
    test_rng rng = {g_seed ^ 0x5a7e1003u};
    clcnn_model_desc desc = {.arch = "compact", .classes = 3, .size = 32, .head_dropout = 0.2f};
    desc.norm = clcnn_normalization_imagenet();
    const clcnn_model_desc other_classes = {.classes = 5};
    scratch_dir s;
    clcnn_graph *before = NULL, *src = NULL, *opened = NULL, *refused = NULL, *after = NULL;
    clcnn_weights *w = NULL;
    CHECK_OK(clcnn_model_build(g_ctx, &desc, 5, &before));
    CHECK_OK(clcnn_model_build(g_ctx, &desc, 9, &src));
    if (test_failures() || !scratch_open(&s)) goto done;
    randomize(src, &rng, 0);
    CHECK_OK(clcnn_model_save(src, &desc, s.path, 0, NULL, NULL));
    CHECK_OK(clcnn_weights_load(g_ctx, s.path, &w));
    if (!w) goto close;
    CHECK_OK(clcnn_model_from_weights(g_ctx, w, NULL, &opened, NULL));
    if (opened) expect_file_matches(opened, w);
    /* layers added after the load get their initial values again (a batch norm's are
     * constants: weight 1, running variance 1, which a reused buffer would not hold) */
    if (opened && clcnn_graph_conv2d(opened, "extra", "input", 8, 1, 1, NULL, 0) == CLCNN_OK &&
        clcnn_graph_batchnorm(opened, "extra_bn", "extra") == CLCNN_OK) {
        float weight[8] = {0}, var[8] = {0};
        const clcnn_tensor *tw = clcnn_graph_param(opened, "extra_bn.weight");
        const clcnn_tensor *tv = clcnn_graph_param(opened, "extra_bn.running_var");
        CHECK(tw && tv && clcnn_tensor_read(tw, weight, 8) == CLCNN_OK && clcnn_tensor_read(tv, var, 8) == CLCNN_OK,
              "reading extra_bn: %s", clcnn_last_error(g_ctx));
        int ones = 0;
        for (int i = 0; i < 8; i++) ones += (weight[i] == 1.0f) + (var[i] == 1.0f);
        CHECK(ones == 16, "a batch norm added after clcnn_model_from_weights: %d of its 16 constants are 1", ones);
    } else {
        CHECK(0, "adding layers after the load: %s", clcnn_last_error(g_ctx));
    }
    const clcnn_status st = clcnn_model_from_weights(g_ctx, w, &other_classes, &refused, NULL);
    CHECK(st == CLCNN_ERR_SHAPE && !refused, "a 3-class file opened as 5 classes: %s (%s), graph %p",
          clcnn_status_str(st), clcnn_last_error(g_ctx), (void *)refused);
    CHECK_OK(clcnn_model_build(g_ctx, &desc, 5, &after));
    if (after) expect_same_params(before, after);
close:
    tmptree_close(&s.t);
done:
    clcnn_weights_destroy(w);
    clcnn_graph_destroy(after);
    clcnn_graph_destroy(refused);
    clcnn_graph_destroy(opened);
    clcnn_graph_destroy(src);
    clcnn_graph_destroy(before);
}

/* The bytes themselves: what the safetensors reference reader requires (header length
 * a multiple of 8, padding spaces, F32 entries with contiguous offsets from 0 that
 * cover the data exactly, no other bytes), little-endian data. */
static void test_weights_io_file_layout(void) {
    test_rng rng = {g_seed ^ 0x5a7e1003u};
    scratch_dir s;
    clcnn_graph *g = small_graph(1);
    unsigned char *bytes = NULL;
    json_t *header = NULL;
    float *first = NULL;
    if (!g || !scratch_open(&s)) goto done;
    randomize(g, &rng, 1);
    CHECK_OK(clcnn_graph_save(g, s.path, N_META, meta_keys, meta_values));
    size_t size = 0;
    if (!(bytes = tu_read_file(s.path, &size)) || size < 8) {
        CHECK(0, "cannot read back %s", s.path);
        goto close;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | bytes[i];
    CHECK(hlen % 8 == 0 && hlen <= size - 8, "header length %llu (file %zu bytes)", (unsigned long long)hlen, size);
    if (test_failures()) goto close;
    CHECK(bytes[8] == '{', "the header starts with '%c'", bytes[8]);
    json_error_t err;
    if (!(header = json_loadb((const char *)bytes + 8, hlen, 0, &err))) {
        CHECK(0, "the header is not JSON: %s", err.text);
        goto close;
    }
    size_t end = hlen; /* the padding: spaces after the JSON text */
    while (end > 0 && bytes[8 + end - 1] == ' ') end--;
    CHECK(bytes[8 + end - 1] == '}' && hlen - end < 8, "header padding of %zu bytes", (size_t)(hlen - end));
    json_t *meta = json_object_get(header, "__metadata__");
    CHECK(json_object_size(meta) == N_META, "__metadata__ holds %zu entries", json_object_size(meta));
    for (int i = 0; i < N_META; i++) {
        const char *v = json_string_value(json_object_get(meta, meta_keys[i]));
        CHECK(v && !strcmp(v, meta_values[i]), "__metadata__.%s is %s", meta_keys[i], v ? v : "(not a string)");
    }
    CHECK(json_object_size(header) == (size_t)clcnn_graph_param_count(g) + 1, "the header has %zu entries",
          json_object_size(header));
    json_int_t offset = 0;
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        const clcnn_tensor *t = clcnn_graph_param(g, name);
        json_t *e = json_object_get(header, name), *shape = json_object_get(e, "shape");
        json_t *offs = json_object_get(e, "data_offsets");
        CHECK(json_object_size(e) == 3 && json_is_string(json_object_get(e, "dtype")) &&
                  !strcmp(json_string_value(json_object_get(e, "dtype")), "F32"),
              "%s: not a 3-field F32 entry", name);
        CHECK(json_array_size(shape) == (size_t)clcnn_tensor_ndim(t), "%s: shape of %zu dims", name,
              json_array_size(shape));
        for (int d = 0; d < clcnn_tensor_ndim(t); d++)
            CHECK(json_integer_value(json_array_get(shape, (size_t)d)) == clcnn_tensor_dim(t, d), "%s: dim %d", name, d);
        const json_int_t a = json_integer_value(json_array_get(offs, 0)), b = json_integer_value(json_array_get(offs, 1));
        CHECK(json_array_size(offs) == 2 && a == offset && b == a + (json_int_t)(4 * clcnn_tensor_numel(t)),
              "%s: data_offsets [%lld, %lld], want [%lld, ...]", name, (long long)a, (long long)b, (long long)offset);
        offset = b;
    }
    CHECK((uint64_t)offset == size - 8 - hlen, "tensors cover %lld bytes of %llu data bytes", (long long)offset,
          (unsigned long long)(size - 8 - hlen));
    /* The first tensor's values, decoded as little-endian, are the device's bits. */
    const clcnn_tensor *t0 = clcnn_graph_param(g, clcnn_graph_param_name(g, 0));
    const size_t n0 = clcnn_tensor_numel(t0);
    if (!(first = malloc(n0 * sizeof *first)) || test_failures()) goto close;
    CHECK_OK(clcnn_tensor_read(t0, first, n0));
    for (size_t k = 0; k < n0; k++) {
        const unsigned char *p = bytes + 8 + hlen + 4 * k;
        const uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        uint32_t want;
        memcpy(&want, &first[k], 4);
        if (le != want) {
            CHECK(0, "value %zu is stored as %08x, want %08x (little-endian)", k, (unsigned)le, (unsigned)want);
            break;
        }
    }
close:
    tmptree_close(&s.t);
done:
    free(first);
    json_decref(header);
    free(bytes);
    clcnn_graph_destroy(g);
}

/* Saving over a file replaces it and leaves nothing else in the folder. */
static void test_weights_io_replace(void) {
    test_rng rng = {g_seed ^ 0x5a7e1004u};
    scratch_dir s;
    clcnn_graph *a = small_graph(1), *b = NULL;
    clcnn_weights *w = NULL;
    const clcnn_resnet_config cfg = tiny_seresnet();
    CHECK_OK(clcnn_resnet_build(g_ctx, &cfg, 3, &b));
    if (!a || !b || !scratch_open(&s)) goto done;
    randomize(a, &rng, 0);
    static const char *const k1[] = {"arch"}, *const v1[] = {"first"}, *const v2[] = {"second"};
    CHECK_OK(clcnn_graph_save(a, s.path, 1, k1, v1));
    /* The new file keeps the old one's permissions; a stale temporary of this process's id goes. */
    CHECK(chmod(s.path, 0640) == 0, "chmod: %s", strerror(errno));
    char stale[160];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", s.path, (long)getpid());
    CHECK(tu_write_file(stale, (const unsigned char *)"junk", 4), "cannot write %s", stale);
    CHECK_OK(clcnn_graph_save(b, s.path, 1, k1, v2));
    struct stat st;
    CHECK(stat(s.path, &st) == 0 && (st.st_mode & 0777) == 0640, "mode %o after replacing a 0640 file",
          (unsigned)(st.st_mode & 0777));
    CHECK_OK(clcnn_weights_load(g_ctx, s.path, &w));
    if (w) {
        expect_file_matches(b, w);
        const char *v = clcnn_weights_metadata(w, "arch");
        CHECK(v && !strcmp(v, "second"), "metadata arch is %s after the second save", v ? v : "(none)");
    }
    const int tmp_files = tmptree_count(&s.t, ".tmp."), n = tmptree_count(&s.t, NULL);
    CHECK(n == 1 && tmp_files == 0, "the folder holds %d entries (%d temporaries), want just the file", n, tmp_files);
    tmptree_close(&s.t);
done:
    clcnn_weights_destroy(w);
    clcnn_graph_destroy(b);
    clcnn_graph_destroy(a);
}

/* Saving fails cleanly: a missing folder, a folder in the way, bad arguments. */
static void test_weights_io_save_errors(void) {
    scratch_dir s;
    clcnn_graph *g = small_graph(1);
    if (!g || !scratch_open(&s)) goto done;
    char missing[192], blocked[192];
    snprintf(missing, sizeof missing, "%s/no_such_dir/model.safetensors", s.t.root);
    CHECK_STATUS(clcnn_graph_save(g, missing, 0, NULL, NULL), CLCNN_ERR_IO);
    CHECK(strstr(clcnn_last_error(g_ctx), missing) && strstr(clcnn_last_error(g_ctx), strerror(ENOENT)),
          "the error does not name the path and the reason: %s", clcnn_last_error(g_ctx));
    /* path is a folder: the rename fails; the folder stays, the temporary goes. */
    snprintf(blocked, sizeof blocked, "%s/blocked", s.t.root);
    CHECK(mkdir(blocked, 0700) == 0, "mkdir %s: %s", blocked, strerror(errno));
    CHECK_STATUS(clcnn_graph_save(g, blocked, 0, NULL, NULL), CLCNN_ERR_IO);
    CHECK(strstr(clcnn_last_error(g_ctx), blocked) != NULL, "the error does not name the path: %s",
          clcnn_last_error(g_ctx));
    struct stat st;
    CHECK(stat(blocked, &st) == 0 && S_ISDIR(st.st_mode), "the folder in the way was replaced");
    const int tmp_files = tmptree_count(&s.t, ".tmp."), n = tmptree_count(&s.t, NULL);
    CHECK(n == 1 && tmp_files == 0, "%d entries (%d temporaries) after failed saves, want the folder only", n, tmp_files);
    /* Bad arguments: nothing is written. */
    static const char *const keys[] = {"arch", "arch"}, *const values[] = {"a", "b"}, *const null_value[] = {NULL};
    static const char *const bad_utf8[] = {"\xff\xfe"};
    CHECK_STATUS(clcnn_graph_save(NULL, s.path, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_save(g, NULL, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_save(g, s.path, -1, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_save(g, s.path, 1, NULL, values), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_save(g, s.path, 1, keys, null_value), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_graph_save(g, s.path, 2, keys, values), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(g_ctx), "arch") != NULL, "the error does not name the key: %s", clcnn_last_error(g_ctx));
    CHECK_STATUS(clcnn_graph_save(g, s.path, 1, keys, bad_utf8), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(g_ctx), "clcnn_graph_save") != NULL, "the error does not name the call: %s",
          clcnn_last_error(g_ctx));
    /* The lower-level call names itself. */
    CHECK_STATUS(clcnn_safetensors_save(g_ctx, s.path, 0, NULL, NULL, 1, keys, bad_utf8), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(g_ctx), "clcnn_safetensors_save") != NULL, "the error does not name the call: %s",
          clcnn_last_error(g_ctx));
    CHECK(access(s.path, F_OK) != 0, "a refused save wrote %s", s.path);
    tmptree_close(&s.t);
done:
    clcnn_graph_destroy(g);
}

/* A full disk, as a file-size limit: the write fails midway; the old file is intact,
 * the temporary is gone. (Not running as root, a read-only folder is tried as well.) */
static void test_weights_io_full_disk(void) {
    test_rng rng = {g_seed ^ 0x5a7e1005u};
    scratch_dir s;
    clcnn_graph *g = small_graph(1);
    unsigned char *before = NULL, *after = NULL;
    if (!g || !scratch_open(&s)) goto done;
    CHECK_OK(clcnn_graph_save(g, s.path, 0, NULL, NULL));
    size_t n_before = 0, n_after = 0;
    before = tu_read_file(s.path, &n_before);
    randomize(g, &rng, 0);
    struct rlimit old_limit, limit;
    CHECK(getrlimit(RLIMIT_FSIZE, &old_limit) == 0, "getrlimit: %s", strerror(errno));
    if (!before || test_failures()) goto close;
    limit = old_limit;
    limit.rlim_cur = n_before / 2;
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of the signal */
    CHECK(setrlimit(RLIMIT_FSIZE, &limit) == 0, "setrlimit: %s", strerror(errno));
    const clcnn_status st = clcnn_graph_save(g, s.path, 0, NULL, NULL);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    signal(SIGXFSZ, old_handler);
    CHECK(st == CLCNN_ERR_IO, "a save past the size limit -> %d (%s)", st, clcnn_status_str(st));
    CHECK(strstr(clcnn_last_error(g_ctx), s.path) && strstr(clcnn_last_error(g_ctx), strerror(EFBIG)),
          "the error does not name the path and the reason: %s", clcnn_last_error(g_ctx));
    if (geteuid() != 0) { /* root writes into read-only folders anyway */
        CHECK(chmod(s.t.root, 0500) == 0, "chmod: %s", strerror(errno));
        CHECK_STATUS(clcnn_graph_save(g, s.path, 0, NULL, NULL), CLCNN_ERR_IO);
        CHECK(strstr(clcnn_last_error(g_ctx), strerror(EACCES)) != NULL, "read-only folder: %s", clcnn_last_error(g_ctx));
        chmod(s.t.root, 0700);
    }
    after = tu_read_file(s.path, &n_after);
    CHECK(after && n_after == n_before && !memcmp(before, after, n_before), "the old file changed (%zu -> %zu bytes)",
          n_before, n_after);
    const int tmp_files = tmptree_count(&s.t, ".tmp."), n = tmptree_count(&s.t, NULL);
    CHECK(n == 1 && tmp_files == 0, "%d entries (%d temporaries) after a failed save", n, tmp_files);
close:
    tmptree_close(&s.t);
done:
    free(after);
    free(before);
    clcnn_graph_destroy(g);
}

/* Every cut of a saved file, in the length, the header or the data, is a format error. */
static void test_weights_io_truncated(void) {
    scratch_dir s;
    clcnn_graph *g = small_graph(1);
    unsigned char *bytes = NULL;
    if (!g || !scratch_open(&s)) goto done;
    CHECK_OK(clcnn_graph_save(g, s.path, N_META, meta_keys, meta_values));
    size_t size = 0;
    if (!(bytes = tu_read_file(s.path, &size)) || size < 64) {
        CHECK(0, "cannot read back %s", s.path);
        goto close;
    }
    size_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | bytes[i];
    const size_t cuts[] = {0, 1, 7, 8, 9, 12, 8 + hlen / 2, 8 + hlen - 1, 8 + hlen, 8 + hlen + 1, 8 + hlen + 4,
                           (8 + hlen + size) / 2, size - 5, size - 4, size - 1};
    char cut_path[160];
    snprintf(cut_path, sizeof cut_path, "%s/cut.safetensors", s.t.root);
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (!tu_write_file(cut_path, bytes, cuts[i])) {
            CHECK(0, "cannot write %s", cut_path);
            break;
        }
        clcnn_weights *w = NULL;
        const clcnn_status st = clcnn_weights_load(g_ctx, cut_path, &w);
        CHECK(st == CLCNN_ERR_FORMAT && w == NULL, "the file cut to %zu of %zu bytes (header %zu) -> %d (%s)", cuts[i],
              size, hlen, st, clcnn_status_str(st));
        if (st == CLCNN_OK) clcnn_weights_destroy(w);
    }
    clcnn_weights *whole = NULL; /* the uncut file still loads */
    CHECK_OK(clcnn_weights_load(g_ctx, s.path, &whole));
    clcnn_weights_destroy(whole);
close:
    tmptree_close(&s.t);
done:
    free(bytes);
    clcnn_graph_destroy(g);
}

const test_case test_weights_io_cases[] = {
    {"weights_io_round_trip", test_weights_io_round_trip},
    {"weights_io_resnet", test_weights_io_resnet},
    {"weights_io_model_skips_init", test_weights_io_model_skips_init},
    {"weights_io_file_layout", test_weights_io_file_layout},
    {"weights_io_replace", test_weights_io_replace},
    {"weights_io_save_errors", test_weights_io_save_errors},
    {"weights_io_full_disk", test_weights_io_full_disk},
    {"weights_io_truncated", test_weights_io_truncated},
    {NULL, NULL},
};
