/* test_loader.c: clcnn_loader_* on small real PNG data sets: every index exactly once per
 * epoch, the data set's order without shuffling and a new order per epoch with it, the
 * last partial batch kept, pixels equal to clcnn_image_prepare's for the image (with the
 * augmentation seed derived from (seed, epoch, index)), identical batches with 1 and 4
 * threads and on a restarted epoch, unreadable images left out and counted (skip_bad = 1)
 * or reported by name (skip_bad = 0), restarting and destroying mid-epoch, and argument
 * errors. Comparisons are exact: the loader must give clcnn_image_prepare's floats. */
#include <stdlib.h>
#include <string.h>
#include "runtime/random.h"
#include "harness.h"
#include "tmptree.h"

enum { SIZE = 8, FLOATS = 3 * SIZE * SIZE, MAX_IMAGES = 64 };

/* ---- data ---- */

/* ROOT/cK/img_II.png for counts[k] images of class k, random sides 5..14 and pixels. */
static int make_images(tmptree *t, int n_classes, const int *counts, test_rng *rng) {
    for (int k = 0; k < n_classes; k++) {
        char rel[64];
        snprintf(rel, sizeof rel, "c%d", k);
        if (!tmptree_mkdir(t, rel)) return 0;
        for (int i = 0; i < counts[k]; i++) {
            clcnn_image im;
            CHECK_OK(clcnn_image_create(test_rng_int(rng, 5, 14), test_rng_int(rng, 5, 14), 3, &im));
            if (!im.pixels) return 0;
            for (int p = 0; p < im.width * im.height * 3; p++) im.pixels[p] = (uint8_t)test_rng_int(rng, 0, 255);
            snprintf(rel, sizeof rel, "c%d/img_%02d.png", k, i);
            const clcnn_status st = clcnn_image_save_png(tmptree_path(t, rel), &im);
            clcnn_image_free(&im);
            CHECK_OK(st);
            if (st != CLCNN_OK) return 0;
        }
    }
    return 1;
}

static clcnn_dataset *open_images(tmptree *t) {
    clcnn_dataset *ds = NULL;
    CHECK_OK(clcnn_dataset_open(t->root, 0, NULL, &ds));
    return ds;
}

static clcnn_loader_params eval_params(int batch, int threads, int shuffle, uint64_t seed) {
    return (clcnn_loader_params){.batch = batch, .size = SIZE, .shuffle = shuffle, .augment = NULL,
                                 .norm = clcnn_normalization_imagenet(), .seed = seed, .threads = threads};
}

/* ---- one epoch, recorded ---- */

typedef struct {
    int batches;                /* non-empty batches handed out */
    int ns[MAX_IMAGES];         /* their sizes */
    int count;                  /* images in all of them */
    int idx[MAX_IMAGES];
    float labels[MAX_IMAGES];
    float x[MAX_IMAGES * FLOATS];
    int errors;                 /* clcnn_loader_next calls that failed */
} run;

static run *run_epoch(clcnn_loader *L, int epoch) {
    run *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    CHECK_OK(clcnn_loader_start(L, epoch));
    for (int guard = 0; guard < 2 * MAX_IMAGES; guard++) {
        clcnn_batch b;
        const clcnn_status st = clcnn_loader_next(L, &b);
        if (st != CLCNN_OK) {
            r->errors++;
            continue;
        }
        if (b.n == 0) break;
        CHECK(r->count + b.n <= MAX_IMAGES, "epoch %d: more than %d images", epoch, MAX_IMAGES);
        if (r->count + b.n > MAX_IMAGES) break;
        r->ns[r->batches++] = b.n;
        memcpy(r->idx + r->count, b.indices, (size_t)b.n * sizeof *b.indices);
        memcpy(r->labels + r->count, b.labels, (size_t)b.n * sizeof *b.labels);
        memcpy(r->x + (size_t)r->count * FLOATS, b.x, (size_t)b.n * FLOATS * sizeof *b.x);
        r->count += b.n;
    }
    /* The end stays the end. */
    clcnn_batch b;
    CHECK(clcnn_loader_next(L, &b) == CLCNN_OK && b.n == 0, "epoch %d: a batch after the end", epoch);
    return r;
}

/* Each of the n images (but `skipped`, -1 for none) exactly once, with its label. */
static void expect_cover(const run *r, const clcnn_dataset *ds, int skipped) {
    const int n = clcnn_dataset_size(ds);
    int seen[MAX_IMAGES] = {0};
    for (int i = 0; i < r->count; i++) {
        const int k = r->idx[i];
        CHECK(k >= 0 && k < n && k != skipped, "image %d of the epoch has index %d", i, k);
        if (k < 0 || k >= n) continue;
        seen[k]++;
        CHECK(r->labels[i] == (float)clcnn_dataset_label(ds, k), "index %d: label %g, expected %d", k,
              (double)r->labels[i], clcnn_dataset_label(ds, k));
    }
    for (int k = 0; k < n; k++)
        CHECK(seen[k] == (k != skipped), "index %d handed out %d times", k, seen[k]);
}

/* Every image's floats are clcnn_image_prepare's, with aug and the seed of (seed, epoch, index). */
static void expect_pixels(const run *r, const clcnn_dataset *ds, const clcnn_augment_params *aug, uint64_t seed,
                          int epoch) {
    const clcnn_normalization norm = clcnn_normalization_imagenet();
    float want[FLOATS];
    for (int i = 0; i < r->count; i++) {
        clcnn_image im;
        const int index = r->idx[i];
        CHECK_OK(clcnn_image_load(clcnn_dataset_path(ds, index), &im));
        const uint64_t image_seed = rt_seed_mix(rt_seed_mix(seed, (uint64_t)epoch), (uint64_t)index);
        CHECK_OK(clcnn_image_prepare(&im, SIZE, aug, image_seed, &norm, want));
        clcnn_image_free(&im);
        CHECK(!memcmp(want, r->x + (size_t)i * FLOATS, sizeof want), "epoch %d: image %d (index %d) differs from "
              "clcnn_image_prepare's", epoch, i, index);
        if (test_failures()) return;
    }
}

static int same_run(const run *a, const run *b) {
    return a->count == b->count && a->batches == b->batches && !memcmp(a->ns, b->ns, sizeof a->ns) &&
           !memcmp(a->idx, b->idx, sizeof a->idx) && !memcmp(a->labels, b->labels, sizeof a->labels) &&
           !memcmp(a->x, b->x, (size_t)a->count * FLOATS * sizeof *a->x);
}

/* ---- tests ---- */

static void test_loader_order_and_cover(void) {
    test_rng rng = {g_seed ^ 0x10ad1ull};
    tmptree t;
    if (!tmptree_open(&t, "loader")) return;
    const int counts[] = {9, 7, 7}; /* 23 images: batches of 5, 5, 5, 5, 3 */
    clcnn_dataset *ds = make_images(&t, 3, counts, &rng) ? open_images(&t) : NULL;
    clcnn_loader *L = NULL;
    run *r0 = NULL, *r1 = NULL, *r2 = NULL;
    if (!ds) goto close_tree;

    /* No shuffle: the data set's order, the last partial batch kept. */
    clcnn_loader_params p = eval_params(5, 2, 0, test_rng_next(&rng));
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    if (!L) goto close_tree;
    CHECK(clcnn_loader_batches(L) == 5, "%d batches per epoch, expected 5", clcnn_loader_batches(L));
    r0 = run_epoch(L, 0);
    if (!r0) goto close_tree;
    const int want_ns[] = {5, 5, 5, 5, 3};
    CHECK(r0->batches == 5 && !memcmp(r0->ns, want_ns, sizeof want_ns) && r0->errors == 0,
          "batches %d of %d %d %d %d %d, errors %d", r0->batches, r0->ns[0], r0->ns[1], r0->ns[2], r0->ns[3],
          r0->ns[4], r0->errors);
    for (int i = 0; i < r0->count; i++) CHECK(r0->idx[i] == i, "image %d of the epoch is index %d", i, r0->idx[i]);
    expect_cover(r0, ds, -1);
    expect_pixels(r0, ds, NULL, p.seed, 0);
    clcnn_loader_destroy(L);

    /* Shuffled: every index once, a new order per epoch, same batch sizes. */
    p = eval_params(5, 3, 1, test_rng_next(&rng));
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    if (!L) goto close_tree;
    r1 = run_epoch(L, 0);
    r2 = run_epoch(L, 1);
    if (!r1 || !r2) goto close_tree;
    expect_cover(r1, ds, -1);
    expect_cover(r2, ds, -1);
    CHECK(!memcmp(r1->ns, want_ns, sizeof want_ns), "shuffled batch sizes differ");
    CHECK(memcmp(r1->idx, r0->idx, sizeof r1->idx) != 0, "shuffled epoch 0 is in the data set's order");
    CHECK(memcmp(r1->idx, r2->idx, sizeof r1->idx) != 0, "epochs 0 and 1 have the same order");
    expect_pixels(r2, ds, NULL, p.seed, 1);
close_tree:
    clcnn_loader_destroy(L);
    free(r0);
    free(r1);
    free(r2);
    clcnn_dataset_destroy(ds);
    tmptree_close(&t);
}

/* balanced = 1 on a 40:4 data set: each epoch as many images as the set, drawn with
 * replacement with the classes equally likely (about half from the small class over
 * ten epochs, each of its images among them), the same draws for the same seed, and
 * the pixels clcnn_image_prepare's for each index drawn. */
static void test_loader_balanced(void) {
    test_rng rng = {g_seed ^ 0xba1a4ull};
    tmptree t;
    if (!tmptree_open(&t, "loader")) return;
    const int counts[] = {40, 4};
    clcnn_dataset *ds = make_images(&t, 2, counts, &rng) ? open_images(&t) : NULL;
    clcnn_loader *L = NULL, *again = NULL;
    run *r = NULL, *r2 = NULL;
    if (!ds) goto close_tree;
    clcnn_loader_params p = eval_params(11, 2, 1, test_rng_next(&rng));
    p.balanced = 1;
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    CHECK_OK(clcnn_loader_create(ds, &p, &again));
    if (!L || !again) goto close_tree;
    int small = 0, total = 0, seen_small[4] = {0};
    for (int epoch = 0; epoch < 10; epoch++) {
        free(r);
        free(r2);
        r = run_epoch(L, epoch);
        r2 = run_epoch(again, epoch);
        if (!r || !r2) goto close_tree;
        CHECK(r->count == 44 && r->errors == 0, "epoch %d: %d images, %d errors", epoch, r->count, r->errors);
        CHECK(same_run(r, r2), "epoch %d: two loaders with one seed drew differently", epoch);
        for (int i = 0; i < r->count; i++) {
            const int k = r->idx[i], label = clcnn_dataset_label(ds, k);
            CHECK(r->labels[i] == (float)label, "index %d: label %g, expected %d", k, (double)r->labels[i], label);
            small += label == 1;
            if (label == 1) seen_small[k - 40]++;
        }
        total += r->count;
        if (epoch == 0) expect_pixels(r, ds, NULL, p.seed, 0);
    }
    /* 440 fair draws: the small class's share within 0.5 +- 0.12 is over 5 standard deviations */
    CHECK(small > 0.38 * total && small < 0.62 * total, "%d of %d draws from the class of 4 images", small, total);
    for (int k = 0; k < 4; k++) CHECK(seen_small[k] > 0, "image %d of the small class never drawn", k);
close_tree:
    clcnn_loader_destroy(L);
    clcnn_loader_destroy(again);
    free(r);
    free(r2);
    clcnn_dataset_destroy(ds);
    tmptree_close(&t);
}

static void test_loader_deterministic(void) {
    test_rng rng = {g_seed ^ 0xde7e7ull};
    tmptree t;
    if (!tmptree_open(&t, "loader")) return;
    const int counts[] = {6, 11};
    clcnn_dataset *ds = make_images(&t, 2, counts, &rng) ? open_images(&t) : NULL;
    clcnn_loader *one = NULL, *four = NULL;
    run *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    if (!ds) goto close_tree;
    clcnn_augment_params aug;
    clcnn_augment_defaults(&aug);
    clcnn_loader_params p = eval_params(4, 1, 1, test_rng_next(&rng));
    p.augment = &aug;
    CHECK_OK(clcnn_loader_create(ds, &p, &one));
    p.threads = 4;
    CHECK_OK(clcnn_loader_create(ds, &p, &four));
    if (!one || !four) goto close_tree;
    aug.hflip = 0; /* the loaders keep their own copies of the augmentation */
    a = run_epoch(one, 2);
    b = run_epoch(four, 2);
    c = run_epoch(one, 3);
    d = run_epoch(one, 2); /* again, after another epoch */
    clcnn_augment_defaults(&aug);
    if (!a || !b || !c || !d) goto close_tree;
    expect_cover(a, ds, -1);
    CHECK(same_run(a, b), "seed %llu epoch 2: 1 and 4 threads give different batches", (unsigned long long)p.seed);
    CHECK(same_run(a, d), "seed %llu epoch 2: a second run differs", (unsigned long long)p.seed);
    CHECK(!same_run(a, c), "epochs 2 and 3 give the same batches");
    expect_pixels(a, ds, &aug, p.seed, 2);
    expect_pixels(c, ds, &aug, p.seed, 3);
close_tree:
    clcnn_loader_destroy(one);
    clcnn_loader_destroy(four);
    free(a);
    free(b);
    free(c);
    free(d);
    clcnn_dataset_destroy(ds);
    tmptree_close(&t);
}

/* Warnings seen by the log callback that mention `user`. */
static int warnings_naming;
static void count_warnings(clcnn_log_level level, const char *message, void *user) {
    if (level == CLCNN_LOG_WARN && strstr(message, (const char *)user)) warnings_naming++;
}

static void test_loader_bad_images(void) {
    test_rng rng = {g_seed ^ 0xbad1ull};
    tmptree t;
    if (!tmptree_open(&t, "loader")) return;
    const int counts[] = {6, 5};
    /* Sorted between img_02.png and img_03.png: index 3 of 12. */
    static const unsigned char corrupt[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR garbage, not a PNG";
    clcnn_dataset *ds = make_images(&t, 2, counts, &rng) && tmptree_write(&t, "c0/img_02b.png", corrupt, sizeof corrupt)
                            ? open_images(&t)
                            : NULL;
    clcnn_loader *L = NULL;
    run *r = NULL;
    if (!ds) goto close_tree;
    CHECK(clcnn_dataset_size(ds) == 12 && strstr(clcnn_dataset_path(ds, 3), "img_02b.png"), "the corrupt file is "
          "not index 3");

    /* skip_bad = 1: left out of its batch (3, 4, 5), which shrinks, counted and logged each time. */
    clcnn_loader_params p = eval_params(3, 2, 0, 7);
    p.skip_bad = 1;
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    if (!L) goto close_tree;
    warnings_naming = 0;
    clcnn_set_log_callback(count_warnings, "img_02b.png", CLCNN_LOG_WARN);
    r = run_epoch(L, 0);
    clcnn_set_log_callback(NULL, NULL, CLCNN_LOG_INFO);
    if (!r) goto close_tree;
    const int want_ns[] = {3, 2, 3, 3};
    CHECK(r->batches == 4 && !memcmp(r->ns, want_ns, sizeof want_ns), "batches %d of %d %d %d %d", r->batches,
          r->ns[0], r->ns[1], r->ns[2], r->ns[3]);
    expect_cover(r, ds, 3);
    expect_pixels(r, ds, NULL, p.seed, 0);
    CHECK(clcnn_loader_bad_images(L) == 1, "%d bad images counted, expected 1", clcnn_loader_bad_images(L));
    CHECK(warnings_naming == 1, "%d warnings name the file, expected 1", warnings_naming);
    free(r);
    r = run_epoch(L, 1);
    CHECK(clcnn_loader_bad_images(L) == 2, "%d bad images after two epochs, expected 2", clcnn_loader_bad_images(L));
    clcnn_loader_destroy(L);
    L = NULL;
    free(r);

    /* Batches of one: the bad image's batch is skipped, never an early n = 0. */
    p.batch = 1;
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    r = L ? run_epoch(L, 0) : NULL;
    if (r) CHECK(r->batches == 11 && r->count == 11, "%d batches of one, expected 11", r->batches);
    clcnn_loader_destroy(L);
    L = NULL;
    free(r);
    r = NULL;

    /* Shares of one image each (batch 2 over 2 ranks): rank 1's share of batch 2 is the
     * bad image alone, an error naming it (skipping the batch would put the ranks out of
     * step); its other batches come as they are. */
    p.batch = 2;
    p.shards = 2;
    p.shard = 1;
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    r = L ? run_epoch(L, 0) : NULL;
    if (r) CHECK(r->errors == 1 && r->batches == 5 && strstr(clcnn_last_error(NULL), "share 2 of 2 of batch 2"),
                 "share 2 of 2: %d errors, %d batches; the last error: %s", r->errors, r->batches,
                 clcnn_last_error(NULL));
    clcnn_loader_destroy(L);
    L = NULL;
    free(r);
    r = NULL;
    p.shards = p.shard = 0;

    /* skip_bad = 0: the batch holding it fails with the file's error; the epoch goes on.
     * A file removed after the data set was read is an I/O error, named too. */
    if (remove(clcnn_dataset_path(ds, 9)) != 0) CHECK(0, "cannot remove %s", clcnn_dataset_path(ds, 9));
    p.batch = 4;
    p.skip_bad = 0;
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    if (!L) goto close_tree;
    CHECK_OK(clcnn_loader_start(L, 0));
    clcnn_batch b;
    const clcnn_status st = clcnn_loader_next(L, &b);
    CHECK(st == CLCNN_ERR_FORMAT, "batch 0: status %d (%s), expected a format error", st, clcnn_status_str(st));
    CHECK(strstr(clcnn_last_error(NULL), "img_02b.png") != NULL, "error \"%s\" does not name img_02b.png",
          clcnn_last_error(NULL));
    CHECK(b.n == 0, "a failed batch has %d images", b.n);
    CHECK_OK(clcnn_loader_next(L, &b));
    CHECK(b.n == 4 && b.indices && b.indices[0] == 4, "batch 1: n %d, first index %d", b.n, b.indices ? b.indices[0] : -1);
    CHECK_STATUS(clcnn_loader_next(L, &b), CLCNN_ERR_IO);
    CHECK(strstr(clcnn_last_error(NULL), clcnn_dataset_path(ds, 9)) != NULL, "error \"%s\" does not name %s",
          clcnn_last_error(NULL), clcnn_dataset_path(ds, 9));
    CHECK(clcnn_loader_next(L, &b) == CLCNN_OK && b.n == 0, "no end after the last batch");
    CHECK(clcnn_loader_bad_images(L) == 0, "skip_bad = 0 counted %d bad images", clcnn_loader_bad_images(L));
close_tree:
    clcnn_loader_destroy(L);
    free(r);
    clcnn_dataset_destroy(ds);
    tmptree_close(&t);
}

static void test_loader_restart_and_destroy(void) {
    test_rng rng = {g_seed ^ 0x57a27ull};
    tmptree t;
    if (!tmptree_open(&t, "loader")) return;
    const int counts[] = {20, 20};
    clcnn_dataset *ds = make_images(&t, 2, counts, &rng) ? open_images(&t) : NULL;
    clcnn_loader *L = NULL;
    run *r = NULL;
    if (!ds) goto close_tree;
    clcnn_augment_params aug;
    clcnn_augment_defaults(&aug);
    clcnn_loader_params p = eval_params(4, 3, 1, test_rng_next(&rng));
    p.augment = &aug;
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    if (!L) goto close_tree;
    clcnn_batch b;
    CHECK_STATUS(clcnn_loader_next(L, &b), CLCNN_ERR_INVALID_ARGUMENT); /* no epoch yet */

    /* Restart after one batch: the same first batch, then a whole clean epoch. */
    float first[4 * FLOATS];
    int first_idx[4] = {-1, -1, -1, -1};
    CHECK_OK(clcnn_loader_start(L, 5));
    CHECK_OK(clcnn_loader_next(L, &b));
    if (b.n == 4) {
        memcpy(first, b.x, sizeof first);
        memcpy(first_idx, b.indices, sizeof first_idx);
    }
    r = run_epoch(L, 5);
    if (r) {
        expect_cover(r, ds, -1);
        CHECK(r->batches == 10 && !memcmp(r->idx, first_idx, sizeof first_idx) &&
                  !memcmp(r->x, first, sizeof first),
              "a restarted epoch 5 does not begin with the same batch");
    }
    /* Restart twice in a row, and with the workers busy on a later epoch. */
    CHECK_OK(clcnn_loader_start(L, 6));
    CHECK_OK(clcnn_loader_start(L, 5));
    CHECK_OK(clcnn_loader_next(L, &b));
    CHECK(b.n == 4 && !memcmp(b.indices, first_idx, sizeof first_idx), "restart before any batch differs");
    /* Destroy mid-epoch, with batches in flight: must return, with no leak. */
    clcnn_loader_destroy(L);
    L = NULL;
    /* Destroy right after create, and right after start. */
    p.threads = 0; /* the number of CPUs */
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    clcnn_loader_destroy(L);
    L = NULL;
    CHECK_OK(clcnn_loader_create(ds, &p, &L));
    if (L) CHECK_OK(clcnn_loader_start(L, 0));
    clcnn_loader_destroy(L);
    L = NULL;

    /* Arguments. */
    clcnn_loader_params bad = p;
    bad.batch = 0;
    CHECK_STATUS(clcnn_loader_create(ds, &bad, &L), CLCNN_ERR_INVALID_ARGUMENT);
    bad = p, bad.size = 0;
    CHECK_STATUS(clcnn_loader_create(ds, &bad, &L), CLCNN_ERR_INVALID_ARGUMENT);
    bad = p, bad.threads = -1;
    CHECK_STATUS(clcnn_loader_create(ds, &bad, &L), CLCNN_ERR_INVALID_ARGUMENT);
    bad = p, bad.norm.std[1] = 0; /* checked once, at creation */
    CHECK_STATUS(clcnn_loader_create(ds, &bad, &L), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(NULL), "clcnn_loader_create") != NULL, "error \"%s\" does not name the call",
          clcnn_last_error(NULL));
    CHECK(L == NULL, "*loader set after an error");
    CHECK_STATUS(clcnn_loader_create(NULL, &p, &L), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_loader_create(ds, NULL, &L), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_loader_start(NULL, 0), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_loader_next(NULL, &b), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(clcnn_loader_batches(NULL) == 0 && clcnn_loader_bad_images(NULL) == 0, "NULL loader answered");
    clcnn_loader_destroy(NULL);
close_tree:
    clcnn_loader_destroy(L);
    free(r);
    clcnn_dataset_destroy(ds);
    tmptree_close(&t);
}

/* Shares of a batch for data parallelism: for 3 shards, each full batch of 6 images is
 * cut into 2 + 2 + 2 in the unsharded loader's order, with its augmentation; a last
 * batch of 5 into 1 + 2 + 2; one of 2 (fewer images than shards) is dropped. */
static void check_shards(const clcnn_dataset *ds, clcnn_loader_params p, int want_batches) {
    clcnn_loader *whole = NULL, *part[3] = {NULL};
    run *w = NULL, *r[3] = {NULL};
    CHECK_OK(clcnn_loader_create(ds, &p, &whole));
    p.shards = 3;
    for (int s = 0; s < 3; s++) {
        p.shard = s;
        CHECK_OK(clcnn_loader_create(ds, &p, &part[s]));
    }
    if (!whole || !part[0] || !part[1] || !part[2]) goto done;
    w = run_epoch(whole, 1);
    for (int s = 0; s < 3; s++) r[s] = run_epoch(part[s], 1);
    if (!w || !r[0] || !r[1] || !r[2]) goto done;
    const int n = clcnn_dataset_size(ds);
    for (int s = 0; s < 3; s++)
        CHECK(clcnn_loader_batches(part[s]) == want_batches && r[s]->batches == want_batches,
              "%d images, share %d: %d batches (%d handed out), want %d", n, s, clcnn_loader_batches(part[s]),
              r[s]->batches, want_batches);
    int at[3] = {0}, pos = 0;
    for (int b = 0; b < want_batches && !test_failures(); b++) {
        const int count = w->ns[b];
        for (int s = 0; s < 3; s++) {
            const int lo = count * s / 3, hi = count * (s + 1) / 3;
            CHECK(r[s]->ns[b] == hi - lo, "%d images, batch %d share %d: %d images, want %d", n, b, s, r[s]->ns[b], hi - lo);
            for (int i = lo; i < hi && !test_failures(); i++, at[s]++) {
                CHECK(r[s]->idx[at[s]] == w->idx[pos + i], "%d images, batch %d share %d: image %d is %d, want %d", n,
                      b, s, i - lo, r[s]->idx[at[s]], w->idx[pos + i]);
                CHECK(!memcmp(r[s]->x + (size_t)at[s] * FLOATS, w->x + (size_t)(pos + i) * FLOATS, FLOATS * sizeof(float)),
                      "%d images, batch %d share %d: image %d prepared otherwise", n, b, s, i - lo);
            }
        }
        pos += count;
    }
done:
    clcnn_loader_destroy(whole);
    for (int s = 0; s < 3; s++) clcnn_loader_destroy(part[s]), free(r[s]);
    free(w);
}

static void test_loader_shards(void) {
    test_rng rng = {g_seed ^ 0x5a4dull};
    tmptree t;
    if (!tmptree_open(&t, "loader")) return;
    const int counts[] = {7, 10}; /* 17 images: 2 full batches of 6 and 5 */
    clcnn_dataset *ds = make_images(&t, 2, counts, &rng) ? open_images(&t) : NULL, *fewer = NULL, *unused = NULL;
    if (!ds) goto close_tree;
    clcnn_augment_params aug;
    clcnn_augment_defaults(&aug);
    clcnn_loader_params p = eval_params(6, 2, 1, test_rng_next(&rng));
    p.augment = &aug;
    check_shards(ds, p, 3);
    /* 14 images: the last batch of 2 is dropped for 3 shards */
    CHECK_OK(clcnn_dataset_split(ds, 0.2f, 5, &fewer, &unused));
    if (fewer && clcnn_dataset_size(fewer) == 14) check_shards(fewer, p, 2);
    else CHECK(0, "the split left %d images, want 14", fewer ? clcnn_dataset_size(fewer) : -1);
    clcnn_loader *L = NULL;
    p.shards = 4; /* 6 is no multiple of 4 */
    CHECK_STATUS(clcnn_loader_create(ds, &p, &L), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(strstr(clcnn_last_error(NULL), "multiple"), "the message: %s", clcnn_last_error(NULL));
    p.shards = 3, p.shard = 3;
    CHECK_STATUS(clcnn_loader_create(ds, &p, &L), CLCNN_ERR_INVALID_ARGUMENT);
close_tree:
    clcnn_dataset_destroy(ds);
    clcnn_dataset_destroy(fewer);
    clcnn_dataset_destroy(unused);
    tmptree_close(&t);
}

const test_case test_loader_cases[] = {
    {"loader_shards", test_loader_shards},
    {"loader_order_and_cover", test_loader_order_and_cover},
    {"loader_deterministic", test_loader_deterministic},
    {"loader_balanced", test_loader_balanced},
    {"loader_bad_images", test_loader_bad_images},
    {"loader_restart_and_destroy", test_loader_restart_and_destroy},
    {NULL, NULL},
};
