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
/* Remove the whole tree (links are removed, never followed). */
void tmptree_close(tmptree *t);

#endif
