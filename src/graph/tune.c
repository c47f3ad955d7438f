/* tune.c: clcnn_tune, measuring on this device what the default rules only guess.
 *
 * 1. The GEMM tile (-DTM/-DTN of gemm_tiled on CPUs; gemm_local's work-group tile on
 *    GPUs that run it): every candidate times all the graph's convolutions through
 *    im2col + GEMM, weighted by how often each shape occurs; the tile with the least
 *    total wins (one tile per device: the ops read ctx->params).
 *    Per shape, the candidates take turns (race), so that load from other processes
 *    that comes and goes during the tuning does not pick the winner.
 * 2. Per convolution shape, with that tile: every algorithm that applies
 *    (ops_conv2d_algorithm_applies), forced through the call's clcnn_conv_params.algo; the
 *    fastest is stored under ops_conv2d_tuning_key when more than one applied.
 * The winners go to the device's tuning file (runtime/params.c) and are used at once. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "graph/graph.h"
#include "ops/ops.h"
#include "runtime/tuning.h"
#include "runtime/clock.h"

#define TUNE_MIN_RUN_MS 4.0 /* calibrate repetitions so a timed run lasts at least this */
#define TUNE_MAX_REPS 20
#define TUNE_ALGO_MAX 8     /* algorithm ids tried: 1 .. TUNE_ALGO_MAX - 1 */
#define CANDIDATES_MAX 16   /* tiles or algorithms raced against each other */

/* One distinct convolution of the graph at the tuning batch size. */
typedef struct {
    const graph_layer *layer; /* the first layer with this shape */
    int count;                /* layers sharing it */
    int x_shape[4];
    int key[CLCNN_CONV_KEY_MAX], nkey;
} conv_shape;

typedef struct {
    clcnn_report_fn fn;
    void *user;
} reporter;

static void report(const reporter *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(const reporter *r, const char *fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    rt_log(CLCNN_LOG_INFO, "tune: %s", line);
    if (r->fn) r->fn(r->user, line);
}

/* Candidate tiles: register blocks from small (GPUs, little register space) to large
 * (AVX-512's 32 registers); N is the float16 vector count times 16. */
static const int tile_candidates[][2] = {{2, 16}, {3, 16}, {4, 16}, {5, 16}, {6, 16}, {8, 16}, {12, 16}, {2, 32}, {4, 32}, {6, 32}};
enum { NTILES = sizeof tile_candidates / sizeof tile_candidates[0], TILES_MAX = 16 };
_Static_assert(TILES_MAX <= CANDIDATES_MAX && TUNE_ALGO_MAX - 1 <= CANDIDATES_MAX, "race() holds every candidate");

/* The tiles to try: CLCNN_TUNE_TILES="MxN,MxN,..." (each compiled once: a shorter list
 * tunes faster), else tile_candidates. Returns the count. */
static int tiles_to_try(int tiles[TILES_MAX][2]) {
    const char *v = getenv("CLCNN_TUNE_TILES");
    int n = 0;
    for (const char *p = v; p && *p && n < TILES_MAX;) {
        int m, w, used = 0;
        if (sscanf(p, "%dx%d%n", &m, &w, &used) != 2 || !rt_gemm_tile_valid(m, w) || (p[used] && p[used] != ',')) {
            rt_log(CLCNN_LOG_WARN, "ignoring CLCNN_TUNE_TILES=%s: want MxN[,MxN...], M in 1..12, N 16 or 32", v);
            n = 0;
            break;
        }
        tiles[n][0] = m;
        tiles[n][1] = w;
        n++;
        p += used + (p[used] == ',');
    }
    if (n > 0) return n;
    memcpy(tiles, tile_candidates, sizeof tile_candidates);
    return NTILES;
}

/* The distinct convolutions of g for this batch; *out malloc'd. */
static clcnn_status collect_shapes(clcnn_graph *g, int batch, conv_shape **out, int *n_out) {
    conv_shape *s = calloc((size_t)g->nlayers, sizeof *s);
    if (!s) return rt_error(g->ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_tune: no host memory");
    int n = 0;
    for (int i = 1; i < g->nlayers; i++) {
        const graph_layer *l = &g->layers[i];
        if (l->kind != LAYER_CONV) continue;
        conv_shape c = {.layer = l, .count = 1};
        graph_layer_shape(&g->layers[l->in[0]], batch, c.x_shape);
        /* The key needs only shapes: a tensor header stands in for the batch's input. */
        clcnn_tensor xh = {.ctx = g->ctx, .ndim = 4, .numel = 1};
        memcpy(xh.shape, c.x_shape, sizeof c.x_shape);
        for (int d = 0; d < 4; d++) xh.numel *= (size_t)c.x_shape[d];
        c.nkey = ops_conv2d_tuning_key(&xh, graph_layer_param(g, l, 0), &l->conv, c.key);
        int j = 0;
        while (j < n && (s[j].nkey != c.nkey || memcmp(s[j].key, c.key, sizeof(int) * (size_t)c.nkey))) j++;
        if (j < n) s[j].count++;
        else s[n++] = c;
    }
    *out = s;
    *n_out = n;
    return CLCNN_OK;
}

/* The input and output of one shape (input filled with a plain value: timing only). */
static clcnn_status shape_tensors(clcnn_graph *g, const conv_shape *c, clcnn_tensor **x, clcnn_tensor **y) {
    int y_shape[4];
    clcnn_status st = clcnn_tensor_create(g->ctx, 4, c->x_shape, x);
    if (st == CLCNN_OK) st = clcnn_tensor_fill(*x, 0.25f);
    if (st == CLCNN_OK) st = clcnn_conv2d_output_shape(*x, graph_layer_param(g, c->layer, 0), &c->layer->conv, y_shape);
    if (st == CLCNN_OK) st = clcnn_tensor_create(g->ctx, 4, y_shape, y);
    return st;
}

/* Milliseconds per clcnn_conv2d of shape c on x into y by algorithm algo (0: the
 * default rules), over reps calls with the context's current tile. */
static clcnn_status run_conv(clcnn_graph *g, const conv_shape *c, clcnn_conv_algo algo, const clcnn_tensor *x,
                             clcnn_tensor *y, int reps, double *ms) {
    const clcnn_tensor *w = graph_layer_param(g, c->layer, 0);
    clcnn_conv_params p = c->layer->conv;
    p.algo = algo;
    clcnn_status st = CLCNN_OK;
    const double t0 = clock_now_ms();
    for (int i = 0; i < reps && st == CLCNN_OK; i++)
        st = clcnn_conv2d(g->ctx, x, w, NULL, &p, NULL, CLCNN_ACT_NONE, y);
    if (st == CLCNN_OK) st = clcnn_finish(g->ctx);
    *ms = (clock_now_ms() - t0) / reps;
    return st;
}

/* One candidate: a GEMM tile (0: keep the current one) and a gemm_local tile (mwg 0:
 * keep it), which it sets on the context, and a convolution algorithm (0: the default
 * rules), which its calls ask for. */
typedef struct {
    int tile_m, tile_n;
    rt_local_tile local;
    clcnn_conv_algo algo;
} candidate;

static void apply_candidate(clcnn_context *ctx, const candidate *k) {
    if (k->tile_m) {
        ctx->params.gemm_tile_m = k->tile_m;
        ctx->params.gemm_tile_n = k->tile_n;
    }
    if (k->local.mwg) rt_local_tile_set(&ctx->params, &k->local);
}

/* "4x16" or "64x64x16:16x16", the candidate's GEMM tile. */
static void tile_name(const candidate *k, char *dst, size_t size) {
    if (k->local.mwg)
        snprintf(dst, size, "%dx%dx%d:%dx%d", k->local.mwg, k->local.nwg, k->local.kwg, k->local.mdimc,
                 k->local.ndimc);
    else
        snprintf(dst, size, "%dx%d", k->tile_m, k->tile_n);
}

/* best[k] = milliseconds per call of shape c under candidate k: for each, one untimed
 * call (kernel builds) and one that calibrates its repetitions to last at least
 * TUNE_MIN_RUN_MS; then `runs` rounds in which the candidates take turns, the first
 * place rotating, and the best of its rounds for each. Timed one after the other, a
 * change in the machine's load would favour whichever ran in the quiet stretch; taking
 * turns, it hits all alike (and other processes only ever add time). */
static clcnn_status race(clcnn_graph *g, const conv_shape *c, const clcnn_tensor *x, clcnn_tensor *y,
                         const candidate *cand, int nc, int runs, double *best) {
    int reps[CANDIDATES_MAX];
    clcnn_status st = CLCNN_OK;
    for (int k = 0; k < nc && st == CLCNN_OK; k++) {
        double t = 0;
        apply_candidate(g->ctx, &cand[k]);
        st = run_conv(g, c, cand[k].algo, x, y, 1, &t);
        if (st == CLCNN_OK) st = run_conv(g, c, cand[k].algo, x, y, 1, &t);
        reps[k] = t >= TUNE_MIN_RUN_MS ? 1 : t > 0 ? (int)(TUNE_MIN_RUN_MS / t) + 1 : TUNE_MAX_REPS;
        if (reps[k] > TUNE_MAX_REPS) reps[k] = TUNE_MAX_REPS;
        best[k] = 0;
    }
    for (int r = 0; r < runs && st == CLCNN_OK; r++)
        for (int j = 0; j < nc && st == CLCNN_OK; j++) {
            const int k = (j + r) % nc;
            double t = 0;
            apply_candidate(g->ctx, &cand[k]);
            st = run_conv(g, c, cand[k].algo, x, y, reps[k], &t);
            if (st == CLCNN_OK && (best[k] == 0 || t < best[k])) best[k] = t;
        }
    return st;
}

/* gemm_local tiles for GPUs: CLBlast-like shapes of 4 x 4 to 8 x 8 outputs a work-item. */
static const char *const local_candidates[] = {"64x64x16:16x16", "64x32x32:16x8",   "64x64x32:16x16",
                                               "32x64x16:4x16",  "128x64x16:16x16", "64x128x16:16x16",
                                               "128x128x16:16x16"};

/* The gemm_local tiles to try into cand (at most TILES_MAX): CLCNN_TUNE_LOCAL_TILES=
 * "MWGxNWGxKWG:MDIMCxNDIMC,..." (tests, experiments), else the context's own tile and
 * local_candidates, without repeats. Returns the count. */
static int local_tiles_to_try(const clcnn_context *ctx, candidate *cand) {
    const char *v = getenv("CLCNN_TUNE_LOCAL_TILES");
    int n = 0;
    for (const char *p = v; p && *p && n < TILES_MAX;) {
        char one[64];
        const size_t len = strcspn(p, ",");
        snprintf(one, sizeof one, "%.*s", (int)(len < sizeof one ? len : sizeof one - 1), p);
        cand[n] = (candidate){.algo = CLCNN_CONV_ALGO_IM2COL};
        if (len >= sizeof one || rt_local_tile_parse(one, &cand[n].local) != 0) {
            rt_log(CLCNN_LOG_WARN, "ignoring CLCNN_TUNE_LOCAL_TILES=%s: want MWGxNWGxKWG:MDIMCxNDIMC[,...]", v);
            n = 0;
            break;
        }
        n++;
        p += len + (p[len] == ',');
    }
    if (n > 0) return n;
    cand[n++] = (candidate){.local = rt_local_tile_of(&ctx->params), .algo = CLCNN_CONV_ALGO_IM2COL};
    for (size_t i = 0; i < sizeof local_candidates / sizeof *local_candidates && n < TILES_MAX; i++) {
        candidate c = {.algo = CLCNN_CONV_ALGO_IM2COL};
        if (rt_local_tile_parse(local_candidates[i], &c.local) != 0 || !memcmp(&c.local, &cand[0].local, sizeof c.local))
            continue;
        cand[n++] = c;
    }
    return n;
}

/* The GEMM candidates of step 1 into cand: gemm_local tiles where ctx runs gemm_local
 * (those the device will not run are left out, with a report line), else gemm_tiled's. */
static int gemm_candidates(clcnn_graph *g, const reporter *rep, candidate *cand) {
    clcnn_context *ctx = g->ctx;
    if (!ops_gemm_local_in_use(ctx)) {
        int tiles[TILES_MAX][2];
        const int n = tiles_to_try(tiles);
        for (int t = 0; t < n; t++) cand[t] = (candidate){tiles[t][0], tiles[t][1], {0}, CLCNN_CONV_ALGO_IM2COL};
        return n;
    }
    const rt_device_params saved = ctx->params;
    candidate all[TILES_MAX];
    const int n_all = local_tiles_to_try(ctx, all);
    int n = 0;
    for (int t = 0; t < n_all; t++) {
        char name[48];
        apply_candidate(ctx, &all[t]);
        tile_name(&all[t], name, sizeof name);
        if (ops_gemm_local_in_use(ctx)) cand[n++] = all[t];
        else report(rep, "gemm_local tile %s: skipped, %s will not run %d work-items of it", name,
                    ctx->dev.info.name, all[t].local.mdimc * all[t].local.ndimc);
    }
    ctx->params = saved;
    return n;
}

/* Step 1: the tile with the least weighted total over all shapes (im2col + GEMM) into
 * *best (zero when there is none to choose). */
static clcnn_status tune_tile(clcnn_graph *g, const conv_shape *s, int n, const reporter *rep, candidate *best_tile) {
    candidate cand[TILES_MAX];
    double total[TILES_MAX] = {0}, ms[TILES_MAX];
    const int ntiles = gemm_candidates(g, rep, cand);
    *best_tile = (candidate){0};
    if (ntiles == 0) return CLCNN_OK;
    clcnn_status st = CLCNN_OK;
    for (int i = 0; i < n && st == CLCNN_OK; i++) {
        clcnn_tensor *x = NULL, *y = NULL;
        if ((st = shape_tensors(g, &s[i], &x, &y)) == CLCNN_OK) st = race(g, &s[i], x, y, cand, ntiles, 2, ms);
        clcnn_tensor_destroy(y);
        clcnn_tensor_destroy(x);
        for (int t = 0; t < ntiles && st == CLCNN_OK; t++) total[t] += ms[t] * s[i].count;
    }
    if (st != CLCNN_OK) return st;
    int best = 0;
    for (int t = 0; t < ntiles; t++) {
        char name[48];
        tile_name(&cand[t], name, sizeof name);
        report(rep, "%s %s: %.2f ms for the graph's %d convolution shapes (im2col + GEMM)",
               cand[t].local.mwg ? "gemm_local tile" : "gemm tile", name, total[t], n);
        if (total[t] < total[best]) best = t;
    }
    *best_tile = cand[best];
    return CLCNN_OK;
}

/* "layer1.0.conv1 (x2) x[1, 64, 56, 56] w[64, 64, 3, 3] stride 1 pad 1 groups 1" for reports. */
static void describe(const clcnn_graph *g, const conv_shape *c, char *dst, size_t size) {
    const clcnn_tensor *w = graph_layer_param(g, c->layer, 0);
    const clcnn_conv_params *p = &c->layer->conv;
    snprintf(dst, size, "%s (x%d) x[%d, %d, %d, %d] w[%d, %d, %d, %d] stride %d pad %d groups %d", c->layer->name,
             c->count, c->x_shape[0], c->x_shape[1], c->x_shape[2], c->x_shape[3], w->shape[0], w->shape[1],
             w->shape[2], w->shape[3], p->stride_h ? p->stride_h : 1, p->pad_h, p->groups ? p->groups : 1);
}

/* The algorithm's name as ops_conv2d_algorithm gives it when the call asks for algo. */
static const char *algo_name(clcnn_graph *g, const conv_shape *c, const clcnn_tensor *x, clcnn_conv_algo algo,
                             char *dst, size_t size) {
    clcnn_conv_params p = c->layer->conv;
    p.algo = algo;
    const char *name = ops_conv2d_algorithm(g->ctx, x, graph_layer_param(g, c->layer, 0), &p);
    if (name && *name) snprintf(dst, size, "%s", name);
    else snprintf(dst, size, "algorithm %d", algo);
    return dst;
}

/* Step 2: the fastest applicable algorithm of one shape into *choice (0 when only one
 * applies: nothing to store). */
static clcnn_status tune_shape(clcnn_graph *g, const conv_shape *c, const reporter *rep, rt_tuned_choice *choice,
                               char *name, size_t name_size) {
    const clcnn_tensor *w = graph_layer_param(g, c->layer, 0);
    char line[512], desc[200], aname[48];
    describe(g, c, desc, sizeof desc);
    int len = snprintf(line, sizeof line, "%s:", desc), tried = 0, best_algo = 0;
    double best = 0;
    clcnn_tensor *x = NULL, *y = NULL;
    clcnn_status st = shape_tensors(g, c, &x, &y);
    candidate cand[CANDIDATES_MAX];
    double ms[CANDIDATES_MAX];
    for (int algo = 1; algo < TUNE_ALGO_MAX && st == CLCNN_OK; algo++)
        if (ops_conv2d_algorithm_applies((clcnn_conv_algo)algo, x, w, &c->layer->conv))
            cand[tried++] = (candidate){.algo = (clcnn_conv_algo)algo};
    if (st == CLCNN_OK) st = race(g, c, x, y, cand, tried, 3, ms);
    for (int k = 0; k < tried && st == CLCNN_OK; k++) {
        algo_name(g, c, x, cand[k].algo, aname, sizeof aname);
        if (len < (int)sizeof line) len += snprintf(line + len, sizeof line - (size_t)len, " %s %.3f ms,", aname, ms[k]);
        if (best_algo == 0 || ms[k] < best) {
            best = ms[k];
            best_algo = cand[k].algo;
            snprintf(name, name_size, "%s", aname);
        }
    }
    clcnn_tensor_destroy(y);
    clcnn_tensor_destroy(x);
    if (st != CLCNN_OK) return st;
    if (len > 0 && len < (int)sizeof line && line[len - 1] == ',') line[--len] = 0;
    if (len < (int)sizeof line)
        snprintf(line + len, sizeof line - (size_t)len, " -> %s%s", tried ? name : "none applies",
                 tried == 1 ? " (the only one)" : "");
    report(rep, "%s", line);
    *choice = (rt_tuned_choice){.op = CLCNN_TUNED_OP_CONV, .nkey = c->nkey, .choice = tried > 1 ? best_algo : 0,
                                   .name = name};
    memcpy(choice->key, c->key, sizeof(int) * (size_t)c->nkey);
    return CLCNN_OK;
}

clcnn_status clcnn_tune(clcnn_graph *g, int batch, clcnn_report_fn report_fn, void *user) {
    if (!g) return rt_error(NULL, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_tune: graph is NULL");
    clcnn_context *ctx = g->ctx;
    if (batch < 1) return rt_error(ctx, CLCNN_ERR_INVALID_ARGUMENT, "clcnn_tune: batch %d is not positive", batch);
    const reporter rep = {report_fn, user};
    const rt_device_params saved = ctx->params;
    conv_shape *s = NULL;
    rt_tuned_choice *choices = NULL;
    char (*names)[48] = NULL;
    int n = 0, nchoices = 0;
    candidate tile = {0};
    clcnn_status st = collect_shapes(g, batch, &s, &n);
    if (st != CLCNN_OK) return st;
    if (n == 0) report(&rep, "the graph has no convolutions: only the GEMM tile is kept as it is");
    choices = calloc((size_t)n + 1, sizeof *choices);
    names = calloc((size_t)n + 1, sizeof *names);
    if (!choices || !names) {
        st = rt_error(ctx, CLCNN_ERR_OUT_OF_MEMORY, "clcnn_tune: no host memory");
        goto free_all;
    }
    if (n > 0 && (st = tune_tile(g, s, n, &rep, &tile)) != CLCNN_OK) goto restore;
    if (tile.tile_m || tile.local.mwg) {
        char now[48], was[48];
        const candidate before = {saved.gemm_tile_m, saved.gemm_tile_n,
                                  tile.local.mwg ? rt_local_tile_of(&saved) : (rt_local_tile){0}, 0};
        apply_candidate(ctx, &tile);
        tile_name(&tile, now, sizeof now);
        tile_name(&before, was, sizeof was);
        report(&rep, "%s: %s (was %s)", tile.local.mwg ? "gemm_local tile" : "gemm tile", now, was);
    }
    for (int i = 0; i < n && st == CLCNN_OK; i++) {
        st = tune_shape(g, &s[i], &rep, &choices[nchoices], names[nchoices], sizeof names[0]);
        if (st == CLCNN_OK && choices[nchoices].choice > 0) nchoices++;
    }
    if (st != CLCNN_OK) goto restore;
    char path[4200];
    ctx->params = saved; /* rt_tuning_store gives ctx the stored tiles (unless CLCNN_GEMM_TILE, _LOCAL) */
    if ((st = rt_tuning_store(ctx, tile.tile_m, tile.tile_n, tile.local.mwg ? &tile.local : NULL, nchoices,
                                 choices, path, sizeof path)) != CLCNN_OK)
        goto restore;
    report(&rep, "stored %d convolution choice%s%s in %s", nchoices, nchoices == 1 ? "" : "s",
           tile.tile_m || tile.local.mwg ? " and the GEMM tile" : "", path);
    goto free_all;
restore:
    ctx->params = saved;
free_all:
    free(names);
    free(choices);
    free(s);
    return st;
}
