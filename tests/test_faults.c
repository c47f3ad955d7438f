/* test_faults.c: failures on purpose (CLCNN_FAULT, src/runtime/fault.h). The n-th
 * device allocation or kernel launch of a small training job and of a CAM job is made
 * to fail, for every n (or an evenly spaced sample when there are many): each must end
 * in the injected status with "(injected fault)" in the last error, leave no tensor
 * behind, and leave the context working. The clcnn tool, run as users run it, is made
 * to fail its n-th file save: it must exit non-zero with one error line, and every file
 * it had written must be whole, with no temporary file left. Also: the launch checks
 * against the device's work-group and local-memory limits. */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include "harness.h"
#include "runtime/fault.h"
#include "runtime/internal.h"
#include "testutil.h"
#include "tmptree.h"

/* ------------------------------------------------------------ the plan -- */

static void test_faults_plan(void) {
    static const char *bad[] = {"alloc", "alloc:", "alloc:0", "alloc:x", "alloc:-1", "free:3", "alloc:3,launch",
                                "write:+", "alloc:1 ", "alloc:99999999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const clcnn_status st = rt_fault_configure(bad[i]);
        CHECK(st == CLCNN_ERR_INVALID_ARGUMENT && strstr(clcnn_last_error(NULL), "alloc:N"), "plan \"%s\": %d, %s",
              bad[i], st, clcnn_last_error(NULL));
    }
    /* Counting only: nothing fails. */
    CHECK_OK(rt_fault_configure(""));
    for (int i = 0; i < 5; i++) CHECK(!rt_fault_hit(CLCNN_FAULT_WRITE), "write %d failed without a plan", i + 1);
    CHECK(rt_fault_calls(CLCNN_FAULT_WRITE) == 5 && rt_fault_injected(CLCNN_FAULT_WRITE) == 0,
          "5 writes counted as %lu, %lu injected", rt_fault_calls(CLCNN_FAULT_WRITE),
          rt_fault_injected(CLCNN_FAULT_WRITE));
    /* The 2nd launch; the 3rd write and every later one; kinds counted apart. */
    CHECK_OK(rt_fault_configure("launch:2,write:3+"));
    int got[6];
    for (int i = 0; i < 6; i++) got[i] = rt_fault_hit(CLCNN_FAULT_LAUNCH);
    CHECK(!got[0] && got[1] && !got[2] && !got[5], "launch:2 failed calls %d%d%d%d%d%d", got[0], got[1], got[2], got[3],
          got[4], got[5]);
    for (int i = 0; i < 6; i++) got[i] = rt_fault_hit(CLCNN_FAULT_WRITE);
    CHECK(!got[0] && !got[1] && got[2] && got[3] && got[5], "write:3+ failed calls %d%d%d%d%d%d", got[0], got[1],
          got[2], got[3], got[4], got[5]);
    CHECK(!rt_fault_hit(CLCNN_FAULT_ALLOC), "an alloc failed under a plan without alloc");
    CHECK(rt_fault_injected(CLCNN_FAULT_LAUNCH) == 1 && rt_fault_injected(CLCNN_FAULT_WRITE) == 4,
          "injected %lu launches and %lu writes, want 1 and 4", rt_fault_injected(CLCNN_FAULT_LAUNCH),
          rt_fault_injected(CLCNN_FAULT_WRITE));
    CHECK_OK(rt_fault_configure(NULL));
}

/* An injected save failure reads as a full disk, names the file and leaves the old one. */
static void test_faults_save_file(void) {
    tmptree t;
    if (!tmptree_open(&t, "faultsave")) return;
    const char *path = tmptree_path(&t, "a.txt");
    CHECK_OK(clcnn_save_file(path, "old", 3));
    CHECK_OK(rt_fault_configure("write:1"));
    CHECK_STATUS(clcnn_save_file(path, "new!", 4), CLCNN_ERR_IO);
    CHECK_OK(rt_fault_configure(NULL));
    const char *msg = clcnn_last_error(NULL);
    CHECK(strstr(msg, "a.txt") && strstr(msg, strerror(ENOSPC)) && strstr(msg, "(injected fault)"),
          "an injected write failure says: %s", msg);
    size_t size = 0;
    char *text = (char *)tu_read_file(path, &size);
    CHECK(text && size == 3 && !memcmp(text, "old", 3), "the failed save changed the file: %s", text ? text : "(gone)");
    free(text);
    DIR *d = opendir(t.root);
    int files = 0;
    for (struct dirent *e; d && (e = readdir(d));) files += e->d_name[0] != '.';
    if (d) closedir(d);
    CHECK(files == 1, "%d files after a failed save, want a.txt alone (no temporary file)", files);
    tmptree_close(&t);
}

/* ------------------------------------------------- device limits -------- */

/* Launches over the device's limits are refused before the driver sees them, naming the
 * kernel and the limit. */
static void test_faults_launch_limits(void) {
    clcnn_context *ctx = g_ctx;
    clcnn_tensor *x = NULL;
    cl_kernel k;
    CHECK_OK(clcnn_tensor_create(ctx, 1, (int[]){64}, &x));
    CHECK_OK(rt_get_kernel(ctx, "eltwise.cl", "activate", "", &k));
    if (!x || test_failures()) goto done;
    const rt_karg args[] = {KARG_TENSOR(x), KARG_TENSOR(x), KARG_INT(64), KARG_INT(CLCNN_ACT_RELU)};
    const size_t global = 64, ok_local = 1, too_big = ctx->dev.info.max_work_group_size * 2, zero = 0;
    CHECK_OK(rt_launch(ctx, k, "limits", KARG_LIST(args), 1, &global, &ok_local));
    /* rt_launch shrinks a local size to fit (test_launch.c); an exact one cannot be. */
    const clcnn_status st = rt_launch_exact(ctx, k, "limits", KARG_LIST(args), 1, &global, &too_big);
    CHECK(st == CL_INVALID_WORK_GROUP_SIZE || st == CL_INVALID_WORK_ITEM_SIZE, "local size %zu: status %d", too_big, st);
    CHECK(strstr(clcnn_last_error(ctx), "kernel activate"), "the error does not name the kernel: %s",
          clcnn_last_error(ctx));
    CHECK_STATUS(rt_launch(ctx, k, "limits", KARG_LIST(args), 1, &global, &zero), CL_INVALID_WORK_ITEM_SIZE);
    /* Twice the device's local memory in one static __local array (norm_finish's tmp[RED_WG]). */
    char opts[64];
    const unsigned long long floats = ctx->dev.info.local_mem_bytes / 2;
    snprintf(opts, sizeof opts, "-DRED_WG=%llu", floats);
    cl_kernel big;
    if (!ctx->dev.info.local_mem_bytes || floats > 1u << 26 ||
        rt_get_kernel(ctx, "optim.cl", "norm_finish", opts, &big) != CLCNN_OK) {
        printf("    the local-memory check was not exercised: no kernel with %llu local floats builds here\n", floats);
        goto done;
    }
    const rt_karg nargs[] = {KARG_TENSOR(x), KARG_INT(1), KARG_FLOAT(0), KARG_TENSOR(x)};
    const size_t one = 1;
    CHECK_STATUS(rt_launch(ctx, big, "limits", KARG_LIST(nargs), 1, &one, &one), CL_OUT_OF_RESOURCES);
    if (getenv("CLCNN_TEST_VERBOSE")) printf("    %s\n", clcnn_last_error(ctx));
    CHECK(strstr(clcnn_last_error(ctx), "kernel norm_finish") && strstr(clcnn_last_error(ctx), "local memory"),
          "the local-memory error: %s", clcnn_last_error(ctx));
done:
    CHECK_OK(clcnn_finish(ctx));
    clcnn_tensor_destroy(x);
}

/* ------------------------------------------- in-process walks ----------- */

typedef clcnn_status (*job_fn)(clcnn_context *ctx);

#define TRY(expr)                                                                                                      \
    do {                                                                                                               \
        if ((st = (expr)) != CLCNN_OK) goto done;                                                                      \
    } while (0)

enum { IMG = 8, BATCH = 4, CLASSES = 3 };

static void job_input(float *x, float *labels, int n) {
    for (int i = 0; i < n * 3 * IMG * IMG; i++) x[i] = (float)((i * 37) % 17) / 17.0f - 0.4f;
    for (int i = 0; labels && i < n; i++) labels[i] = (float)(i % CLASSES);
}

/* conv-bn-relu, maxpool, conv-bn-relu, SE, global pool, dropout, linear: every kind of
 * layer the trainer has kernels for. */
static clcnn_status job_graph(clcnn_context *ctx, clcnn_graph **out) {
    const clcnn_conv_params same = {.pad_h = 1, .pad_w = 1};
    const clcnn_pool_params mp = {.mode = CLCNN_POOL_MAX, .kernel_h = 2, .kernel_w = 2};
    clcnn_graph *g = NULL;
    clcnn_status st;
    TRY(clcnn_graph_create(ctx, 3, IMG, IMG, 5, &g));
    TRY(clcnn_graph_conv2d(g, "conv1", "input", 4, 3, 3, &same, 0));
    TRY(clcnn_graph_batchnorm(g, "bn1", "conv1"));
    TRY(clcnn_graph_activation(g, "relu1", "bn1", CLCNN_ACT_RELU));
    TRY(clcnn_graph_pool2d(g, "pool", "relu1", &mp));
    TRY(clcnn_graph_conv2d(g, "conv2", "pool", 8, 3, 3, &same, 0));
    TRY(clcnn_graph_batchnorm(g, "bn2", "conv2"));
    TRY(clcnn_graph_activation(g, "relu2", "bn2", CLCNN_ACT_RELU));
    TRY(clcnn_graph_squeeze_excite(g, "se", "relu2", 4, NULL, CLCNN_ACT_RELU));
    TRY(clcnn_graph_global_avg_pool(g, "gap", "se"));
    TRY(clcnn_graph_dropout(g, "drop", "gap", 0.2f));
    TRY(clcnn_graph_linear(g, "fc", "drop", CLASSES, 1));
done:
    if (st != CLCNN_OK) clcnn_graph_destroy(g);
    else *out = g;
    return st;
}

/* Two training steps (Adam, gradient clipping) and an evaluation pass read back. */
static clcnn_status train_job(clcnn_context *ctx) {
    static float hx[BATCH * 3 * IMG * IMG], hy[BATCH], logits[BATCH * CLASSES];
    clcnn_graph *g = NULL;
    clcnn_trainer *t = NULL;
    clcnn_tensor *x = NULL, *y = NULL;
    const clcnn_tensor *out;
    clcnn_train_params p = {.optimizer = clcnn_optimizer_defaults(CLCNN_OPT_ADAM), .clip_norm = 1.0f};
    clcnn_status st;
    job_input(hx, hy, BATCH);
    TRY(job_graph(ctx, &g));
    TRY(clcnn_trainer_create(g, &p, &t));
    TRY(clcnn_tensor_create(ctx, 4, (int[]){BATCH, 3, IMG, IMG}, &x));
    TRY(clcnn_tensor_create(ctx, 1, (int[]){BATCH}, &y));
    TRY(clcnn_tensor_write(x, hx, sizeof hx / sizeof hx[0]));
    TRY(clcnn_tensor_write(y, hy, BATCH));
    clcnn_graph_set_training(g, 1);
    for (int s = 0; s < 2; s++) TRY(clcnn_trainer_step(t, x, y, NULL));
    clcnn_graph_set_training(g, 0);
    TRY(clcnn_graph_forward(g, x, &out));
    TRY(clcnn_tensor_read(out, logits, BATCH * CLASSES));
done:
    clcnn_tensor_destroy(y);
    clcnn_tensor_destroy(x);
    clcnn_trainer_destroy(t);
    clcnn_graph_destroy(g);
    return st;
}

/* Grad-CAM, Score-CAM and Eigen-CAM maps of a batch of 2, and deletion/insertion AUCs. */
static clcnn_status cam_job(clcnn_context *ctx) {
    static float hx[2 * 3 * IMG * IMG], map[2 * 4 * 4];
    clcnn_graph *g = NULL;
    clcnn_tensor *x = NULL, *one = NULL, *maps = NULL;
    float probs[2 * CLASSES];
    int used[2];
    double del, ins;
    clcnn_status st;
    job_input(hx, NULL, 2);
    TRY(job_graph(ctx, &g));
    TRY(clcnn_tensor_create(ctx, 4, (int[]){2, 3, IMG, IMG}, &x));
    TRY(clcnn_tensor_create(ctx, 4, (int[]){1, 3, IMG, IMG}, &one));
    TRY(clcnn_tensor_create(ctx, 3, (int[]){2, 4, 4}, &maps));
    TRY(clcnn_tensor_write(x, hx, sizeof hx / sizeof hx[0]));
    TRY(clcnn_tensor_write(one, hx, (size_t)3 * IMG * IMG));
    const clcnn_cam_method methods[] = {CLCNN_CAM_GRADCAM, CLCNN_CAM_SCORECAM, CLCNN_CAM_EIGENCAM};
    for (int m = 0; m < 3; m++) {
        const clcnn_cam_params cp = {.method = methods[m], .layer = "se", .scorecam_batch = 8};
        TRY(clcnn_cam(g, x, &cp, NULL, maps, probs, used));
    }
    TRY(clcnn_tensor_read(maps, map, 32));
    TRY(clcnn_cam_deletion_insertion(g, one, map, 4, 4, used[0], 4, &del, &ins));
done:
    clcnn_tensor_destroy(maps);
    clcnn_tensor_destroy(one);
    clcnn_tensor_destroy(x);
    clcnn_graph_destroy(g);
    return st;
}

/* After a failure the context still computes: fill, read back. */
static int context_works(clcnn_context *ctx) {
    clcnn_tensor *t = NULL;
    float v[7] = {0};
    int ok = clcnn_tensor_create(ctx, 1, (int[]){7}, &t) == CLCNN_OK && clcnn_tensor_fill(t, 2.5f) == CLCNN_OK &&
             clcnn_tensor_read(t, v, 7) == CLCNN_OK && v[0] == 2.5f && v[6] == 2.5f;
    clcnn_tensor_destroy(t);
    return ok;
}

/* Run job with the n-th call of kind failing, for n over all calls (or max_walk of
 * them, evenly spaced, first and last included), from an empty pool each time so that
 * the calls repeat exactly. */
static void walk(const char *job_name, job_fn job, rt_fault_kind kind, const char *kind_name, clcnn_status want,
                 int max_walk) {
    clcnn_context *ctx = g_ctx;
    clcnn_context_stats before, after;
    clcnn_context_trim(ctx);
    CHECK_OK(rt_fault_configure(NULL));
    const clcnn_status clean = job(ctx);
    CHECK(clean == CLCNN_OK, "%s without faults: %s", job_name, clcnn_last_error(ctx));
    if (clean != CLCNN_OK) return;
    const unsigned long total = rt_fault_calls(kind);
    clcnn_context_get_stats(ctx, &before);
    const int walks = total < (unsigned long)max_walk ? (int)total : max_walk;
    int failed = 0;
    for (int i = 0; i < walks && failed < 3; i++) {
        const unsigned long n = walks == 1 ? 1 : 1 + (unsigned long)i * (total - 1) / (unsigned long)(walks - 1);
        char plan[48];
        snprintf(plan, sizeof plan, "%s:%lu", kind_name, n);
        clcnn_context_trim(ctx);
        CHECK_OK(rt_fault_configure(plan));
        const clcnn_status st = job(ctx);
        const unsigned long injected = rt_fault_injected(kind);
        CHECK_OK(rt_fault_configure(NULL));
        const char *msg = strstr(clcnn_last_error(ctx), CLCNN_FAULT_NOTE) ? clcnn_last_error(ctx) : clcnn_last_error(NULL);
        clcnn_context_get_stats(ctx, &after);
        if (getenv("CLCNN_TEST_VERBOSE")) printf("    %s, %s: %s\n", job_name, plan, msg);
        const int before_fail = test_failures();
        CHECK(injected == 1, "%s, %s: the fault was injected %lu times (the calls did not repeat)", job_name, plan,
              injected);
        CHECK(st == want, "%s, %s: status %d (%s), want %d (%s): %s", job_name, plan, st, clcnn_status_str(st), want,
              clcnn_status_str(want), clcnn_last_error(ctx));
        CHECK(strstr(msg, CLCNN_FAULT_NOTE), "%s, %s: the last error does not tell the injected fault: %s", job_name,
              plan, clcnn_last_error(ctx));
        CHECK(after.pool_bytes_in_use == before.pool_bytes_in_use, "%s, %s: %llu bytes of tensors left behind",
              job_name, plan, (unsigned long long)(after.pool_bytes_in_use - before.pool_bytes_in_use));
        CHECK(context_works(ctx), "%s, %s: the context no longer works: %s", job_name, plan, clcnn_last_error(ctx));
        failed += test_failures() > before_fail;
    }
    printf("    %s: %lu %s calls, %d walked, %d faults injected\n", job_name, total, kind_name, walks, walks);
}

static void test_faults_walk_training(void) {
    walk("training", train_job, CLCNN_FAULT_ALLOC, "alloc", CLCNN_ERR_OUT_OF_MEMORY, 400);
    walk("training", train_job, CLCNN_FAULT_LAUNCH, "launch", CL_OUT_OF_RESOURCES, 400);
}

static void test_faults_walk_cam(void) {
    walk("CAM", cam_job, CLCNN_FAULT_ALLOC, "alloc", CLCNN_ERR_OUT_OF_MEMORY, 400);
    walk("CAM", cam_job, CLCNN_FAULT_LAUNCH, "launch", CL_OUT_OF_RESOURCES, 300);
}

/* A context made and destroyed around a failure, under the fault: nothing stays. */
static void test_faults_fresh_context(void) {
    clcnn_context *ctx = NULL;
    CHECK_OK(clcnn_context_create(g_ctx->device_index, &ctx));
    if (!ctx) return;
    CHECK_OK(rt_fault_configure("launch:5"));
    CHECK_STATUS(train_job(ctx), CL_OUT_OF_RESOURCES);
    CHECK_OK(rt_fault_configure("alloc:9"));
    CHECK_STATUS(cam_job(ctx), CLCNN_ERR_OUT_OF_MEMORY);
    CHECK_OK(rt_fault_configure(NULL));
    clcnn_context_stats s;
    clcnn_context_get_stats(ctx, &s);
    CHECK(s.pool_bytes_in_use == 0, "%llu bytes in use after the failed jobs", (unsigned long long)s.pool_bytes_in_use);
    clcnn_context_destroy(ctx);
}

/* ------------------------------------------ the tool, file saves -------- */

static int is_file(const tmptree *t, const char *rel) {
    struct stat s;
    return stat(tmptree_path(t, rel), &s) == 0;
}

/* The tool's error lines ("clcnn CMD: ..."; progress lines are not errors). */
static int error_lines(const char *text, const char *prefix, const char **first) {
    int n = 0;
    *first = NULL;
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p))
        if (!strncmp(p, prefix, strlen(prefix))) {
            if (!n) *first = p;
            n++;
        }
    return n;
}

/* No temporary file (NAME.tmp.PID) left in dir. */
static void check_no_temporaries(const char *dir, const char *what) {
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        CHECK(!strstr(e->d_name, ".tmp."), "%s: temporary file %s left behind", what, e->d_name);
    if (d) closedir(d);
}

/* A failed run's files, each whole: the checkpoints load, metrics.csv has the epochs of
 * last.safetensors or one fewer (it is written after), metrics.json parses, the curves
 * decode. Returns the epoch of last.safetensors (0 when absent). */
static int check_run_files(const tmptree *t, const char *dir, const char *what) {
    char rel[256];
    int epoch = 0;
    static const char *weights[] = {"last.safetensors", "last_optimizer.safetensors", "best.safetensors"};
    for (int i = 0; i < 3; i++) {
        snprintf(rel, sizeof rel, "%s/%s", dir, weights[i]);
        if (!is_file(t, rel)) continue;
        clcnn_weights *w = NULL;
        const clcnn_status st = clcnn_weights_load(g_ctx, tmptree_path(t, rel), &w);
        CHECK(st == CLCNN_OK, "%s: %s does not load: %s", what, rel, clcnn_last_error(g_ctx));
        const char *e = w ? clcnn_weights_metadata(w, "epoch") : NULL;
        if (i == 0 && e) epoch = atoi(e);
        clcnn_weights_destroy(w);
    }
    snprintf(rel, sizeof rel, "%s/metrics.csv", dir);
    char *csv = tmptree_slurp(t, rel);
    if (csv) {
        int rows = -1;
        for (const char *p = csv; *p; p++) rows += *p == '\n';
        CHECK(!strncmp(csv, "epoch,", 6) && (rows == epoch || rows == epoch - 1),
              "%s: metrics.csv has %d rows, last.safetensors epoch %d", what, rows, epoch);
    }
    free(csv);
    snprintf(rel, sizeof rel, "%s/metrics.json", dir);
    if (is_file(t, rel)) {
        json_t *j = json_load_file(tmptree_path(t, rel), 0, NULL);
        CHECK(j != NULL, "%s: metrics.json does not parse", what);
        json_decref(j);
    }
    snprintf(rel, sizeof rel, "%s/curves.png", dir);
    if (is_file(t, rel)) {
        clcnn_image img;
        CHECK_OK(clcnn_image_load(tmptree_path(t, rel), &img));
        clcnn_image_free(&img);
    }
    check_no_temporaries(tmptree_path(t, dir), what);
    return epoch;
}

/* A failed run's output: exit status 1 and one error line saying what was injected. */
static void check_failure(const tmptree *t, const char *name, int rc, const char *cmd, const char *what) {
    char rel[64], prefix[32];
    snprintf(rel, sizeof rel, "%s.err", name);
    snprintf(prefix, sizeof prefix, "clcnn %s: ", cmd);
    char *err = tmptree_slurp(t, rel);
    const char *line;
    const int n = error_lines(err, prefix, &line);
    CHECK(rc == 1 && n == 1 && strstr(line, CLCNN_FAULT_NOTE) && strchr(line, '\n') &&
              (int)(strchr(line, '\n') - line) < 1000,
          "%s: exit %d, %d error lines:\n%s", what, rc, n, err ? err : "(no stderr)");
    /* Under SAN=1: a report ("LeakSanitizer: detected memory leaks"), not LSan's own
     * occasional "LeakSanitizer has encountered a fatal error" under load. */
    CHECK(!err || !strstr(err, "Sanitizer: "), "%s: a sanitizer report:\n%s", what, err);
    free(err);
}

static int make_data(const tmptree *t) {
    const int rc = tmptree_run(t, "synthetic", "%s/make_synthetic %s/data --train 16 --val 4 --size 32 --seed 3", tmptree_build_dir(),
                       t->root);
    CHECK(rc == 0, "make_synthetic exited %d", rc);
    return rc == 0;
}

static const char *train_args = "--arch compact --size 32 --batch 8 --optimizer adam --lr 0.003 --threads 1 "
                                "--epochs 2 --schedule constant";

/* `clcnn train` with its n-th save failing, for every n until a run no longer fails;
 * every other failed run that had written a checkpoint is then resumed to its end
 * (the kill test in test_tool.c resumes more). */
static void test_faults_tool_train(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!tmptree_open(&t, "faulttrain") || !make_data(&t)) goto done;
    const char *b = tmptree_build_dir(), *r = t.root;
    int n = 1, resumed = 0;
    for (; n <= 30; n++) {
        char dir[32], what[64];
        snprintf(dir, sizeof dir, "w%d", n);
        snprintf(what, sizeof what, "train, write:%d", n);
        const int rc = tmptree_run(&t, "train", "CLCNN_FAULT=write:%d %s/clcnn train --data %s/data/train --val %s/data/val "
                                        "%s --out %s/%s", n, b, r, r, train_args, r, dir);
        if (rc == 0) break; /* fewer than n saves */
        check_failure(&t, "train", rc, "train", what);
        const int epoch = check_run_files(&t, dir, what);
        if (!epoch || n % 2 == 0) continue; /* nothing to resume from, or time saved */
        const int rrc = tmptree_run(&t, "resume", "%s/clcnn train --resume %s/%s", b, r, dir);
        char *err = tmptree_slurp(&t, "resume.err");
        CHECK(rrc == 0 && (!err || !strstr(err, "Sanitizer: ")), "%s: --resume after the failure exited %d: %s", what,
              rrc, err ? err : "");
        free(err);
        CHECK(check_run_files(&t, dir, what) == 2, "%s: the resumed run did not reach epoch 2", what);
        resumed++;
    }
    CHECK(n > 5 && n <= 30, "clcnn train made %d saves", n - 1);
    printf("    clcnn train, 2 epochs: %d saves, each made to fail in turn; %d failed runs resumed to the end\n", n - 1,
           resumed);
    /* One allocation and one launch failure: the same one clear line. */
    static const char *plans[] = {"alloc:3", "launch:40"};
    for (int i = 0; i < 2; i++) {
        const int rc = tmptree_run(&t, "dev", "CLCNN_FAULT=%s %s/clcnn train --data %s/data/train %s --out %s/d%d", plans[i], b,
                           r, train_args, r, i);
        check_failure(&t, "dev", rc, "train", plans[i]);
    }
done:
    tmptree_close(&t);
}

/* A .npy file whose header's shape matches its size. */
static int npy_whole(const char *path) {
    size_t size = 0;
    unsigned char *d = tu_read_file(path, &size);
    int h = 0, w = 0, ok = 0;
    if (d && size > 10 && !memcmp(d, "\x93NUMPY", 6)) {
        const size_t hl = (size_t)d[8] | (size_t)d[9] << 8;
        const char *shape = strstr((const char *)d + 10, "'shape': (");
        ok = shape && sscanf(shape, "'shape': (%d, %d)", &h, &w) == 2 && size == 10 + hl + (size_t)h * w * 4;
    }
    free(d);
    return ok;
}

static void check_cam_files(const tmptree *t, const char *dir, const char *what) {
    DIR *d = opendir(tmptree_path(t, dir));
    for (struct dirent *e; d && (e = readdir(d));) {
        char rel[300];
        snprintf(rel, sizeof rel, "%s/%s", dir, e->d_name);
        const char *ext = strrchr(e->d_name, '.');
        if (!ext || e->d_name[0] == '.') continue;
        if (!strcmp(ext, ".npy")) CHECK(npy_whole(tmptree_path(t, rel)), "%s: %s is not whole", what, rel);
        if (!strcmp(ext, ".png")) {
            clcnn_image img;
            const clcnn_status st = clcnn_image_load(tmptree_path(t, rel), &img);
            CHECK(st == CLCNN_OK, "%s: %s: %s", what, rel, clcnn_last_error(NULL));
            if (st == CLCNN_OK) clcnn_image_free(&img);
        }
        if (!strcmp(ext, ".json")) {
            json_t *j = json_load_file(tmptree_path(t, rel), 0, NULL);
            CHECK(j != NULL, "%s: %s does not parse", what, rel);
            json_decref(j);
        }
    }
    if (d) closedir(d);
    check_no_temporaries(tmptree_path(t, dir), what);
}

/* `clcnn cam` on two pictures with its n-th save failing, for every n. */
static void test_faults_tool_cam(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!tmptree_open(&t, "faultcam") || !make_data(&t)) goto done;
    const char *b = tmptree_build_dir(), *r = t.root;
    /* A model to explain: the one-epoch run of the data. */
    int rc = tmptree_run(&t, "model", "%s/clcnn train --data %s/data/train --arch compact --size 32 --batch 8 --epochs 1 "
                              "--threads 1 --out %s/model", b, r, r);
    CHECK(rc == 0, "training the model to explain exited %d", rc);
    if (rc) goto done;
    char images[600];
    snprintf(images, sizeof images, "%s/data/val/damaged/0000.png %s/data/val/intact/0000.png", r, r);
    int n = 1;
    for (; n <= 30; n++) {
        char dir[32], what[64];
        snprintf(dir, sizeof dir, "c%d", n);
        snprintf(what, sizeof what, "cam, write:%d", n);
        rc = tmptree_run(&t, "cam", "CLCNN_FAULT=write:%d %s/clcnn cam --weights %s/model/last.safetensors --out %s/%s %s", n, b,
                 r, r, dir, images);
        if (rc == 0) break;
        check_failure(&t, "cam", rc, "cam", what);
        check_cam_files(&t, dir, what);
    }
    /* 3 files per picture and cam.json. */
    CHECK(n == 8, "clcnn cam on 2 pictures made %d saves, want 7", n - 1);
    printf("    clcnn cam, 2 pictures: %d saves, each made to fail in turn\n", n - 1);
    static const char *plans[] = {"alloc:2", "launch:10"};
    for (int i = 0; i < 2; i++) {
        rc = tmptree_run(&t, "dev", "CLCNN_FAULT=%s %s/clcnn cam --weights %s/model/last.safetensors --out %s/d%d %s", plans[i],
                 b, r, r, i, images);
        check_failure(&t, "dev", rc, "cam", plans[i]);
    }
done:
    tmptree_close(&t);
}

/* A device allocation failing while a graph is built: the error names the parameter,
 * not only the tensor's shape, and the layer is not added. */
static void test_faults_graph_build_names_parameter(void) {
    clcnn_graph *g = NULL;
    CHECK_OK(clcnn_graph_create(g_ctx, 3, 16, 16, 2, &g));
    if (!g) return;
    clcnn_context_trim(g_ctx); /* the next tensor must be a new buffer */
    CHECK_OK(rt_fault_configure("alloc:1"));
    const clcnn_status st = clcnn_graph_conv2d(g, "stem", "input", 8, 3, 3, NULL, 1);
    CHECK_OK(rt_fault_configure(NULL));
    CHECK(st == CLCNN_ERR_OUT_OF_MEMORY, "status %d (%s)", st, clcnn_status_str(st));
    CHECK(strstr(clcnn_last_error(g_ctx), "parameter stem.weight") && strstr(clcnn_last_error(g_ctx), CLCNN_FAULT_NOTE),
          "the error does not name the parameter: %s", clcnn_last_error(g_ctx));
    CHECK(clcnn_graph_layer_count(g) == 1, "%d layers after the failed add, want the input only",
          clcnn_graph_layer_count(g));
    clcnn_graph_destroy(g);
}

const test_case test_faults_cases[] = {{"faults_plan", test_faults_plan},
                                       {"faults_save_file", test_faults_save_file},
                                       {"faults_launch_limits", test_faults_launch_limits},
                                       {"faults_walk_training", test_faults_walk_training},
                                       {"faults_walk_cam", test_faults_walk_cam},
                                       {"faults_fresh_context", test_faults_fresh_context},
                                       {"faults_graph_build_names_parameter", test_faults_graph_build_names_parameter},
                                       {"faults_tool_train", test_faults_tool_train},
                                       {"faults_tool_cam", test_faults_tool_cam},
                                       {NULL, NULL}};
