/* fuzz_opts_cam.c: `clcnn cam`'s options (tools/cmd_cam.c included for its static table
 * and helpers), the saved-options JSON, and what the command derives from its options
 * before the device: the method, --class and --score-class against a three-class model
 * description, --threshold, --alpha, the --layer list (resolve), and the output file
 * stems made from the image paths (unique_stems). cam_run_all is never called. */
#include "../tools/cmd_cam.c"
#include "fuzz_opts_common.h"

static void after_parse(int npos, char **pos) {
    static char cat[] = "cat", dog[] = "dog", seven[] = "7";
    static char *names[] = {cat, dog, seven};
    cam_run r = {0};
    r.d.classes = 3;
    r.d.class_names = names; /* not freed: static */
    (void)resolve(&r);
    for (int i = 0; i < r.n_layers; i++) FUZZ_CHECK(r.layers[i] != NULL, "layer %d missing", i);
    for (int i = 0; i < r.n_layers; i++) free(r.layers[i]);
    free(r.layers);
    if (npos == 0) return;
    char **stems = unique_stems(pos, npos);
    FUZZ_CHECK(stems != NULL, "unique_stems failed");
    tool_free_paths(stems, npos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_opts_run(&command, &o, sizeof o, data, size, after_parse);
}
