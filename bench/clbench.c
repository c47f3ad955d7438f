/* clbench: performance runs of libclcnn.
 *   clbench gemm [--m M --n N --k K] [--iters N] [--device D]
 * GEMM: the project's register-blocked kernel and CLBlast's SGEMM on the same
 * device, in the same run: median time and GFLOP/s, the ratio between them. */
#include "../tools/cli.h"

#define PROG "clbench"

typedef struct {
    const char *device;
    int m, n, k, iters;
} gemm_opts;

/* Median seconds of one C = A B on the backend; the first call (kernel build) is not timed. */
static clcnn_status time_gemm(clcnn_context *ctx, clcnn_gemm_backend be, const gemm_opts *o, clcnn_tensor *a,
                              clcnn_tensor *b, clcnn_tensor *c, double *median_s, double *first_s) {
    double *t = malloc(sizeof(double) * (size_t)o->iters);
    if (!t) return CLCNN_ERR_OUT_OF_MEMORY;
    double t0 = cli_now_s();
    clcnn_status st = clcnn_gemm(ctx, be, 0, 0, 1.0f, a, b, 0.0f, c);
    if (st == CLCNN_OK) st = clcnn_finish(ctx);
    *first_s = cli_now_s() - t0;
    for (int i = 0; i < o->iters && st == CLCNN_OK; i++) {
        t0 = cli_now_s();
        st = clcnn_gemm(ctx, be, 0, 0, 1.0f, a, b, 0.0f, c);
        if (st == CLCNN_OK) st = clcnn_finish(ctx);
        t[i] = cli_now_s() - t0;
    }
    if (st == CLCNN_OK) *median_s = cli_median(t, o->iters);
    free(t);
    return st;
}

static int run_gemm(const gemm_opts *o) {
    clcnn_context *ctx = NULL;
    clcnn_tensor *a = NULL, *b = NULL, *c = NULL;
    int rc = 1;
    if (cli_open(PROG, o->device, &ctx) != CLCNN_OK) return 1;
    clcnn_device_info info;
    clcnn_context_get_device_info(ctx, &info);
    printf("device: %s (%s)\nGEMM %d x %d x %d (M x N x K), fp32, median of %d runs after a warm-up\n", info.name,
           info.platform, o->m, o->n, o->k, o->iters);
    clcnn_status st;
    if ((st = clcnn_tensor_create(ctx, 2, (int[]){o->m, o->k}, &a)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 2, (int[]){o->k, o->n}, &b)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 2, (int[]){o->m, o->n}, &c)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(a, 0.5f)) != CLCNN_OK || (st = clcnn_tensor_fill(b, 0.25f)) != CLCNN_OK) {
        cli_fail_status(PROG, ctx, st);
        goto done;
    }
    const double flops = 2.0 * o->m * o->n * o->k;
    const struct {
        const char *name;
        clcnn_gemm_backend be;
    } backends[] = {{"clcnn (own kernel)", CLCNN_GEMM_OWN}, {"CLBlast", CLCNN_GEMM_CLBLAST}};
    double gflops[2] = {0, 0};
    printf("%-20s %12s %12s %14s\n", "backend", "median ms", "GFLOP/s", "first call s");
    for (int i = 0; i < 2; i++) {
        if (backends[i].be == CLCNN_GEMM_CLBLAST && !clcnn_have_clblast()) {
            printf("%-20s %12s  (this build has no CLBlast)\n", backends[i].name, "-");
            continue;
        }
        double med = 0, first = 0;
        if ((st = time_gemm(ctx, backends[i].be, o, a, b, c, &med, &first)) != CLCNN_OK) {
            printf("%-20s failed: %s (%s)\n", backends[i].name, clcnn_last_error(ctx), clcnn_status_str(st));
            continue;
        }
        gflops[i] = flops / med * 1e-9;
        printf("%-20s %12.2f %12.1f %14.2f\n", backends[i].name, med * 1e3, gflops[i], first);
    }
    if (gflops[0] > 0 && gflops[1] > 0) printf("ratio own / CLBlast: %.2fx\n", gflops[0] / gflops[1]);
    rc = gflops[0] > 0 ? 0 : 1;
done:
    clcnn_tensor_destroy(c);
    clcnn_tensor_destroy(b);
    clcnn_tensor_destroy(a);
    clcnn_context_destroy(ctx);
    return rc;
}

static int cmd_gemm(int argc, char **argv) {
    gemm_opts o = {NULL, 1024, 1024, 1024, 10};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: clbench gemm [--m M] [--n N] [--k K] [--iters N] [--device D]\n\n"
                   "Times C[M,N] = A[M,K] B[K,N] in fp32 with the project's kernel and with CLBlast\n"
                   "on the same device (default 1024^3, 10 timed runs after a warm-up call).\n");
            return 0;
        }
        if (!strcmp(a, "--device")) {
            if (!(o.device = cli_value(argc, argv, &i))) return cli_fail(PROG, "gemm: %s needs a value", a);
            continue;
        }
        int *dst = !strcmp(a, "--m") ? &o.m : !strcmp(a, "--n") ? &o.n : !strcmp(a, "--k") ? &o.k
                 : !strcmp(a, "--iters")                         ? &o.iters
                                                                 : NULL;
        if (!dst) return cli_fail(PROG, "gemm: unknown option %s (see clbench gemm --help)", a);
        if (!(*dst = cli_positive_int(cli_value(argc, argv, &i))))
            return cli_fail(PROG, "gemm: %s needs a positive integer", a);
    }
    return run_gemm(&o);
}

int main(int argc, char **argv) {
    static const char *usage = "usage: clbench COMMAND [OPTIONS]\n\ncommands:\n"
                               "  gemm   the project's GEMM and CLBlast's: GFLOP/s on one device\n\n"
                               "Run `clbench COMMAND --help` for its options.\n";
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "gemm")) return cmd_gemm(argc - 1, argv + 1);
    fprintf(stderr, "clbench: unknown command '%s'\n\n%s", argv[1], usage);
    return 2;
}
