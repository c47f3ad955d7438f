/* detinit.h: deterministic pseudo-random weights, bit-identical to scripts/detinit.py
 * (see its comment for the rules), so that golden tests of whole networks need to commit
 * only inputs and outputs, not hundreds of megabytes of weights. */
#ifndef CLCNN_TEST_DETINIT_H
#define CLCNN_TEST_DETINIT_H

#include <stddef.h>
#include <stdint.h>
#include "clcnn.h"

/* Values of tensor `name` shaped shape[ndim] into out (prod(shape) floats). */
void detinit_values(const char *name, int ndim, const int *shape, uint64_t seed, float *out);
/* An input batch of n values in [-2, 2), as detinit.image(). */
void detinit_image(const char *name, size_t n, uint64_t seed, float *out);
/* Fill every parameter and running statistic of g. */
clcnn_status detinit_graph(clcnn_graph *g, uint64_t seed);
/* The same with the batch norms' weights times bn_gain (detinit.py's bn_gain). */
clcnn_status detinit_graph_gain(clcnn_graph *g, uint64_t seed, double bn_gain);

#endif
