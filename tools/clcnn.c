/* clcnn: the command-line tool. A thin front end over the public API (clcnn.h).
 *   clcnn devices            list OpenCL devices, mark the default
 *   clcnn demo               run a small SE-ResNet forward and compare with PyTorch
 *   clcnn layers --arch A    list a network's layers with their output shapes
 * Every command takes --help; errors are one line on stderr and a non-zero exit. */
#include <math.h>
#include "cli.h"

#define PROG "clcnn"

static const char *usage_main =
    "usage: clcnn COMMAND [OPTIONS]\n"
    "\n"
    "commands:\n"
    "  devices   list the OpenCL devices and mark the default one\n"
    "  demo      run a small SE-ResNet forward on a device and compare it with PyTorch\n"
    "  layers    list an architecture's layers, output shapes and parameter counts\n"
    "\n"
    "Run `clcnn COMMAND --help` for a command's options. The device is chosen by\n"
    "--device (an index, gpu, cpu, or part of a name), else CLCNN_DEVICE, else the\n"
    "fastest GPU, else a CPU.\n";

/* ---- devices ---- */

static const char *type_name(clcnn_device_type t) {
    return t == CLCNN_DEVICE_GPU ? "GPU" : t == CLCNN_DEVICE_CPU ? "CPU" : t == CLCNN_DEVICE_ACCELERATOR ? "ACC" : "other";
}

static int cmd_devices(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: clcnn devices\n\nLists every OpenCL device on every platform: index, type, vendor,\n"
                   "name, OpenCL C version, compute units, memory, fp16/fp64 support.\n"
                   "`*` marks the device used by default (CLCNN_DEVICE changes it).\n");
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
    if (clcnn_device_select(NULL, &def) != CLCNN_OK)
        fprintf(stderr, "%s: warning: %s\n", PROG, clcnn_last_error(NULL));
    printf("   #  type  %-28s %-34s %-22s %4s %10s  fp16 fp64\n", "vendor", "name", "OpenCL C", "CUs", "memory");
    for (int i = 0; i < n; i++) {
        clcnn_device_info d;
        if ((st = clcnn_device_get_info(i, &d)) != CLCNN_OK) return cli_fail_status(PROG, NULL, st);
        printf(" %c %2d  %-5s %-28.28s %-34.34s %-22.22s %4u %7.1f GB  %-4s %s\n", i == def ? '*' : ' ', i,
               type_name(d.type), d.vendor, d.name, d.opencl_c_version, d.compute_units, d.global_mem_bytes / 1e9,
               d.has_fp16 ? "yes" : "no", d.has_fp64 ? "yes" : "no");
    }
    printf("\n* = default device%s\n", getenv("CLCNN_DEVICE") ? " (from CLCNN_DEVICE)" : "");
    return 0;
}

/* ---- demo ---- */

typedef struct {
    const char *device, *weights, *io;
    int iters;
} demo_opts;

static int demo_run(const demo_opts *o) {
    clcnn_context *ctx = NULL;
    clcnn_weights *w = NULL, *io = NULL;
    clcnn_model *m = NULL;
    clcnn_tensor *logits = NULL;
    int rc = 1;
    clcnn_status st;
    if ((st = cli_open(PROG, o->device, &ctx)) != CLCNN_OK) return 1;
    clcnn_device_info info;
    clcnn_context_get_device_info(ctx, &info);
    printf("device: %s (%s, %s)\n", info.name, info.platform, info.opencl_c_version);

    double t0 = cli_now_s();
    if ((st = clcnn_weights_load(ctx, o->weights, &w)) != CLCNN_OK || (st = clcnn_weights_load(ctx, o->io, &io)) != CLCNN_OK ||
        (st = clcnn_resnet_create(ctx, w, &m)) != CLCNN_OK) {
        cli_fail_status(PROG, ctx, st);
        goto done;
    }
    const clcnn_tensor *x = clcnn_weights_get(io, "input"), *want_t = clcnn_weights_get(io, "logits");
    if (!x || !want_t) {
        cli_fail(PROG, "%s: needs tensors \"input\" and \"logits\"", o->io);
        goto done;
    }
    const int n = clcnn_tensor_dim(x, 0), classes = clcnn_model_num_classes(m);
    if (clcnn_tensor_numel(want_t) != (size_t)n * (size_t)classes) {
        cli_fail(PROG, "%s: \"logits\" does not match the model's batch and classes", o->io);
        goto done;
    }
    float *got = malloc(sizeof(float) * (size_t)n * (size_t)classes);
    float *want = malloc(sizeof(float) * (size_t)n * (size_t)classes);
    double *times = malloc(sizeof(double) * (size_t)o->iters);
    if (!got || !want || !times) {
        cli_fail(PROG, "%s", "out of host memory");
        goto free_host;
    }
    if ((st = clcnn_tensor_create(ctx, 2, (int[]){n, classes}, &logits)) != CLCNN_OK ||
        (st = clcnn_model_forward(m, x, logits)) != CLCNN_OK ||
        (st = clcnn_tensor_read(logits, got, (size_t)n * (size_t)classes)) != CLCNN_OK ||
        (st = clcnn_tensor_read(want_t, want, (size_t)n * (size_t)classes)) != CLCNN_OK) {
        cli_fail_status(PROG, ctx, st);
        goto free_host;
    }
    const double cold = cli_now_s() - t0;
    for (int i = 0; i < o->iters; i++) {
        const double t = cli_now_s();
        if ((st = clcnn_model_forward(m, x, logits)) != CLCNN_OK || (st = clcnn_finish(ctx)) != CLCNN_OK) {
            cli_fail_status(PROG, ctx, st);
            goto free_host;
        }
        times[i] = cli_now_s() - t;
    }
    double max_err = 0, worst = 0; /* worst: error over the bound 1e-4 + 1e-4 |PyTorch's value| */
    printf("tiny SE-ResNet (%s), batch %d, input %dx%d:\n", o->weights, n, clcnn_tensor_dim(x, 2), clcnn_tensor_dim(x, 3));
    for (int b = 0; b < n; b++) {
        if (classes <= 10) printf("  image %d logits:", b);
        for (int c = 0; c < classes; c++) {
            const float v = got[b * classes + c];
            if (classes <= 10) printf(" %+.5f", v);
            const double err = fabs(v - want[b * classes + c]);
            max_err = fmax(max_err, err);
            worst = fmax(worst, err / (1e-4 + 1e-4 * fabs(want[b * classes + c])));
        }
        if (classes <= 10) printf("\n");
    }
    printf("max |clcnn - PyTorch| = %.2e (%s within 1e-4 + 1e-4 |PyTorch|)\n", max_err, worst <= 1 ? "match:" : "MISMATCH: not");
    printf("first run (load, kernel builds, forward): %.3f s; then median %.2f ms per forward over %d runs\n", cold,
           cli_median(times, o->iters) * 1e3, o->iters);
    rc = worst <= 1 ? 0 : 1;
free_host:
    free(times);
    free(want);
    free(got);
done:
    clcnn_tensor_destroy(logits);
    clcnn_model_destroy(m);
    clcnn_weights_destroy(io);
    clcnn_weights_destroy(w);
    clcnn_context_destroy(ctx);
    return rc;
}

static int cmd_demo(int argc, char **argv) {
    demo_opts o = {NULL, "tests/golden/tiny_seresnet.safetensors", "tests/golden/tiny_seresnet_io.safetensors", 20};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: clcnn demo [--device D] [--weights FILE] [--io FILE] [--iters N]\n\n"
                   "Runs a small SE-ResNet (conv, folded batch norm, ReLU, max pool, basic blocks\n"
                   "with Squeeze-and-Excitation, global pool, linear) on the device and compares its\n"
                   "logits with PyTorch's for the same weights (files from scripts/make_golden.py).\n\n"
                   "  --device D     device index, gpu, cpu or part of a name (default: CLCNN_DEVICE or best)\n"
                   "  --weights FILE safetensors weights (default %s)\n"
                   "  --io FILE      safetensors with \"input\" and \"logits\" (default %s)\n"
                   "  --iters N      timed forward passes after the first (default 20)\n",
                   o.weights, o.io);
            return 0;
        }
        const char **dst = !strcmp(a, "--device") ? &o.device : !strcmp(a, "--weights") ? &o.weights
                           : !strcmp(a, "--io")   ? &o.io
                                                  : NULL;
        if (dst) {
            if (!(*dst = cli_value(argc, argv, &i))) return cli_fail(PROG, "demo: %s needs a value", a);
        } else if (!strcmp(a, "--iters")) {
            if (!(o.iters = cli_positive_int(cli_value(argc, argv, &i))))
                return cli_fail(PROG, "demo: %s needs a positive integer", a);
        } else
            return cli_fail(PROG, "demo: unknown option %s (see clcnn demo --help)", a);
    }
    return demo_run(&o);
}

/* ---- layers ---- */

typedef struct {
    const char *device, *arch, *head;
    int classes, size, hidden;
} layers_opts;

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
    if ((st = clcnn_resnet_build(ctx, &cfg, 1, &g)) != CLCNN_OK) {
        rc = cli_fail_status(PROG, ctx, st);
        goto done;
    }
    printf("%-28s %-16s %-18s %12s\n", "layer", "kind", "output", "parameters");
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
        printf("%-28s %-16s %-18s %12zu\n", l.name, l.kind, shape, l.params);
        total += l.params;
    }
    printf("%s: %d layers, %zu trainable parameters, input [3, %d, %d]\n", o->arch, clcnn_graph_layer_count(g), total,
           o->size, o->size);
done:
    clcnn_graph_destroy(g);
    clcnn_context_destroy(ctx);
    return rc;
}

static int cmd_layers(int argc, char **argv) {
    layers_opts o = {NULL, NULL, "fc", 1000, 224, 512};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: clcnn layers --arch A [--classes N] [--size S] [--head fc|mlp] [--hidden H] [--device D]\n\n"
                   "Builds the architecture and lists every layer (torchvision's names, which weight\n"
                   "files and --layer options use) with its kind, output shape per image and\n"
                   "trainable parameter count.\n\n"
                   "  --arch A      resnet18, resnet34, resnet50, resnet101, resnet152, seresnet18 ... seresnet152\n"
                   "  --classes N   output classes (default 1000)\n"
                   "  --size S      input height and width (default 224)\n"
                   "  --head H      fc (default) or mlp: Linear(in, H) - ReLU - Dropout(0.2) - Linear(H, N)\n"
                   "  --hidden H    the MLP head's width (default 512)\n"
                   "  --device D    device index, gpu, cpu or part of a name\n");
            return 0;
        }
        const char **str = !strcmp(a, "--device") ? &o.device : !strcmp(a, "--arch") ? &o.arch
                           : !strcmp(a, "--head") ? &o.head
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
        printf("clcnn %d.%d.%d\n", CLCNN_VERSION_MAJOR, CLCNN_VERSION_MINOR, CLCNN_VERSION_PATCH);
        return 0;
    }
    if (!strcmp(argv[1], "devices")) return cmd_devices(argc - 1, argv + 1);
    if (!strcmp(argv[1], "demo")) return cmd_demo(argc - 1, argv + 1);
    if (!strcmp(argv[1], "layers")) return cmd_layers(argc - 1, argv + 1);
    fprintf(stderr, "clcnn: unknown command '%s'\n\n%s", argv[1], usage_main);
    return 2;
}
