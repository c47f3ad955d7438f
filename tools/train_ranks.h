/* train_ranks.h: `clcnn train` as one of several ranks (mpirun -np N clcnn train ...):
 * the communicator, the rank's name in messages, and sums over the ranks. Alone (not
 * started by an MPI launcher) there is one rank and every call here is a no-op. */
#ifndef CLCNN_TOOLS_TRAIN_RANKS_H
#define CLCNN_TOOLS_TRAIN_RANKS_H

#include <jansson.h>
#include "tool.h"

typedef struct {
    clcnn_dist *dist; /* NULL when alone */
    int rank, ranks, local_rank;
    char cmd[48];     /* how messages name the command: "train", "train (rank 1 of 2)" */
} train_ranks;

/* Join the job's ranks when started by an MPI launcher. 0, or 1 with the reason
 * printed. Rank 0 alone reports on stdout. */
int train_ranks_open(train_ranks *tr, const char *cmd);
/* One of the ranks of --devices, over communicator dist (the caller's). */
void train_ranks_join(train_ranks *tr, const char *cmd, clcnn_dist *dist);
/* Stop every rank after a failure of this one (alone: nothing). */
void train_ranks_abort(train_ranks *tr, int code);
void train_ranks_close(train_ranks *tr);
/* Sum n values over the ranks in place (alone: unchanged); 0, or 1 printed. */
int train_ranks_sum(train_ranks *tr, double *values, size_t n);
/* Every rank's device name, as "rank 0 NAME, rank 1 NAME" (*line) and a JSON array
 * (*names), both the caller's; alone, NAME and ["NAME"]. 0, or 1 printed. */
int train_ranks_devices(train_ranks *tr, const char *mine, char **line, json_t **names);

#endif
