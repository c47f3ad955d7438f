/* test_dataset.c: clcnn_dataset_open and clcnn_dataset_split. ImageFolder trees (class
 * and file order, nested folders in torchvision's order, extension case, hidden entries,
 * files in the root, symlinks (a loop skipped), empty
 * classes, a given class list), CSV lists (header or not, blank lines, CRLF, quotes,
 * relative and absolute paths, numeric labels, malformed lines named by number), the
 * errors, and the stratified split (counts per class, determinism per seed, disjoint
 * halves whose union is the whole set, order kept). The data set does not decode, so
 * the image files here are a few fixed bytes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#include "tmptree.h"

static const char fake_png[] = "\x89PNG\r\n\x1a\n not really";

/* The last error of this thread mentions `part`. */
#define CHECK_ERROR_HAS(part)                                                                                         \
    CHECK(strstr(clcnn_last_error(NULL), (part)) != NULL, "error \"%s\" does not mention \"%s\"",                    \
          clcnn_last_error(NULL), (part))

/* The data set has exactly these classes, in this order. */
static void expect_classes(const clcnn_dataset *ds, int n, const char *const *names) {
    CHECK(clcnn_dataset_class_count(ds) == n, "%d classes, expected %d", clcnn_dataset_class_count(ds), n);
    for (int k = 0; k < n && k < clcnn_dataset_class_count(ds); k++)
        CHECK(!strcmp(clcnn_dataset_class_name(ds, k), names[k]), "class %d is \"%s\", expected \"%s\"", k,
              clcnn_dataset_class_name(ds, k), names[k]);
}

/* Image i of ds is `path` with label `label`. */
static void expect_image(const clcnn_dataset *ds, int i, const char *path, int label) {
    const char *got = clcnn_dataset_path(ds, i);
    CHECK(got && !strcmp(got, path), "image %d is %s, expected %s", i, got ? got : "(none)", path);
    CHECK(clcnn_dataset_label(ds, i) == label, "image %d (%s) has label %d, expected %d", i, path,
          clcnn_dataset_label(ds, i), label);
}

/* ---- ImageFolder ---- */

/* ROOT/{C,a,b,empty,linked->elsewhere}, with decoys that must be ignored; class a has
 * images in nested folders, as torchvision's ImageFolder takes them. */
static int make_folder_tree(tmptree *t) {
    static const char *const images[] = {"a/2.png", "a/10.JPG", "a/b.jpeg", "a/c.Jpeg", "b/x.png", "C/z.PNG",
                                         "elsewhere/q.jpg", "a/sub.png/inner.png", "a/x/y.png", "a/x-y/z.png",
                                         "a/x/deep/d.png"};
    static const char *const decoys[] = {"a/.hidden.png", "a/notes.txt", "a/d.gif", "a/png", "a/.png",
                                         ".hidden/h.png", "x.png", "readme.txt", "a/.git/h.png"};
    int ok = tmptree_mkdir(t, "empty");
    for (size_t i = 0; i < sizeof images / sizeof images[0]; i++) ok &= tmptree_write(t, images[i], fake_png, 0);
    for (size_t i = 0; i < sizeof decoys / sizeof decoys[0]; i++) ok &= tmptree_write(t, decoys[i], fake_png, 0);
    ok &= tmptree_symlink(t, "../b/x.png", "a/link.png");          /* a file link: followed */
    ok &= tmptree_symlink(t, "../b/missing.png", "a/broken.png");  /* a broken link: skipped */
    ok &= tmptree_symlink(t, "elsewhere", "linked");               /* a folder link: a class */
    ok &= tmptree_symlink(t, "..", "a/x/up");                      /* a loop: skipped, with a warning */
    return ok;
}

/* The tree above as a data set rooted at `root` (the path as the caller wrote it). */
static void expect_folder_tree(const clcnn_dataset *ds, const char *root) {
    /* Byte order: upper case before lower case, '1' before '2'; "elsewhere" is a class
     * too. Within a class, folder by folder in byte order of their paths (torchvision's
     * sorted(os.walk(...)), checked with its make_dataset): a/x-y comes before a/x/deep. */
    static const char *const classes[] = {"C", "a", "b", "elsewhere", "empty", "linked"};
    static const struct {
        const char *rel;
        int label;
    } want[] = {{"C/z.PNG", 0},     {"a/10.JPG", 1},          {"a/2.png", 1},        {"a/b.jpeg", 1},
                {"a/c.Jpeg", 1},    {"a/link.png", 1},        {"a/sub.png/inner.png", 1}, {"a/x/y.png", 1},
                {"a/x-y/z.png", 1}, {"a/x/deep/d.png", 1},    {"b/x.png", 2},        {"elsewhere/q.jpg", 3},
                {"linked/q.jpg", 5}};
    const int n = (int)(sizeof want / sizeof want[0]);
    expect_classes(ds, 6, classes);
    CHECK(clcnn_dataset_size(ds) == n, "%d images, expected %d", clcnn_dataset_size(ds), n);
    char path[1024];
    for (int i = 0; i < n && i < clcnn_dataset_size(ds); i++) {
        snprintf(path, sizeof path, "%s/%s", root, want[i].rel);
        expect_image(ds, i, path, want[i].label);
    }
}

static void test_dataset_folder_order(void) {
    tmptree t;
    if (!tmptree_open(&t, "dataset") || !make_folder_tree(&t)) goto close_tree;
    clcnn_dataset *ds = NULL;
    CHECK_OK(clcnn_dataset_open(t.root, 0, NULL, &ds));
    if (ds) expect_folder_tree(ds, t.root);
    clcnn_dataset_destroy(ds);
    /* A trailing slash on the root gives the same paths, without "//". */
    char slashed[128];
    snprintf(slashed, sizeof slashed, "%s//", t.root);
    ds = NULL;
    CHECK_OK(clcnn_dataset_open(slashed, 0, NULL, &ds));
    if (ds) expect_folder_tree(ds, t.root);
    /* Out-of-range queries are harmless. */
    CHECK(clcnn_dataset_path(ds, -1) == NULL && clcnn_dataset_path(ds, 99) == NULL, "path out of range not NULL");
    CHECK(clcnn_dataset_label(ds, 99) == -1 && clcnn_dataset_class_name(ds, 6) == NULL, "out of range not -1/NULL");
    CHECK(clcnn_dataset_size(NULL) == 0 && clcnn_dataset_class_count(NULL) == 0, "NULL data set not empty");
    clcnn_dataset_destroy(ds);
    clcnn_dataset_destroy(NULL);
close_tree:
    tmptree_close(&t);
}

static void test_dataset_given_classes(void) {
    tmptree t;
    if (!tmptree_open(&t, "dataset") || !make_folder_tree(&t)) goto close_tree;
    /* The given order decides the labels; extra classes may have no folder; images
     * stay in folder-name order. */
    const char *const given[] = {"linked", "b", "empty", "a", "zzz", "C", "elsewhere"};
    static const char *const want_classes[] = {"linked", "b", "empty", "a", "zzz", "C", "elsewhere"};
    clcnn_dataset *ds = NULL;
    CHECK_OK(clcnn_dataset_open(t.root, 7, given, &ds));
    if (ds) {
        expect_classes(ds, 7, want_classes);
        expect_image(ds, 0, tmptree_path(&t, "C/z.PNG"), 5);
        expect_image(ds, 1, tmptree_path(&t, "a/10.JPG"), 3);
        expect_image(ds, 9, tmptree_path(&t, "a/x/deep/d.png"), 3);
        expect_image(ds, 10, tmptree_path(&t, "b/x.png"), 1);
        expect_image(ds, 11, tmptree_path(&t, "elsewhere/q.jpg"), 6);
        expect_image(ds, 12, tmptree_path(&t, "linked/q.jpg"), 0);
    }
    clcnn_dataset_destroy(ds);

    /* A class folder outside the list is named. */
    const char *const missing_b[] = {"C", "a", "elsewhere", "empty", "linked"};
    ds = (clcnn_dataset *)1;
    CHECK_STATUS(clcnn_dataset_open(t.root, 5, missing_b, &ds), CLCNN_ERR_NOT_FOUND);
    CHECK(ds == NULL, "*ds not NULL after an error");
    CHECK_ERROR_HAS("\"b\"");
    /* A bad list is the caller's mistake. */
    const char *const twice[] = {"a", "b", "a"};
    CHECK_STATUS(clcnn_dataset_open(t.root, 3, twice, &ds), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dataset_open(t.root, 0, given, &ds), CLCNN_ERR_INVALID_ARGUMENT);
    const char *const null_name[] = {"a", NULL};
    CHECK_STATUS(clcnn_dataset_open(t.root, 2, null_name, &ds), CLCNN_ERR_INVALID_ARGUMENT);
close_tree:
    tmptree_close(&t);
}

static void test_dataset_empty_and_errors(void) {
    tmptree t;
    if (!tmptree_open(&t, "dataset")) return;
    clcnn_dataset *ds = NULL;
    /* No class folders at all (a file in the root is not a class). */
    tmptree_write(&t, "only.png", fake_png, 0);
    CHECK_STATUS(clcnn_dataset_open(t.root, 0, NULL, &ds), CLCNN_ERR_NOT_FOUND);
    CHECK_ERROR_HAS(t.root);
    /* Class folders without images. */
    tmptree_mkdir(&t, "cats");
    tmptree_write(&t, "dogs/list.txt", "not an image", 0);
    CHECK_STATUS(clcnn_dataset_open(t.root, 0, NULL, &ds), CLCNN_ERR_NOT_FOUND);
    CHECK(ds == NULL, "*ds set for an empty set");
    /* Missing paths, NULLs. */
    CHECK_STATUS(clcnn_dataset_open(tmptree_path(&t, "nowhere"), 0, NULL, &ds), CLCNN_ERR_IO);
    CHECK_ERROR_HAS("nowhere");
    CHECK_STATUS(clcnn_dataset_open(NULL, 0, NULL, &ds), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dataset_open(t.root, 0, NULL, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    tmptree_close(&t);
}

/* ---- CSV ---- */

static void test_dataset_csv(void) {
    tmptree t;
    if (!tmptree_open(&t, "dataset")) return;
    clcnn_dataset *ds = NULL;
    /* Header, a UTF-8 byte order mark, CRLF, blank lines, spaces, quotes, an absolute path. */
    char text[512];
    snprintf(text, sizeof text,
             "\xEF\xBB\xBFpath,label\r\n"
             "img/1.png,dog\r\n"
             "\r\n"
             "  img/2.png , cat \n"
             "   \n"
             "\"img/a,b.png\",\"big \"\"cat\"\"\"\n"
             "%s/abs.jpg,dog\n",
             t.root);
    tmptree_write(&t, "lists/train.csv", text, 0);
    CHECK_OK(clcnn_dataset_open(tmptree_path(&t, "lists/train.csv"), 0, NULL, &ds));
    if (ds) {
        static const char *const classes[] = {"big \"cat\"", "cat", "dog"};
        expect_classes(ds, 3, classes);
        CHECK(clcnn_dataset_size(ds) == 4, "%d images, expected 4", clcnn_dataset_size(ds));
        /* Relative paths are relative to the CSV's folder; the file's order is kept. */
        expect_image(ds, 0, tmptree_path(&t, "lists/img/1.png"), 2);
        expect_image(ds, 1, tmptree_path(&t, "lists/img/2.png"), 1);
        expect_image(ds, 2, tmptree_path(&t, "lists/img/a,b.png"), 0);
        expect_image(ds, 3, tmptree_path(&t, "abs.jpg"), 2);
    }
    clcnn_dataset_destroy(ds);

    /* No header; integer labels sort by value (2 < 10), not as text. */
    tmptree_write(&t, "num.csv", "a.png,10\nb.png,2\nc.png,0\nd.png,2\n", 0);
    ds = NULL;
    CHECK_OK(clcnn_dataset_open(tmptree_path(&t, "num.csv"), 0, NULL, &ds));
    if (ds) {
        static const char *const classes[] = {"0", "2", "10"};
        expect_classes(ds, 3, classes);
        expect_image(ds, 0, tmptree_path(&t, "a.png"), 2);
        expect_image(ds, 1, tmptree_path(&t, "b.png"), 1);
        expect_image(ds, 2, tmptree_path(&t, "c.png"), 0);
        expect_image(ds, 3, tmptree_path(&t, "d.png"), 1);
    }
    clcnn_dataset_destroy(ds);
    /* One non-integer label makes them all names, sorted byte-wise. */
    tmptree_write(&t, "mixed.csv", "a.png,10\nb.png,2\nc.png,x\n", 0);
    ds = NULL;
    CHECK_OK(clcnn_dataset_open(tmptree_path(&t, "mixed.csv"), 0, NULL, &ds));
    if (ds) {
        static const char *const classes[] = {"10", "2", "x"};
        expect_classes(ds, 3, classes);
    }
    clcnn_dataset_destroy(ds);

    /* A given class list: labels outside it are named. */
    const char *const given[] = {"dog", "cat"};
    tmptree_write(&t, "two.csv", "path,label\na.png,cat\nb.png,dog\n", 0);
    ds = NULL;
    CHECK_OK(clcnn_dataset_open(tmptree_path(&t, "two.csv"), 2, given, &ds));
    CHECK(ds && clcnn_dataset_label(ds, 0) == 1 && clcnn_dataset_label(ds, 1) == 0, "given list not applied");
    clcnn_dataset_destroy(ds);
    tmptree_write(&t, "three.csv", "a.png,cat\nb.png,bird\n", 0);
    CHECK_STATUS(clcnn_dataset_open(tmptree_path(&t, "three.csv"), 2, given, &ds), CLCNN_ERR_NOT_FOUND);
    CHECK_ERROR_HAS("\"bird\"");
    tmptree_close(&t);
}

static void test_dataset_csv_errors(void) {
    tmptree t;
    if (!tmptree_open(&t, "dataset")) return;
    static const struct {
        const char *text;
        const char *where; /* file:line in the message */
        const char *why;   /* and a word of the reason */
    } bad[] = {
        {"path,label\na.png,cat\n\nb.png\n", "bad.csv:4:", "one field"},
        {"a.png,cat,extra\n", "bad.csv:1:", "more than two"},
        {"a.png,cat\n\"b.png,dog\n", "bad.csv:2:", "not closed"},
        {"a.png,\n", "bad.csv:1:", "empty label"},
        {",cat\n", "bad.csv:1:", "empty path"},
        {"a\"b.png,cat\n", "bad.csv:1:", "quote"},
        {"\"a.png\"x,cat\n", "bad.csv:1:", "closing quote"},
        {"path,label,extra\na.png,cat\n", "bad.csv:1:", "more than two"}, /* not the header */
    };
    clcnn_dataset *ds = NULL;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tmptree_write(&t, "bad.csv", bad[i].text, 0);
        const clcnn_status st = clcnn_dataset_open(tmptree_path(&t, "bad.csv"), 0, NULL, &ds);
        CHECK(st == CLCNN_ERR_FORMAT, "case %zu: status %d (%s), expected a format error", i, st,
              clcnn_status_str(st));
        CHECK(ds == NULL, "case %zu: *ds set", i);
        CHECK(strstr(clcnn_last_error(NULL), bad[i].where) && strstr(clcnn_last_error(NULL), bad[i].why),
              "case %zu: error \"%s\" does not say \"%s\" and \"%s\"", i, clcnn_last_error(NULL), bad[i].where,
              bad[i].why);
        clcnn_dataset_destroy(ds);
        ds = NULL;
    }
    /* A header alone, blank lines alone: empty sets. */
    tmptree_write(&t, "empty.csv", "path,label\n\n", 0);
    CHECK_STATUS(clcnn_dataset_open(tmptree_path(&t, "empty.csv"), 0, NULL, &ds), CLCNN_ERR_NOT_FOUND);
    tmptree_write(&t, "void.csv", "", 0);
    CHECK_STATUS(clcnn_dataset_open(tmptree_path(&t, "void.csv"), 0, NULL, &ds), CLCNN_ERR_NOT_FOUND);
    CHECK_STATUS(clcnn_dataset_open(tmptree_path(&t, "missing.csv"), 0, NULL, &ds), CLCNN_ERR_IO);
    CHECK_ERROR_HAS("missing.csv");
    tmptree_close(&t);
}

/* ---- split ---- */

/* A CSV data set of class k with counts[k] images "K_I.png" (the files need not exist). */
static clcnn_dataset *counted_set(tmptree *t, int n_classes, const int *counts) {
    size_t cap = 64, len = 0;
    char *text = malloc(cap);
    for (int k = 0; k < n_classes && text; k++)
        for (int i = 0; i < counts[k] && text; i++) {
            if (cap - len < 64) {
                char *grown = realloc(text, cap *= 2);
                if (!grown) free(text);
                text = grown;
            }
            /* Interleave classes in the file so that the order is not by class. */
            if (text) len += (size_t)snprintf(text + len, cap - len, "%c%03d.png,%c\n", 'a' + (i * 7 + k) % 26, i,
                                              'A' + k);
        }
    clcnn_dataset *ds = NULL;
    CHECK(text != NULL, "no memory");
    if (text && tmptree_write(t, "split.csv", text, len)) CHECK_OK(clcnn_dataset_open(tmptree_path(t, "split.csv"), 0, NULL, &ds));
    free(text);
    return ds;
}

/* Position of path in ds, or -1. */
static int find_path(const clcnn_dataset *ds, const char *path) {
    for (int i = 0; i < clcnn_dataset_size(ds); i++)
        if (!strcmp(clcnn_dataset_path(ds, i), path)) return i;
    return -1;
}

/* The halves partition ds, keep its order and classes, and val has want_val[k] of class k. */
static void expect_partition(const clcnn_dataset *ds, const clcnn_dataset *train, const clcnn_dataset *val,
                             const int *want_val) {
    const int n = clcnn_dataset_size(ds), k_count = clcnn_dataset_class_count(ds);
    int *seen = calloc((size_t)n, sizeof *seen), val_per_class[8] = {0};
    const clcnn_dataset *halves[2] = {train, val};
    for (int h = 0; h < 2 && seen; h++) {
        int last = -1;
        CHECK(clcnn_dataset_class_count(halves[h]) == k_count, "half %d has %d classes", h,
              clcnn_dataset_class_count(halves[h]));
        for (int k = 0; k < k_count; k++)
            CHECK(!strcmp(clcnn_dataset_class_name(halves[h], k), clcnn_dataset_class_name(ds, k)),
                  "half %d class %d renamed", h, k);
        for (int i = 0; i < clcnn_dataset_size(halves[h]); i++) {
            const int at = find_path(ds, clcnn_dataset_path(halves[h], i));
            CHECK(at > last, "half %d: image %d (%s) out of the data set's order", h, i,
                  clcnn_dataset_path(halves[h], i));
            if (at < 0) continue;
            last = at;
            seen[at]++;
            CHECK(clcnn_dataset_label(halves[h], i) == clcnn_dataset_label(ds, at), "half %d image %d relabelled", h,
                  i);
            if (h == 1) val_per_class[clcnn_dataset_label(ds, at)]++;
        }
    }
    for (int i = 0; i < n && seen; i++) CHECK(seen[i] == 1, "image %d is in %d halves", i, seen[i]);
    for (int k = 0; k < k_count; k++)
        CHECK(val_per_class[k] == want_val[k], "class %d: %d validation images, expected %d", k, val_per_class[k],
              want_val[k]);
    free(seen);
}

/* Same images in the same order. */
static int same_set(const clcnn_dataset *a, const clcnn_dataset *b) {
    if (clcnn_dataset_size(a) != clcnn_dataset_size(b)) return 0;
    for (int i = 0; i < clcnn_dataset_size(a); i++)
        if (strcmp(clcnn_dataset_path(a, i), clcnn_dataset_path(b, i))) return 0;
    return 1;
}

static void test_dataset_split(void) {
    tmptree t;
    if (!tmptree_open(&t, "dataset")) return;
    /* fraction 0.25: round(10 * .25) = round(2.5) = 3, round(1.75) = 2, one image: round(.25) = 0,
     * two: round(.5) = 1, three: round(.75) = 1, forty: 10, four: 1 (round(1.0)). */
    const int counts[] = {10, 7, 1, 2, 3, 40, 4}, want_val[] = {3, 2, 0, 1, 1, 10, 1};
    /* fraction 0.05: at least one of two or more; 40 * .05 = 2. */
    const int want_small[] = {1, 1, 0, 1, 1, 2, 1};
    const int n_classes = 7;
    clcnn_dataset *ds = counted_set(&t, n_classes, counts);
    clcnn_dataset *tr = NULL, *va = NULL, *tr2 = NULL, *va2 = NULL, *tr3 = NULL, *va3 = NULL;
    if (!ds) goto close_tree;
    test_rng rng = {g_seed ^ 0x5b117ull};
    const uint64_t seed = test_rng_next(&rng);
    CHECK_OK(clcnn_dataset_split(ds, 0.25f, seed, &tr, &va));
    if (tr && va) expect_partition(ds, tr, va, want_val);
    /* The same seed, the same halves; another seed, another choice (of 40 choose 10 alone). */
    CHECK_OK(clcnn_dataset_split(ds, 0.25f, seed, &tr2, &va2));
    CHECK(tr2 && va2 && same_set(tr, tr2) && same_set(va, va2), "seed %llu: two splits differ",
          (unsigned long long)seed);
    CHECK_OK(clcnn_dataset_split(ds, 0.25f, seed + 1, &tr3, &va3));
    CHECK(va3 && !same_set(va, va3), "seeds %llu and %llu give the same validation set", (unsigned long long)seed,
          (unsigned long long)seed + 1);
    if (tr3 && va3) expect_partition(ds, tr3, va3, want_val);
    clcnn_dataset_destroy(tr3);
    clcnn_dataset_destroy(va3);
    tr3 = va3 = NULL;
    CHECK_OK(clcnn_dataset_split(ds, 0.05f, seed, &tr3, &va3));
    if (tr3 && va3) expect_partition(ds, tr3, va3, want_small);

    /* Arguments. */
    clcnn_dataset *x = (clcnn_dataset *)1, *y = (clcnn_dataset *)1;
    CHECK_STATUS(clcnn_dataset_split(ds, 0.0f, seed, &x, &y), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK(x == NULL && y == NULL, "outputs not NULL after an error");
    CHECK_STATUS(clcnn_dataset_split(ds, 1.0f, seed, &x, &y), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dataset_split(ds, NAN, seed, &x, &y), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dataset_split(NULL, 0.5f, seed, &x, &y), CLCNN_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(clcnn_dataset_split(ds, 0.5f, seed, &x, NULL), CLCNN_ERR_INVALID_ARGUMENT);
    clcnn_dataset_destroy(ds);
    /* One image per class and a small fraction: nothing to validate on. */
    const int singles[] = {1, 1, 1};
    ds = counted_set(&t, 3, singles);
    if (ds) CHECK_STATUS(clcnn_dataset_split(ds, 0.3f, seed, &x, &y), CLCNN_ERR_NOT_FOUND);
close_tree:
    clcnn_dataset_destroy(ds);
    clcnn_dataset_destroy(tr);
    clcnn_dataset_destroy(va);
    clcnn_dataset_destroy(tr2);
    clcnn_dataset_destroy(va2);
    clcnn_dataset_destroy(tr3);
    clcnn_dataset_destroy(va3);
    tmptree_close(&t);
}

const test_case test_dataset_cases[] = {
    {"dataset_folder_order", test_dataset_folder_order},
    {"dataset_given_classes", test_dataset_given_classes},
    {"dataset_empty_and_errors", test_dataset_empty_and_errors},
    {"dataset_csv", test_dataset_csv},
    {"dataset_csv_errors", test_dataset_csv_errors},
    {"dataset_split", test_dataset_split},
    {NULL, NULL},
};
