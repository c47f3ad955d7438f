/* fuzz_opts_train.c: `clcnn train`'s options: its table (tools/cmd_train.c, included for
 * its static table and option struct), the saved options --resume reads back, and the
 * checks made before any device is opened (check_options, describe against a small data
 * set). train_run, which opens a device and writes files, is never called. */
#include "../tools/cmd_train.c"
#include "fuzz_opts_common.h"

static clcnn_dataset *two_classes; /* what describe checks --classes and --head against */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    static const uint8_t csv[] = "a.png,cat\nb.png,dog\n";
    const char *path = fuzz_write_file("list.csv", csv, sizeof csv - 1);
    if (clcnn_dataset_open(path, 0, NULL, &two_classes) != CLCNN_OK) {
        fprintf(stderr, "fuzz: %s\n", clcnn_last_error(NULL));
        abort();
    }
    return 0;
}

static void after_parse(int npos, char **pos) {
    (void)npos, (void)pos;
    o.epochs_given = 0;
    if (check_options()) return;
    run r = {0};
    r.train_set = two_classes;
    (void)describe(&r);
    clcnn_model_desc_free(&r.desc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_opts_run(&command, &o, sizeof o, data, size, after_parse);
}
