/* cmd_gemm.c: clbench gemm, the project's register-blocked GEMM and CLBlast's SGEMM on
 * the same device in the same run, against the measured multiply-add peak. */
#include "bench.h"

typedef struct {
    int m, n, k, iters;
} gemm_opts;

typedef struct {
    const char *name;
    clcnn_gemm_backend backend;
    int ran;
    double median_ms, min_ms, first_s, gflops;
    char error[256];
} gemm_result;

/* One call of C = A B on r->backend, waited for; its milliseconds in *ms. */
static clcnn_status gemm_once(clcnn_context *ctx, clcnn_tensor *a, clcnn_tensor *b, clcnn_tensor *c,
                              const gemm_result *r, double *ms) {
    const double t0 = bench_now_ms();
    clcnn_status st = clcnn_gemm(ctx, r->backend, 0, 0, 1.0f, a, b, 0.0f, c);
    if (st == CLCNN_OK) st = clcnn_finish(ctx);
    *ms = bench_now_ms() - t0;
    return st;
}

static void note_failure(clcnn_context *ctx, clcnn_status st, gemm_result *r) {
    snprintf(r->error, sizeof r->error, "failed: %s (%s)", clcnn_last_error(ctx), clcnn_status_str(st));
    r->ran = 0;
}

/* Times the backends that can run (r[i].ran set on entry): the first call of each
 * (kernel builds) apart, then o->iters rounds of one call each, interleaved and with the
 * order swapped every round, so that a change in the machine's load during the run hits
 * both alike (the project's GEMM is ten times faster: timed one after the other, a short
 * burst of load lands on its whole run and on a tenth of CLBlast's). */
static clcnn_status time_gemms(clcnn_context *ctx, const gemm_opts *o, clcnn_tensor *a, clcnn_tensor *b,
                               clcnn_tensor *c, gemm_result *r, int nr) {
    double *t = malloc(sizeof(double) * (size_t)o->iters * (size_t)nr);
    if (!t) return CLCNN_ERR_OUT_OF_MEMORY;
    for (int i = 0; i < nr; i++) {
        if (!r[i].ran) continue;
        double ms;
        const clcnn_status st = gemm_once(ctx, a, b, c, &r[i], &ms);
        if (st != CLCNN_OK) note_failure(ctx, st, &r[i]);
        r[i].first_s = ms * 1e-3;
    }
    for (int pass = 0; pass < o->iters; pass++)
        for (int j = 0; j < nr; j++) {
            const int i = pass % 2 ? nr - 1 - j : j;
            if (!r[i].ran) continue;
            const clcnn_status st = gemm_once(ctx, a, b, c, &r[i], &t[i * o->iters + pass]);
            if (st != CLCNN_OK) note_failure(ctx, st, &r[i]);
        }
    for (int i = 0; i < nr; i++) {
        if (!r[i].ran) continue;
        double *ti = &t[i * o->iters];
        r[i].median_ms = cli_median(ti, o->iters); /* sorts ti */
        r[i].min_ms = ti[0];
        r[i].gflops = 2.0 * o->m * o->n * (double)o->k / r[i].median_ms * 1e-6;
    }
    free(t);
    return CLCNN_OK;
}

static json_t *result_json(const gemm_result *r, double peak) {
    if (!r->ran) return json_pack("{s:s, s:s}", "backend", r->name, "error", r->error);
    return json_pack("{s:s, s:f, s:f, s:f, s:f, s:f}", "backend", r->name, "median_ms", r->median_ms, "min_ms",
                     r->min_ms, "gflops", r->gflops, "pct_of_peak", bench_pct(r->gflops, peak), "first_s", r->first_s);
}

static int report(const bench_common *c, clcnn_context *ctx, const gemm_opts *o, const clcnn_peak *peak,
                  const gemm_result *r) {
    const double ratio = r[0].ran && r[1].ran ? r[0].gflops / r[1].gflops : 0;
    if (c->json)
        return bench_print_json(json_pack("{s:o, s:i, s:i, s:i, s:i, s:f, s:[o, o], s:o}", "device",
                                          bench_device_json(ctx), "m", o->m, "n", o->n, "k", o->k, "iters", o->iters,
                                          "peak_gflops", peak->fma_gflops, "results", result_json(&r[0], peak->fma_gflops),
                                          result_json(&r[1], peak->fma_gflops), "own_over_clblast",
                                          ratio > 0 ? json_real(ratio) : json_null()));
    printf("device: %s, fp32 multiply-add peak %.1f GFLOP/s (clbench peak)\n", bench_device_name(ctx), peak->fma_gflops);
    printf("GEMM %d x %d x %d (M x N x K), fp32, median of %d interleaved runs after the first call\n\n", o->m, o->n, o->k, o->iters);
    printf("%-20s %10s %10s %9s %14s\n", "backend", "median ms", "GFLOP/s", "% peak", "first call s");
    for (int i = 0; i < 2; i++) {
        if (!r[i].ran) printf("%-20s %s\n", r[i].name, r[i].error);
        else
            printf("%-20s %10.2f %10.1f %8.1f%% %14.2f\n", r[i].name, r[i].median_ms, r[i].gflops,
                   bench_pct(r[i].gflops, peak->fma_gflops), r[i].first_s);
    }
    if (ratio > 0) printf("\nown / CLBlast: %.2fx\n", ratio);
    return 0;
}

int bench_cmd_gemm(int argc, char **argv) {
    gemm_opts o = {1024, 1024, 1024, 10};
    const opt_spec opts[] = {{"--m", OPT_INT, &o.m, "M", "rows of A and C"},
                              {"--n", OPT_INT, &o.n, "N", "columns of B and C"},
                              {"--k", OPT_INT, &o.k, "K", "columns of A, rows of B"},
                              {"--iters", OPT_INT, &o.iters, "N", "timed calls per backend"},
                              {NULL, OPT_FLAG, NULL, NULL, NULL}};
    const opt_command cmd = {
        "gemm", "[--m M] [--n N] [--k K] [--iters N] [--device D] [--json]",
        "Times C[M,N] = A[M,K] B[K,N] in fp32 with the project's register-blocked kernel and\n"
        "with CLBlast's SGEMM on the same device, in the same run: median milliseconds,\n"
        "GFLOP/s (2 M N K per call) and percent of the multiply-add peak measured first.",
        opts, 0, PROG};
    bench_common c;
    int rc = bench_parse(&cmd, argc, argv, &c);
    if (rc != BENCH_RUN) return rc;
    clcnn_context *ctx;
    if (cli_open(PROG, c.device, &ctx) != CLCNN_OK) return 1;
    clcnn_tensor *a = NULL, *b = NULL, *cm = NULL;
    clcnn_peak peak;
    clcnn_status st;
    rc = 1;
    if ((st = clcnn_measure_peak(ctx, &peak)) != CLCNN_OK) {
        bench_fail("gemm", ctx, st, "measuring the peak");
        goto done;
    }
    if ((st = clcnn_tensor_create(ctx, 2, (int[]){o.m, o.k}, &a)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 2, (int[]){o.k, o.n}, &b)) != CLCNN_OK ||
        (st = clcnn_tensor_create(ctx, 2, (int[]){o.m, o.n}, &cm)) != CLCNN_OK ||
        (st = clcnn_tensor_fill(a, 0.5f)) != CLCNN_OK || (st = clcnn_tensor_fill(b, 0.25f)) != CLCNN_OK) {
        bench_fail("gemm", ctx, st, "allocating the matrices");
        goto done;
    }
    gemm_result r[2] = {{.name = "clcnn", .backend = CLCNN_GEMM_OWN}, {.name = "clblast", .backend = CLCNN_GEMM_CLBLAST}};
    for (int i = 0; i < 2; i++) {
        r[i].ran = r[i].backend != CLCNN_GEMM_CLBLAST || clcnn_have_clblast();
        if (!r[i].ran) snprintf(r[i].error, sizeof r[i].error, "this build has no CLBlast");
    }
    if ((st = time_gemms(ctx, &o, a, b, cm, r, 2)) != CLCNN_OK) {
        bench_fail("gemm", ctx, st, "allocating the timings");
        goto done;
    }
    if (!r[0].ran) {
        fprintf(stderr, "%s gemm: the project's GEMM %s\n", PROG, r[0].error);
        goto done;
    }
    rc = report(&c, ctx, &o, &peak, r);
done:
    clcnn_tensor_destroy(cm);
    clcnn_tensor_destroy(b);
    clcnn_tensor_destroy(a);
    clcnn_context_destroy(ctx);
    return rc;
}
