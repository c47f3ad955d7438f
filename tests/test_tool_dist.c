/* test_tool_dist.c: `mpirun -np 2 clcnn train` when a rank dies or fails: the job ends
 * within seconds with a message naming the rank, the last checkpoint stays loadable,
 * and --resume finishes the run under mpirun and then with another number of ranks. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "runtime/internal.h"
#include "tmptree.h"
#include "runtime/clock.h"

#define TRAIN_ARGS "--arch compact --size 32 --batch 8 --no-augment"

static int exists(const tmptree *t, const char *rel) {
    struct stat s;
    return stat(tmptree_path(t, rel), &s) == 0 && s.st_size > 0;
}

/* The epoch RUN/last.safetensors holds (loadable), or -1. */
static int saved_epoch(const tmptree *t) {
    clcnn_weights *w = NULL;
    CHECK_OK(clcnn_weights_load(g_ctx, tmptree_path(t, "run/last.safetensors"), &w));
    const char *e = w ? clcnn_weights_metadata(w, "epoch") : NULL;
    const int epoch = e ? atoi(e) : -1;
    clcnn_weights_destroy(w);
    return epoch;
}

/* Rank 1 killed (SIGKILL) once the first checkpoint is there. */
static int kill_rank(tmptree *t, const char *b) {
    const char *r = t->root;
    char line[4096];
    snprintf(line, sizeof line, "exec %s -np 1 %s/clcnn train --data %s/data/train --val %s/data/val " TRAIN_ARGS
             " --epochs 500 --out %s/run : -np 1 sh -c 'echo $$ > %s/rank1.pid; exec %s/clcnn train --data %s/data/train "
             "--val %s/data/val " TRAIN_ARGS " --epochs 500 --out %s/run' >%s/killed.out 2>%s/killed.err", TEST_MPIRUN, b,
             r, r, r, r, b, r, r, r, r, r);
    const pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", line, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 6000 && !exists(t, "run/last.safetensors"); i++) nanosleep(&(struct timespec){0, 50000000}, NULL);
    char *pid_text = tmptree_slurp(t, "rank1.pid");
    const int rank1 = pid_text ? atoi(pid_text) : 0;
    free(pid_text);
    CHECK(exists(t, "run/last.safetensors") && rank1 > 0, "no checkpoint within 300 s, or no pid of rank 1");
    if (rank1 > 0) kill(rank1, SIGKILL);
    const double t0 = clock_now_s();
    int status = 0;
    waitpid(pid, &status, 0);
    const double took = clock_now_s() - t0;
    char *err = tmptree_slurp(t, "killed.err");
    CHECK(rank1 > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0) && took < 30 && err && strstr(err, "rank 1"),
          "mpirun ended %.1f s after rank 1 was killed, status 0x%x, saying:\n%s", took, status, err ? err : "");
    printf("    rank 1 killed: the job ended %.1f s later\n", took);
    free(err);
    return saved_epoch(t);
}

static void test_tool_mpi_kill_resume(void) {
    const char *why = test_mpi_missing();
    if (why) return test_skip(why);
    tmptree t;
    if (!tmptree_open(&t, "mpikill")) return;
    const char *b = tmptree_build_dir(), *r = t.root;
    int rc = tmptree_run(&t, "synthetic", "%s/make_synthetic %s/data --train 24 --val 10 --size 32 --seed 4", b, r);
    CHECK(rc == 0, "make_synthetic exited %d", rc);
    if (rc) goto done;
    /* a batch the ranks cannot share: refused at once, by every rank */
    rc = tmptree_run(&t, "odd", "%s -np 2 %s/clcnn train --data %s/data/train " TRAIN_ARGS " --batch 7 --epochs 1 --out %s/odd",
                     TEST_MPIRUN, b, r, r);
    char *odd = tmptree_slurp(&t, "odd.err");
    CHECK(rc != 0 && odd && strstr(odd, "--batch 7 does not split evenly over 2 ranks"), "--batch 7: exit %d, %s", rc,
          odd ? odd : "");
    free(odd);
    const int e = kill_rank(&t, b);
    CHECK(e >= 1, "the killed run's checkpoint holds epoch %d", e);
    if (e < 1) goto done;
    /* resumed under mpirun with 2 ranks, then alone */
    rc = tmptree_run(&t, "resume2", "%s -np 2 %s/clcnn train --resume %s/run --epochs %d", TEST_MPIRUN, b, r, e + 1);
    CHECK(rc == 0 && saved_epoch(&t) == e + 1, "--resume under mpirun exited %d at epoch %d, want %d", rc,
          saved_epoch(&t), e + 1);
    rc = tmptree_run(&t, "resume1", "%s/clcnn train --resume %s/run --epochs %d", b, r, e + 2);
    char *json = tmptree_slurp(&t, "run/metrics.json");
    CHECK(rc == 0 && saved_epoch(&t) == e + 2 && json && strstr(json, "\"ranks\":2") && strstr(json, "\"ranks\":1"),
          "--resume alone exited %d at epoch %d, want %d; metrics.json: %s", rc, saved_epoch(&t), e + 2, json ? json : "");
    free(json);
    /* a rank whose device fails: the job ends, naming it; the checkpoint stays whole */
    rc = tmptree_run(&t, "fault", "%s -np 1 %s/clcnn train --resume %s/run --epochs %d : -np 1 env CLCNN_FAULT=launch:400 "
                     "%s/clcnn train --resume %s/run --epochs %d", TEST_MPIRUN, b, r, e + 40, b, r, e + 40);
    char *err = tmptree_slurp(&t, "fault.err");
    CHECK(rc != 0 && err && strstr(err, "(rank 1 of 2)") && strstr(err, "injected fault") &&
          strstr(err, "stopping every rank"), "a failing rank 1: exit %d, saying:\n%s", rc, err ? err : "");
    CHECK(saved_epoch(&t) >= e + 2, "after the fault the checkpoint holds epoch %d", saved_epoch(&t));
    free(err);
done:
    tmptree_close(&t);
}

/* --devices: a rank whose device fails stops the other (its sums fail, naming it); the
 * checkpoint of the epoch before stays loadable. */
static void test_tool_devices_fault(void) {
    if (!tmptree_build_dir()) return test_skip("CLCNN_TEST_BUILD is not set (run through make test)");
    tmptree t;
    if (!tmptree_open(&t, "devfault")) return;
    const char *b = tmptree_build_dir(), *r = t.root;
    const int dev = g_ctx->device_index;
    int rc = tmptree_run(&t, "synthetic", "%s/make_synthetic %s/data --train 24 --val 10 --size 32 --seed 4", b, r);
    CHECK(rc == 0, "make_synthetic exited %d", rc);
    if (rc) goto done;
    rc = tmptree_run(&t, "first", "%s/clcnn train --data %s/data/train --val %s/data/val " TRAIN_ARGS
                     " --epochs 1 --devices %d,%d --out %s/run", b, r, r, dev, dev, r);
    char *first = rc ? tmptree_slurp(&t, "first.err") : NULL;
    CHECK(rc == 0 && saved_epoch(&t) == 1, "2 devices, 1 epoch: exit %d, saying:\n%s", rc, first ? first : "");
    free(first);
    rc = tmptree_run(&t, "fault", "CLCNN_FAULT=launch:600 %s/clcnn train --resume %s/run --epochs 30 --devices %d,%d", b,
                     r, dev, dev);
    char *err = tmptree_slurp(&t, "fault.err");
    CHECK(rc != 0 && err && strstr(err, "injected fault") && strstr(err, "stopped the job") &&
          strstr(err, "stopping every rank"), "a failing rank: exit %d, saying:\n%s", rc, err ? err : "");
    CHECK(saved_epoch(&t) >= 1, "after the fault the checkpoint holds epoch %d", saved_epoch(&t));
    free(err);
    /* mistakes refused in one line */
    rc = tmptree_run(&t, "both", "%s/clcnn train --data %s/data/train " TRAIN_ARGS " --devices %d,%d --device %d --out "
                     "%s/x", b, r, dev, dev, dev, r);
    char *both = tmptree_slurp(&t, "both.err");
    CHECK(rc != 0 && both && strstr(both, "not both"), "--device with --devices: exit %d, %s", rc, both ? both : "");
    free(both);
done:
    tmptree_close(&t);
}

const test_case test_tool_dist_cases[] = {
    {"tool_devices_fault", test_tool_devices_fault},
    {"tool_mpi_kill_resume", test_tool_mpi_kill_resume},
    {NULL, NULL},
};
