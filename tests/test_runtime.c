/* test_runtime.c: device listing and selection, the program caches (memory and disk),
 * loading kernels from CLCNN_CL_DIR, and build failures that carry the compiler log. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "harness.h"
#include "testenv.h"

static void test_device_list_and_select(void) {
    int n = 0, idx = -1;
    CHECK_OK(clcnn_device_count(&n));
    CHECK(n >= 1, "no devices listed");
    for (int i = 0; i < n; i++) {
        clcnn_device_info d;
        CHECK_OK(clcnn_device_get_info(i, &d));
        CHECK(d.index == i && d.name[0] && d.opencl_c_major >= 1, "device %d: incomplete info", i);
        CHECK(d.compute_units > 0 && d.global_mem_bytes > 0, "device %d: no compute units or memory", i);
    }
    CHECK_OK(clcnn_device_select("0", &idx));
    CHECK(idx == 0, "\"0\" selected %d", idx);
    clcnn_device_info d0;
    CHECK_OK(clcnn_device_get_info(0, &d0));
    CHECK_OK(clcnn_device_select(d0.name, &idx)); /* a whole name is a part of itself */
    CHECK(idx == 0, "name selected %d", idx);
    CHECK_OK(clcnn_device_select(d0.type == CLCNN_DEVICE_CPU ? "cpu" : "gpu", &idx));
    CHECK_STATUS(clcnn_device_select("no-such-device-xyz", &idx), CLCNN_ERR_NO_DEVICE);
    CHECK(strstr(clcnn_last_error(NULL), "no-such-device-xyz") != NULL, "error does not name the spec: %s",
          clcnn_last_error(NULL));
    CHECK_STATUS(clcnn_device_select("99", &idx), CLCNN_ERR_NO_DEVICE);
    CHECK_STATUS(clcnn_device_get_info(n, &d0), CLCNN_ERR_NO_DEVICE);
    CHECK_STATUS(clcnn_context_create(n + 5, &(clcnn_context *){NULL}), CLCNN_ERR_NO_DEVICE);
}

/* Run one small op on ctx so that programs get built. */
static clcnn_status run_small_op(clcnn_context *ctx) {
    clcnn_tensor *x = NULL;
    clcnn_status st = clcnn_tensor_create(ctx, 1, (int[]){7}, &x);
    if (st == CLCNN_OK) st = clcnn_tensor_fill(x, -1.0f);
    if (st == CLCNN_OK) st = clcnn_activate(ctx, x, CLCNN_ACT_RELU, x);
    float v[7] = {0};
    if (st == CLCNN_OK) st = clcnn_tensor_read(x, v, 7);
    if (st == CLCNN_OK && v[3] != 0.0f) st = CLCNN_ERR_UNSUPPORTED;
    clcnn_tensor_destroy(x);
    return st;
}

static int count_files(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n += len > sl && !strcmp(e->d_name + len - sl, suffix);
    }
    closedir(d);
    return n;
}

static void remove_tree(const char *dir) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("    (could not remove %s)\n", dir);
}

/* A fresh temporary folder in buf (NULL, with a failed check, if none). */
static char *temp_dir(char *buf, size_t size, const char *what) {
    snprintf(buf, size, "/tmp/clcnn-%s-XXXXXX", what);
    char *dir = mkdtemp(buf);
    CHECK(dir != NULL, "mkdtemp for %s failed", what);
    return dir;
}

static void test_disk_cache(void) {
    char tmpl[64];
    char *home = temp_dir(tmpl, sizeof tmpl, "cache");
    if (!home) return;
    char cache[300];
    snprintf(cache, sizeof cache, "%s/clcnn", home);
    env_saved saved_xdg, saved_cache;
    env_set(&saved_xdg, "XDG_CACHE_HOME", home);
    env_set(&saved_cache, "CLCNN_CACHE", NULL);

    clcnn_context *a = NULL, *b = NULL, *c = NULL;
    clcnn_context_stats sa, sb;
    CHECK_OK(clcnn_context_create(-1, &a));
    if (a) {
        CHECK_OK(run_small_op(a));
        clcnn_context_get_stats(a, &sa);
        CHECK(sa.programs_built >= 1 && sa.programs_from_disk == 0, "cold: built %llu, from disk %llu",
              (unsigned long long)sa.programs_built, (unsigned long long)sa.programs_from_disk);
        CHECK(count_files(cache, ".bin") >= 1, "no binary written under %s", cache);
        CHECK(count_files(cache, "") == count_files(cache, ".bin"), "temporary files left in %s", cache);
    }
    CHECK_OK(clcnn_context_create(-1, &b)); /* a second context finds the binaries on disk */
    if (b) {
        CHECK_OK(run_small_op(b));
        clcnn_context_get_stats(b, &sb);
        CHECK(sb.programs_from_disk >= 1 && sb.programs_built == 0, "warm: built %llu, from disk %llu",
              (unsigned long long)sb.programs_built, (unsigned long long)sb.programs_from_disk);
    }
    remove_tree(cache); /* CLCNN_CACHE=off: nothing read or written */
    setenv("CLCNN_CACHE", "off", 1);
    CHECK_OK(clcnn_context_create(-1, &c));
    if (c) {
        CHECK_OK(run_small_op(c));
        CHECK(count_files(cache, ".bin") == 0, "CLCNN_CACHE=off still wrote to %s", cache);
    }
    clcnn_context_destroy(c);
    clcnn_context_destroy(b);
    clcnn_context_destroy(a);
    env_restore(&saved_cache);
    env_restore(&saved_xdg);
    remove_tree(home);
}

static int write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    return fclose(f);
}

/* CLCNN_CL_DIR: kernels come from that folder; a broken kernel is CLCNN_ERR_BUILD
 * with the compiler's log in the message. */
static void test_cl_dir_and_build_errors(void) {
    char tmpl[64];
    char *dir = temp_dir(tmpl, sizeof tmpl, "cl");
    if (!dir) return;
    char path[300];
    snprintf(path, sizeof path, "%s/common.cl", dir);
    CHECK(write_text(path, "/* empty common */\n") == 0, "cannot write %s", path);
    snprintf(path, sizeof path, "%s/eltwise.cl", dir);
    CHECK(write_text(path, "__kernel void activate(__global float *x) { this_is_not_opencl(x); }\n") == 0,
          "cannot write %s", path);
    setenv("CLCNN_CL_DIR", dir, 1);
    setenv("CLCNN_CACHE", "off", 1);
    clcnn_context *ctx = NULL;
    CHECK_OK(clcnn_context_create(-1, &ctx));
    if (ctx) {
        clcnn_status st = run_small_op(ctx);
        CHECK(st == CLCNN_ERR_BUILD, "broken kernel gave %d (%s), want CLCNN_ERR_BUILD", st, clcnn_status_str(st));
        CHECK(strstr(clcnn_last_error(ctx), "eltwise.cl") && strstr(clcnn_last_error(ctx), "this_is_not_opencl"),
              "build error lacks the file or the compiler log: %s", clcnn_last_error(ctx));
        /* A missing file in the folder is a clear I/O error naming it. */
        clcnn_tensor *x = NULL;
        CHECK_OK(clcnn_tensor_create(ctx, 1, (int[]){4}, &x));
        if (x) {
            CHECK_STATUS(clcnn_softmax(ctx, x, 0, x), CLCNN_ERR_IO);
            CHECK(strstr(clcnn_last_error(ctx), "softmax.cl") != NULL, "error lacks the file: %s", clcnn_last_error(ctx));
        }
        clcnn_tensor_destroy(x);
    }
    clcnn_context_destroy(ctx);
    unsetenv("CLCNN_CL_DIR");
    unsetenv("CLCNN_CACHE");
    remove_tree(dir);
}

static int log_calls;
static void count_log(clcnn_log_level level, const char *msg, void *user) {
    (void)level;
    (void)msg;
    (void)user;
    log_calls++;
}

static void test_log_callback(void) {
    log_calls = 0;
    clcnn_set_log_callback(count_log, NULL, CLCNN_LOG_DEBUG);
    int idx;
    clcnn_device_select("no-such-device-xyz", &idx); /* errors are logged at debug level */
    clcnn_set_log_callback(NULL, NULL, CLCNN_LOG_INFO);
    CHECK(log_calls >= 1, "log callback not called");
    const int before = log_calls;
    clcnn_device_select("no-such-device-xyz", &idx);
    CHECK(log_calls == before, "log callback called after removal");
}

const test_case test_runtime_cases[] = {
    {"runtime_device_list_and_select", test_device_list_and_select},
    {"runtime_disk_cache", test_disk_cache},
    {"runtime_cl_dir_and_build_errors", test_cl_dir_and_build_errors},
    {"runtime_log_callback", test_log_callback},
    {NULL, NULL}};
