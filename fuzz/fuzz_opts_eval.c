/* fuzz_opts_eval.c: `clcnn eval`'s options (tools/cmd_eval.c included for its static
 * table) and the saved-options JSON. eval_run, which opens a device, is never called. */
#include "../tools/cmd_eval.c"
#include "fuzz_opts_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return fuzz_opts_run(&command, &o, sizeof o, data, size, NULL);
}
