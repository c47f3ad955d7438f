/* fuzz_opts_predict.c: `clcnn predict`'s options (tools/cmd_predict.c included for its
 * static table) and the saved-options JSON. predict_run, which reads the named images and
 * opens a device, is never called. */
#include "../tools/cmd_predict.c"
#include "fuzz_opts_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_opts_run(&command, &o, sizeof o, data, size, NULL);
}
