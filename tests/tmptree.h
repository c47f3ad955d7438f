/* tmptree.h: throw-away folder trees for the data set and loader tests: a mkdtemp()
 * folder under /tmp, files and folders made by relative path, all removed at the end. */
#ifndef CLCNN_TEST_TMPTREE_H
#define CLCNN_TEST_TMPTREE_H

#include <stddef.h>

typedef struct {
    char root[64];
} tmptree;

/* Make /tmp/clcnn_TAG_XXXXXX; 0 (and a failed check) when it cannot. */
int tmptree_open(tmptree *t, const char *tag);
/* ROOT/rel in one of a few rotating static buffers (enough for one call's arguments). */
const char *tmptree_path(const tmptree *t, const char *rel);
/* ROOT/rel as a folder, with its parents. */
int tmptree_mkdir(const tmptree *t, const char *rel);
/* ROOT/rel holding size bytes of data (text when size is 0 and data a string), parents made. */
int tmptree_write(const tmptree *t, const char *rel, const void *data, size_t size);
/* A symbolic link ROOT/rel pointing at target (as given, may be relative). */
int tmptree_symlink(const tmptree *t, const char *target, const char *rel);
/* Entries of ROOT (names other than . and ..); those whose names contain `containing`
 * when it is not NULL. -1 when the folder cannot be read. */
int tmptree_count(const tmptree *t, const char *containing);
/* The build folder of the tools under test (CLCNN_TEST_BUILD, set by `make test`), or NULL. */
const char *tmptree_build_dir(void);
/* mpirun as the tests start ranks: CI runs as root, on fewer cores than ranks at times. */
#define TEST_MPIRUN "mpirun --allow-run-as-root --oversubscribe"
/* Why the tools cannot run under mpirun here (no CLCNN_TEST_BUILD, a build without MPI,
 * no mpirun), or NULL when they can. */
const char *test_mpi_missing(void);
/* Run a shell command line (printf-style) with stdout and stderr into ROOT/NAME.out and
 * ROOT/NAME.err; its exit status, or -1. */
int tmptree_run(const tmptree *t, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The contents of ROOT/rel (malloc'd, NUL-terminated) or NULL. */
char *tmptree_slurp(const tmptree *t, const char *rel);
/* Remove the whole tree (links are removed, never followed). */
void tmptree_close(tmptree *t);

#endif
