/* trainer_internal.h: the trainer's state, shared by trainer.c (steps) and
 * trainer_state.c (saving and restoring it). */
#ifndef CLCNN_TRAINER_INTERNAL_H
#define CLCNN_TRAINER_INTERNAL_H

#include "runtime/internal.h"

struct clcnn_trainer {
    clcnn_graph *g;
    clcnn_context *ctx;
    clcnn_train_params p;
    clcnn_tensor *class_weights;
    int nparams;
    clcnn_tensor **state1, **state2; /* per graph parameter; NULL where none */
    const clcnn_tensor **grads;      /* trainable parameters' gradients, for clipping */
    int ngrads;
    clcnn_tensor *loss, *dout, *clip;
    clcnn_tensor *aux_dout, *aux_weight; /* the auxiliary head's gradient and its weight, element-wise */
    float aux_weight_value;              /* what aux_weight holds (NaN: not filled yet) */
    int steps;
    float *lr_mult;   /* per graph parameter: its learning rate's factor (clcnn_trainer_set_lr_mult) */
    int *param_steps; /* per graph parameter: updates applied to it (its step for Adam's bias correction) */
    clcnn_dist *dist; /* clcnn_trainer_set_dist: the ranks (NULL: alone) */
    int dist_flags;
    struct grad_buckets *buckets; /* the gradients' sums over the ranks (trainer_dist.c) */
    float *class_weights_host; /* the class weights again, for the ranks' shares of the loss */
    int n_class_weights;
    double share;     /* this step: this rank's part of the whole batch's loss weight (1 alone) */
    double comm_ms;   /* this step's time in sums over the ranks (clcnn_trainer_comm) */
    size_t comm_bytes;
};

/* Data parallelism (trainer_dist.c). Before the forward pass: this rank's share of the
 * step's loss weight (its images, or their class weights' sum) in t->share, and where
 * its images start in the whole batch (the dropout masks'). */
clcnn_status trainer_dist_begin(clcnn_trainer *t, const clcnn_tensor *labels, int images);
/* After it: *loss becomes the whole batch's loss, and this rank's loss gradients (dout,
 * and aux_dout when used) are scaled so that each rank's count as its share (a no-op
 * when the shares are equal). */
clcnn_status trainer_dist_loss(clcnn_trainer *t, int aux, float *loss);
/* Around the backward pass: every trainable gradient is read to the host as soon as
 * the pass has enqueued it, in buckets whose sums over the ranks start as their reads
 * finish; after the pass, the averages are written back (before the update runs). */
clcnn_status trainer_dist_backward_begin(clcnn_trainer *t);
clcnn_status trainer_dist_average_grads(clcnn_trainer *t);
void trainer_dist_free(clcnn_trainer *t);

#endif
