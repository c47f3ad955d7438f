/* fuzz_opts_layers.c: the clcnn front end itself (tools/clcnn.c included, its main renamed):
 * command dispatch, --help/--version, `clcnn devices` and `clcnn layers`, whose options are
 * parsed by hand there. train, eval, predict and cam are stubs here (they have their own
 * targets). A valid `layers` command line goes on to clcnn_resnet_config_for and then to
 * opening a device: every OpenCL platform is hidden from this process (fuzz_hide_devices
 * checks that none is visible), so it ends at "no device". */
#define main clcnn_tool_main
#include "../tools/clcnn.c"
#undef main
#include "fuzz_util.h"

int cmd_train(int argc, char **argv) { return (void)argc, (void)argv, 2; }
int cmd_eval(int argc, char **argv) { return (void)argc, (void)argv, 2; }
int cmd_predict(int argc, char **argv) { return (void)argc, (void)argv, 2; }
int cmd_cam(int argc, char **argv) { return (void)argc, (void)argv, 2; }

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    fuzz_hide_devices();
    return 0;
}

/* The input is the command line after "clcnn", arguments separated by NUL bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_args a;
    fuzz_args_make(&a, "clcnn", data, size);
    const int rc = clcnn_tool_main(a.argc, a.argv);
    FUZZ_CHECK(rc >= 0 && rc <= 2, "exit status %d", rc);
    fuzz_args_free(&a);
    return 0;
}
