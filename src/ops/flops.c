/* flops.c: the floating-point work of the ops, counted one way for everyone who reports
 * it: the graph's profiles (clcnn_graph_profile, clbench ops), clbench conv, and the op
 * tests' descriptors. A multiply-add counts 2; a comparison counts 1. */
#include "ops/ops.h"

double ops_conv2d_flops(double y_elems, const int w_shape[4]) {
    return 2.0 * y_elems * (double)w_shape[1] * w_shape[2] * w_shape[3];
}

double ops_linear_flops(double y_elems, int in_features) { return 2.0 * y_elems * in_features; }

double ops_pool2d_flops(double y_elems, const clcnn_pool_params *p) { return y_elems * p->kernel_h * p->kernel_w; }

double ops_activation_flops(double y_elems) { return y_elems; }

double ops_add_flops(double y_elems, clcnn_activation act) { return y_elems * (act == CLCNN_ACT_NONE ? 1 : 2); }

double ops_global_avg_pool_flops(double x_elems) { return x_elems; }

double ops_batchnorm_flops(double y_elems) { return 2.0 * y_elems; }

/* Four products and three sums per output. */
double ops_resize_bilinear_flops(double y_elems) { return 7.0 * y_elems; }
