/* tmptree.c: see tmptree.h. */
#include "tmptree.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "testutil.h"

int tmptree_open(tmptree *t, const char *tag) {
    snprintf(t->root, sizeof t->root, "/tmp/clcnn_%s_XXXXXX", tag);
    if (mkdtemp(t->root)) return 1;
    CHECK(0, "mkdtemp %s: %s", t->root, strerror(errno));
    t->root[0] = '\0';
    return 0;
}

const char *tmptree_path(const tmptree *t, const char *rel) {
    static char bufs[4][1024];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", t->root, rel);
    return b;
}

/* mkdir -p of the folders above path's last part, and of the last part too when include_last. */
static int make_parents(char *path, int include_last) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        const int ok = mkdir(path, 0755) == 0 || errno == EEXIST;
        *p = '/';
        if (!ok) return 0;
    }
    return !include_last || mkdir(path, 0755) == 0 || errno == EEXIST;
}

int tmptree_mkdir(const tmptree *t, const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", t->root, rel);
    const int ok = make_parents(path, 1);
    CHECK(ok, "mkdir %s: %s", path, strerror(errno));
    return ok;
}

int tmptree_write(const tmptree *t, const char *rel, const void *data, size_t size) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", t->root, rel);
    if (size == 0 && data) size = strlen(data);
    FILE *f = make_parents(path, 0) ? fopen(path, "wb") : NULL;
    int ok = f && fwrite(data, 1, size, f) == size;
    if (f && fclose(f) != 0) ok = 0;
    CHECK(ok, "cannot write %s: %s", path, strerror(errno));
    return ok;
}

int tmptree_symlink(const tmptree *t, const char *target, const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", t->root, rel);
    const int ok = make_parents(path, 0) && symlink(target, path) == 0;
    CHECK(ok, "symlink %s -> %s: %s", path, target, strerror(errno));
    return ok;
}

int tmptree_count(const tmptree *t, const char *containing) {
    DIR *d = opendir(t->root);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && (!containing || strstr(e->d_name, containing))) n++;
    closedir(d);
    return n;
}

const char *tmptree_build_dir(void) {
    const char *b = getenv("CLCNN_TEST_BUILD");
    return b && *b ? b : NULL;
}

const char *test_mpi_missing(void) {
    if (!tmptree_build_dir()) return "CLCNN_TEST_BUILD is not set (run through make test)";
    if (!clcnn_dist_have_mpi()) return "this build has no MPI (make MPI=0, or no libopenmpi-dev)";
    if (system("command -v mpirun >/dev/null 2>&1") != 0) return "no mpirun on PATH (Debian: openmpi-bin)";
    return NULL;
}

int tmptree_run(const tmptree *t, const char *name, const char *fmt, ...) {
    char line[4096], cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s >%s/%s.out 2>%s/%s.err", line, t->root, name, t->root, name);
    const int rc = system(cmd);
    return rc == -1 || !WIFEXITED(rc) ? -1 : WEXITSTATUS(rc);
}

char *tmptree_slurp(const tmptree *t, const char *rel) {
    size_t size;
    return (char *)tu_read_file(tmptree_path(t, rel), &size);
}

static void remove_tree(const char *path) {
    struct stat sb;
    if (lstat(path, &sb) != 0) return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        for (struct dirent *e; d && (e = readdir(d)) != NULL;) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char child[1024];
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        if (d) closedir(d);
        if (rmdir(path) != 0) CHECK(0, "cannot remove %s: %s", path, strerror(errno));
    } else if (unlink(path) != 0) {
        CHECK(0, "cannot remove %s: %s", path, strerror(errno));
    }
}

void tmptree_close(tmptree *t) {
    if (t->root[0]) remove_tree(t->root);
    t->root[0] = '\0';
}
