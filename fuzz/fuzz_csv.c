/* fuzz_csv.c: the CSV data-set list ("path,label" lines, quoting, an optional header, a
 * byte order mark, numeric or named labels) through the public clcnn_dataset_open, then
 * the stratified split. The first input byte picks the options: bit 0 gives a fixed class
 * list (as `clcnn eval` passes the model's classes), bits 1-3 the split fraction; the
 * rest is the file. Nothing is decoded: the listed images need not exist. */
#include "fuzz_util.h"

/* A loaded set: every image has a path and a label among the classes, every class a name. */
static void check_dataset(const clcnn_dataset *ds, int n_given, const char *const *given) {
    const int n = clcnn_dataset_size(ds), k = clcnn_dataset_class_count(ds);
    FUZZ_CHECK(n > 0 && k > 0, "%d images, %d classes", n, k);
    FUZZ_CHECK(!given || k == n_given, "%d classes, %d given", k, n_given);
    for (int c = 0; c < k; c++) {
        const char *name = clcnn_dataset_class_name(ds, c);
        FUZZ_CHECK(name && *name, "class %d has no name", c);
        FUZZ_CHECK(!given || !strcmp(name, given[c]), "class %d is %s, given %s", c, name, given[c]);
    }
    for (int i = 0; i < n; i++) {
        const char *path = clcnn_dataset_path(ds, i);
        const int label = clcnn_dataset_label(ds, i);
        FUZZ_CHECK(path && *path, "image %d has no path", i);
        FUZZ_CHECK(label >= 0 && label < k, "image %d has label %d of %d classes", i, label, k);
    }
}

static void check_split(const clcnn_dataset *ds, float fraction, uint64_t seed) {
    clcnn_dataset *train = NULL, *val = NULL;
    const clcnn_status st = clcnn_dataset_split(ds, fraction, seed, &train, &val);
    if (st != CLCNN_OK) {
        fuzz_check_error(st);
        FUZZ_CHECK(!train && !val, "split failed but left a set");
        return;
    }
    FUZZ_CHECK(clcnn_dataset_size(train) + clcnn_dataset_size(val) == clcnn_dataset_size(ds),
               "split of %d into %d + %d", clcnn_dataset_size(ds), clcnn_dataset_size(train), clcnn_dataset_size(val));
    check_dataset(train, 0, NULL);
    check_dataset(val, 0, NULL);
    clcnn_dataset_destroy(train);
    clcnn_dataset_destroy(val);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const given[] = {"cat", "dog", "7", "a,b"};
    const int n_given = (int)(sizeof given / sizeof given[0]);
    if (size < 1) return 0;
    const int use_given = data[0] & 1;
    const float fraction = (float)((data[0] >> 1) & 7) / 8.0f; /* 0 is refused by the split */
    const char *path = fuzz_write_file("list.csv", data + 1, size - 1);
    clcnn_dataset *ds = NULL;
    const clcnn_status st = clcnn_dataset_open(path, use_given ? n_given : 0, use_given ? given : NULL, &ds);
    if (st != CLCNN_OK) {
        fuzz_check_error(st);
        FUZZ_CHECK(ds == NULL, "open failed but left a set");
        return 0;
    }
    check_dataset(ds, use_given ? n_given : 0, use_given ? given : NULL);
    check_split(ds, fraction, size);
    clcnn_dataset_destroy(ds);
    return 0;
}
