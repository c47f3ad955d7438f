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
    int steps;
    float *lr_mult;   /* per graph parameter: its learning rate's factor (clcnn_trainer_set_lr_mult) */
    int *param_steps; /* per graph parameter: updates applied to it (its step for Adam's bias correction) */
};

#endif
