/* test_fuzz_regress.c: what the fuzzers of fuzz/ found, kept as tests.
 *
 * Each input of tests/golden/fuzz (made by scripts/make_fuzz_seeds.py: crashes kept byte for
 * byte as the fuzzer wrote them, and hand-made files of the same kind) is fed to the public
 * function that reads such files; it must fail with the expected status and a message that
 * names the file and the reason, and must not have reserved memory its file cannot fill.
 * Then every committed seed of fuzz/corpus is replayed the way its target runs it: each
 * must load or fail cleanly (this puts the seeds under ASan, UBSan and valgrind too). */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include "harness.h"
#include "testutil.h"
#include "tmptree.h"

/* ------------------------------------------------------------ weight files -- */

typedef struct {
    const char *file; /* in tests/golden/fuzz */
    clcnn_status want;
    const char *says; /* part of the message */
} weights_regression;

static const weights_regression weights_regressions[] = {
    /* fuzz_safetensors: the device buffer of a tensor was created before its byte count
     * was checked, so a few header bytes could reserve gigabytes (kept in the pool). */
    {"safetensors_f16_shape_beyond_data.safetensors", CLCNN_ERR_FORMAT,
     "tensor a holds 8 bytes, its shape and dtype need more than the file's 26 data bytes"},
    {"safetensors_1gib_claim.safetensors", CLCNN_ERR_FORMAT, "tensor big holds 16 bytes, its shape and dtype need more than the file's 16"},
    {"safetensors_shape_overflow.safetensors", CLCNN_ERR_FORMAT, "tensor huge holds 8 bytes, its shape and dtype need more than the file's 8"},
};

/* tests/golden/fuzz/FILE (test_golden_path's buffer: valid until its next call). */
static const char *regression_path(const char *file) {
    char rel[128];
    snprintf(rel, sizeof rel, "fuzz/%s", file);
    return test_golden_path(rel);
}

static void test_fuzz_regress_weights(void) {
    for (size_t i = 0; i < sizeof weights_regressions / sizeof weights_regressions[0]; i++) {
        const weights_regression *r = &weights_regressions[i];
        const char *path = regression_path(r->file);
        struct stat sb;
        if (stat(path, &sb) != 0) {
            CHECK(0, "%s: missing", path);
            continue;
        }
        clcnn_context_stats before, after;
        clcnn_context_get_stats(g_ctx, &before);
        clcnn_weights *w = NULL;
        CHECK_STATUS(clcnn_weights_load(g_ctx, path, &w), r->want);
        CHECK(w == NULL, "%s: weights returned with an error", r->file);
        clcnn_weights_destroy(w);
        const char *msg = clcnn_last_error(g_ctx);
        CHECK(strstr(msg, path) && strstr(msg, r->says), "%s: message \"%s\" lacks the path or \"%s\"", r->file, msg,
              r->says);
        clcnn_context_get_stats(g_ctx, &after);
        CHECK(after.pool_bytes_in_use == before.pool_bytes_in_use, "%s: %llu bytes of tensors left in use", r->file,
              (unsigned long long)(after.pool_bytes_in_use - before.pool_bytes_in_use));
        /* Tensors made before the error go back to the pool; none may outgrow the file. */
        CHECK(after.pool_bytes_free <= before.pool_bytes_free + 2 * (uint64_t)sb.st_size,
              "%s: a %lld-byte file left %llu bytes of device memory in the pool", r->file, (long long)sb.st_size,
              (unsigned long long)(after.pool_bytes_free - before.pool_bytes_free));
    }
}

/* ----------------------------------------------------------------- images -- */

typedef struct {
    const char *file; /* in tests/golden/fuzz */
    clcnn_status want;
    const char *says;
} image_regression;

static const image_regression image_regressions[] = {
    /* fuzz_png: an iTXt chunk claiming 1.9 GB in a 328-byte file; libpng allocated and
     * cleared all of it before finding the file truncated (now such chunks are skipped). */
    {"png_itxt_claims_1_9gb.png", CLCNN_ERR_FORMAT, "corrupt or truncated PNG"},
};

/* The process's peak resident memory so far, in MiB. */
static long peak_rss_mib(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss / 1024 : 0;
}

static void test_fuzz_regress_images(void) {
    for (size_t i = 0; i < sizeof image_regressions / sizeof image_regressions[0]; i++) {
        const image_regression *r = &image_regressions[i];
        const char *path = regression_path(r->file);
        const long before = peak_rss_mib();
        clcnn_image im;
        CHECK_STATUS(clcnn_image_load(path, &im), r->want);
        CHECK(im.pixels == NULL && im.width == 0, "%s: image not zeroed after the error", r->file);
        const char *msg = clcnn_last_error(NULL);
        CHECK(strstr(msg, path) && strstr(msg, r->says), "%s: message \"%s\" lacks the path or \"%s\"", r->file, msg,
              r->says);
        /* The peak only rises: a file that made the decoder touch a gigabyte shows here. */
        const long grew = peak_rss_mib() - before;
        CHECK(grew < 256, "%s: decoding raised the peak memory by %ld MiB", r->file, grew);
    }
}

/* ------------------------------------------------------------ seed replay -- */

typedef enum { SEED_IMAGE, SEED_WEIGHTS, SEED_CSV } seed_kind;

/* Run one seed as its target does; 1 when it loaded, 0 when it failed cleanly. */
static int replay(seed_kind kind, const char *name, const unsigned char *data, size_t size, const tmptree *t) {
    clcnn_status st;
    if (kind == SEED_IMAGE) {
        clcnn_image im;
        st = clcnn_image_decode(data, size, name, &im);
        clcnn_image_free(&im);
    } else if (kind == SEED_WEIGHTS) {
        clcnn_weights *w = NULL;
        if (!tmptree_write(t, "seed.safetensors", data, size)) return 0;
        st = clcnn_weights_load(g_ctx, tmptree_path(t, "seed.safetensors"), &w);
        clcnn_weights_destroy(w);
    } else { /* the first byte is the target's options: bit 0, the class list below */
        static const char *const given[] = {"cat", "dog", "7", "a,b"};
        clcnn_dataset *ds = NULL;
        if (size < 1 || !tmptree_write(t, "seed.csv", data + 1, size - 1)) return 0;
        st = clcnn_dataset_open(tmptree_path(t, "seed.csv"), data[0] & 1 ? 4 : 0, data[0] & 1 ? given : NULL, &ds);
        clcnn_dataset_destroy(ds);
    }
    const char *msg = kind == SEED_WEIGHTS ? clcnn_last_error(g_ctx) : clcnn_last_error(NULL);
    CHECK(st == CLCNN_OK || (st < 0 && msg[0]), "%s: status %d (%s) with message \"%s\"", name, st,
          clcnn_status_str(st), msg);
    return st == CLCNN_OK;
}

static void replay_folder(const char *target, seed_kind kind, int want_loaded) {
    char dir[256];
    snprintf(dir, sizeof dir, "fuzz/corpus/%s", target);
    DIR *d = opendir(dir);
    if (!d) {
        test_skip("fuzz/corpus is not in the working directory");
        return;
    }
    tmptree t;
    if (!tmptree_open(&t, "fuzz_regress")) {
        closedir(d);
        return;
    }
    int seen = 0, loaded = 0;
    for (const struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t size;
        unsigned char *data = tu_read_file(path, &size);
        CHECK(data != NULL, "%s: unreadable", path);
        if (!data) continue;
        seen++;
        loaded += replay(kind, path, data, size, &t);
        free(data);
    }
    closedir(d);
    tmptree_close(&t);
    CHECK(seen > 0 && loaded >= want_loaded, "%s: %d seeds, %d loaded (want at least %d)", dir, seen, loaded,
          want_loaded);
}

/* The seeds are valid files: nearly all load (the CSV seeds include broken lists). */
static void test_fuzz_regress_seeds(void) {
    replay_folder("png", SEED_IMAGE, 10);
    replay_folder("jpeg", SEED_IMAGE, 14);
    replay_folder("safetensors", SEED_WEIGHTS, 5);
    replay_folder("csv", SEED_CSV, 4);
}

const test_case test_fuzz_regress_cases[] = {
    {"fuzz_regress_weights", test_fuzz_regress_weights},
    {"fuzz_regress_images", test_fuzz_regress_images},
    {"fuzz_regress_seeds", test_fuzz_regress_seeds},
    {NULL, NULL},
};
