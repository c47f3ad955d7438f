/* clcnn: the command-line tool. A thin front end over the public API (clcnn.h); each
 * command lives in its own file (cmd_*.c).
 *   clcnn train / eval / predict / cam    see their --help
 *   clcnn devices            list OpenCL devices, mark the default
 *   clcnn layers --arch A    list a network's layers with their output shapes
 * Every command takes --help; errors are one line on stderr and a non-zero exit. */
#include <math.h>
#include "freeze.h"
#include "tool.h"

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_cam(int argc, char **argv);

static const char *usage_main =
    "usage: clcnn COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  train     train a classifier on a folder of images (one subfolder per class)\n"
    "  eval      a trained model's metrics on a labelled folder\n"
    "  predict   classify images\n"
    "  cam       heatmaps of where the evidence is (Grad-CAM and its family), scores, boxes\n"
    "  devices   list the OpenCL devices and mark the default one\n"
    "  layers    list an architecture's layers, output shapes and parameter counts\n"
    "\n"
    "Run `clcnn COMMAND --help` for a command's options. The device is chosen by\n"
    "--device (an index, gpu, cpu, or part of a name), else CLCNN_DEVICE, else the\n"
    "fastest discrete GPU, integrated GPU, then CPU (see `clcnn devices`).\n";

/* ---- devices ---- */

/* The class the default ranking uses: discrete or integrated GPU, CPU, the rest. */
static const char *type_name(const clcnn_device_info *d) {
    if (d->software) return "soft";
    switch (d->type) {
    case CLCNN_DEVICE_GPU: return d->unified_memory ? "iGPU" : "GPU";
    case CLCNN_DEVICE_CPU: return "CPU";
    case CLCNN_DEVICE_ACCELERATOR: return "ACC";
    default: return "other";
    }
}

static int cmd_devices(int argc, char **argv) {
    const char *spec = NULL; /* --device D: which device that would pick, marked instead of the default */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--device")) {
            if (!(spec = cli_value(argc, argv, &i))) return cli_fail(PROG, "devices: %s", "--device needs a value");
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clcnn devices [--device D]\n\nLists every OpenCL device on every platform: index, type (GPU,\n"
                   "iGPU for an integrated one, CPU, soft for a software rasteriser), vendor, name,\n"
                   "OpenCL C version, compute units, memory, fp16/fp64 support, and the fp32\n"
                   "GFLOP/s estimate (units x lanes x 2 x clock) that ranks devices of one type.\n"
                   "`*` marks the device used by default: discrete GPUs first, then integrated\n"
                   "ones, then CPUs; a software rasteriser only when named (CLCNN_DEVICE changes it).\n"
                   "With --device D (an index, gpu, cpu or part of a name, as every command takes it)\n"
                   "`*` marks the device D selects instead.\n");
            return 0;
        }
        return cli_fail(PROG, "devices: unknown option %s (see clcnn devices --help)", argv[i]);
    }
    int n;
    clcnn_status st = clcnn_device_count(&n);
    if (st != CLCNN_OK) return cli_fail_status(PROG, NULL, st);
    if (n == 0) {
        printf("No OpenCL device found. Install an OpenCL driver, e.g. `apt-get install pocl-opencl-icd` for the CPU.\n");
        return 1;
    }
    int def = -1;
    if (clcnn_device_select(spec, &def) != CLCNN_OK) {
        if (spec) return cli_fail_status(PROG, NULL, CLCNN_ERR_NO_DEVICE);
        fprintf(stderr, "%s: warning: %s\n", PROG, clcnn_last_error(NULL));
    }
    printf("   #  type  %-28s %-34s %-22s %4s %10s  fp16 fp64 %9s\n", "vendor", "name", "OpenCL C", "CUs", "memory",
           "est GF/s");
    for (int i = 0; i < n; i++) {
        clcnn_device_info d;
        if ((st = clcnn_device_get_info(i, &d)) != CLCNN_OK) return cli_fail_status(PROG, NULL, st);
        printf(" %c %2d  %-5s %-28.28s %-34.34s %-22.22s %4u %7.1f GB  %-4s %-4s %9.0f\n", i == def ? '*' : ' ', i,
               type_name(&d), d.vendor, d.name, d.opencl_c_version, d.compute_units, d.global_mem_bytes / 1e9,
               d.has_fp16 ? "yes" : "no", d.has_fp64 ? "yes" : "no", d.est_gflops);
    }
    if (spec) printf("\n* = the device --device %s selects\n", spec);
    else printf("\n* = default device%s\n", getenv("CLCNN_DEVICE") ? " (from CLCNN_DEVICE)" : "");
    return 0;
}

/* ---- layers ---- */

typedef struct {
    const char *device, *arch, *head, *init;
    int classes, size, hidden;
    tool_freeze_opts freeze;
} layers_opts;

/* The layer of g whose name is the longest prefix (followed by '.') of parameter name:
 * the one the parameter belongs to (layer1.0.se.fc1.weight: layer1.0.se, not layer1.0). */
static int owner_layer(const clcnn_graph *g, const char *name) {
    int best = -1;
    size_t best_len = 0;
    for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
        clcnn_layer_info l;
        if (clcnn_graph_layer(g, i, &l) != CLCNN_OK) continue;
        const size_t n = strlen(l.name);
        if (n > best_len && !strncmp(name, l.name, n) && name[n] == '.') best = i, best_len = n;
    }
    return best;
}

/* "yes", "no" or "partly": whether layer `index`'s parameters (running statistics left
 * out) train; "-" when it has none. */
static const char *layer_trains(const clcnn_graph *g, int index) {
    int trains = 0, frozen = 0;
    for (int i = 0; i < clcnn_graph_param_count(g); i++) {
        const char *name = clcnn_graph_param_name(g, i);
        if (!clcnn_graph_param_learns(g, name) || owner_layer(g, name) != index) continue;
        if (clcnn_graph_param_is_frozen(g, name)) frozen++;
        else trains++;
    }
    return !trains && !frozen ? "-" : !frozen ? "yes" : !trains ? "no" : "partly";
}

static int layers_run(const layers_opts *o) {
    clcnn_resnet_config cfg;
    clcnn_status st = clcnn_resnet_config_for(o->arch, o->classes, o->size, &cfg);
    if (st != CLCNN_OK) return cli_fail_status(PROG, NULL, st);
    if (!strcmp(o->head, "mlp")) {
        cfg.head_hidden = o->hidden;
        cfg.head_dropout = 0.2f;
    } else if (strcmp(o->head, "fc")) {
        return cli_fail(PROG, "layers: unknown head %s (fc or mlp)", o->head);
    }
    clcnn_context *ctx;
    if (cli_open(PROG, o->device, &ctx) != CLCNN_OK) return 1;
    clcnn_graph *g = NULL;
    int rc = 0;
    clcnn_weights *init = NULL;
    if ((st = clcnn_resnet_build(ctx, &cfg, 1, &g)) != CLCNN_OK ||
        (o->init && (st = clcnn_weights_load(ctx, o->init, &init)) != CLCNN_OK)) {
        rc = cli_fail_status(PROG, ctx, st);
        goto done;
    }
    if (o->init && (st = clcnn_graph_load(g, init, CLCNN_LOAD_PARTIAL, NULL)) != CLCNN_OK) {
        rc = cli_fail_status(PROG, ctx, st);
        goto done;
    }
    unsigned char *supplied = init ? tool_supplied_by(g, init) : NULL;
    if (init && !supplied) {
        rc = cli_fail(PROG, "layers: %s", "out of host memory");
        goto done;
    }
    rc = tool_apply_freeze("layers", g, supplied, &o->freeze);
    free(supplied);
    if (rc) goto done;
    printf("%-28s %-16s %-18s %12s  %s\n", "layer", "kind", "output", "parameters", "trains");
    size_t total = 0;
    for (int i = 0; i < clcnn_graph_layer_count(g); i++) {
        clcnn_layer_info l;
        if ((st = clcnn_graph_layer(g, i, &l)) != CLCNN_OK) {
            rc = cli_fail_status(PROG, ctx, st);
            goto done;
        }
        char shape[48];
        if (l.ndim == 3) snprintf(shape, sizeof shape, "[%d, %d, %d]", l.shape[0], l.shape[1], l.shape[2]);
        else snprintf(shape, sizeof shape, "[%d]", l.shape[0]);
        printf("%-28s %-16s %-18s %12zu  %s\n", l.name, l.kind, shape, l.params, layer_trains(g, i));
        total += l.params;
    }
    size_t training;
    tool_trainable_params(g, &training);
    printf("%s: %d layers, %zu trainable parameters (%zu of them train with these options), input [3, %d, %d]\n",
           o->arch, clcnn_graph_layer_count(g), total, training, o->size, o->size);
done:
    clcnn_weights_destroy(init);
    clcnn_graph_destroy(g);
    clcnn_context_destroy(ctx);
    return rc;
}

static int cmd_layers(int argc, char **argv) {
    layers_opts o = {NULL, NULL, "fc", NULL, 1000, 224, 512, {0, NULL, NULL}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: clcnn layers --arch A [--classes N] [--size S] [--head fc|mlp] [--hidden H]\n"
                   "                    [--init FILE] [--freeze-backbone] [--freeze P,..] [--train-only P,..] [--device D]\n\n"
                   "Builds the architecture and lists every layer (torchvision's names, which weight\n"
                   "files and --layer options use) with its kind, output shape per image,\n"
                   "trainable parameter count and whether it trains with train's freezing options\n"
                   "(yes, no, partly; - for none).\n\n"
                   "  --arch A      compact, secompact, resnet18 ... resnet152, seresnet18 ... seresnet152,\n"
                   "                mobilenet_v2, mobilenet_v3_large, mobilenet_v3_small, efficientnet_b0 ...\n"
                   "                efficientnet_b7, inception_v3, xception\n"
                   "  --classes N   output classes (default 1000)\n"
                   "  --size S      input height and width (default 224)\n"
                   "  --head H      fc (default) or mlp: Linear(in, H) - ReLU - Dropout(0.2) - Linear(H, N)\n"
                   "  --hidden H    the MLP head's width (default 512)\n"
                   "  --init FILE   weights as train --init --partial loads them\n"
                   "  --freeze-backbone, --freeze P,.., --train-only P,..   as in clcnn train\n"
                   "  --device D    device index, gpu, cpu or part of a name\n");
            return 0;
        }
        if (!strcmp(a, "--freeze-backbone")) {
            o.freeze.freeze_backbone = 1;
            continue;
        }
        const char **str = !strcmp(a, "--device")       ? &o.device
                           : !strcmp(a, "--arch")       ? &o.arch
                           : !strcmp(a, "--head")       ? &o.head
                           : !strcmp(a, "--init")       ? &o.init
                           : !strcmp(a, "--freeze")     ? &o.freeze.freeze
                           : !strcmp(a, "--train-only") ? &o.freeze.train_only
                                                        : NULL;
        int *num = !strcmp(a, "--classes") ? &o.classes : !strcmp(a, "--size") ? &o.size
                                                                                 : !strcmp(a, "--hidden") ? &o.hidden
                                                                                                          : NULL;
        if (str) {
            if (!(*str = cli_value(argc, argv, &i))) return cli_fail(PROG, "layers: %s needs a value", a);
        } else if (num) {
            if (!(*num = cli_positive_int(cli_value(argc, argv, &i))))
                return cli_fail(PROG, "layers: %s needs a positive integer", a);
        } else {
            return cli_fail(PROG, "layers: unknown option %s (see clcnn layers --help)", a);
        }
    }
    if (!o.arch) return cli_fail(PROG, "layers: %s", "--arch is required (e.g. --arch seresnet50)");
    return layers_run(&o);
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        fputs(usage_main, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("clcnn %s\n", clcnn_version());
        return 0;
    }
    if (!strcmp(argv[1], "devices")) return cmd_devices(argc - 1, argv + 1);
    if (!strcmp(argv[1], "train")) return cmd_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "eval")) return cmd_eval(argc - 1, argv + 1);
    if (!strcmp(argv[1], "predict")) return cmd_predict(argc - 1, argv + 1);
    if (!strcmp(argv[1], "cam")) return cmd_cam(argc - 1, argv + 1);
    if (!strcmp(argv[1], "layers")) return cmd_layers(argc - 1, argv + 1);
    fprintf(stderr, "clcnn: unknown command '%s'\n\n%s", argv[1], usage_main);
    return 2;
}
