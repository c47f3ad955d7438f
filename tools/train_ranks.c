/* train_ranks.c: see train_ranks.h. */
#include "train_ranks.h"

#include <stdlib.h>
#include <string.h>

int train_ranks_open(train_ranks *tr, const char *cmd) {
    memset(tr, 0, sizeof *tr);
    tr->ranks = 1;
    snprintf(tr->cmd, sizeof tr->cmd, "%s", cmd);
    if (!clcnn_dist_launched()) return 0;
    if (!clcnn_dist_have_mpi())
        return tool_fail(cmd, "started by an MPI launcher as one of several ranks, but this clcnn was built without "
                         "MPI (make MPI=0, or no libopenmpi-dev): each rank would train alone");
    clcnn_status st = clcnn_dist_create_mpi(&tr->dist);
    if (st != CLCNN_OK) return tool_fail_status(cmd, NULL, st);
    tr->rank = clcnn_dist_rank(tr->dist);
    tr->ranks = clcnn_dist_size(tr->dist);
    tr->local_rank = clcnn_dist_local_rank(tr->dist);
    if (tr->ranks > 1) snprintf(tr->cmd, sizeof tr->cmd, "%s (rank %d of %d)", cmd, tr->rank, tr->ranks);
    return 0;
}

void train_ranks_join(train_ranks *tr, const char *cmd, clcnn_dist *dist) {
    memset(tr, 0, sizeof *tr);
    tr->dist = dist;
    tr->rank = tr->local_rank = clcnn_dist_rank(dist);
    tr->ranks = clcnn_dist_size(dist);
    snprintf(tr->cmd, sizeof tr->cmd, tr->ranks > 1 ? "%s (rank %d of %d)" : "%s", cmd, tr->rank, tr->ranks);
}

void train_ranks_abort(train_ranks *tr, int code) {
    if (tr->ranks < 2) return;
    fprintf(stderr, "%s %s: stopping every rank\n", PROG, tr->cmd);
    clcnn_dist_abort(tr->dist, code);
}

void train_ranks_close(train_ranks *tr) {
    clcnn_dist_destroy(tr->dist);
    tr->dist = NULL;
}

int train_ranks_sum(train_ranks *tr, double *values, size_t n) {
    if (tr->ranks < 2) return 0;
    const clcnn_status st = clcnn_dist_allreduce_sum(tr->dist, values, n);
    return st == CLCNN_OK ? 0 : tool_fail_status(tr->cmd, NULL, st);
}

enum { NAME_CHARS = 128 };

int train_ranks_devices(train_ranks *tr, const char *mine, char **line, json_t **names) {
    *line = NULL;
    *names = json_array();
    /* each rank's name in its own slot of a sum (the communicator has sums only) */
    double *v = calloc((size_t)tr->ranks * NAME_CHARS, sizeof *v);
    char *text = malloc((size_t)tr->ranks * (NAME_CHARS + 16));
    int rc = 1;
    if (!v || !text || !*names) {
        tool_fail(tr->cmd, "out of host memory");
        goto done;
    }
    for (int i = 0; i < NAME_CHARS - 1 && mine[i]; i++) v[(size_t)tr->rank * NAME_CHARS + (size_t)i] = (unsigned char)mine[i];
    if (train_ranks_sum(tr, v, (size_t)tr->ranks * NAME_CHARS)) goto done;
    size_t len = 0;
    text[0] = 0;
    for (int r = 0; r < tr->ranks; r++) {
        char name[NAME_CHARS] = {0};
        for (int i = 0; i < NAME_CHARS - 1; i++) name[i] = (char)v[(size_t)r * NAME_CHARS + (size_t)i];
        if (tr->ranks > 1) len += (size_t)sprintf(text + len, "%srank %d ", r ? ", " : "", r);
        len += (size_t)sprintf(text + len, "%s", name);
        json_array_append_new(*names, json_string(name));
    }
    *line = text;
    text = NULL;
    rc = 0;
done:
    free(v);
    free(text);
    if (rc) {
        json_decref(*names);
        *names = NULL;
    }
    return rc;
}
