/* ref_cam.h: plain double-precision CPU references of the CAM arithmetic (src/explain,
 * cl/cam.cl), as textbook loops. A and G are [N, K, hw], weights [N, K], maps [N, hw];
 * every map is ReLU'd, and a map without spatial variation is all zeros. */
#ifndef CLCNN_TEST_REF_CAM_H
#define CLCNN_TEST_REF_CAM_H

#include "clcnn.h"

/* The map of a gradient method (CLCNN_CAM_GRADCAM ... CLCNN_CAM_LAYERCAM). */
void ref_cam_grad_map(clcnn_cam_method method, int N, int K, int hw, const double *a, const double *g, double *map);
/* ReLU(sum_k w[n, k] A[n, k]). */
void ref_cam_weighted_map(int N, int K, int hw, const double *a, const double *w, double *map);
/* EigenCAM: the centred hw x K matrix projected on the top eigenvector v of its K x K
 * covariance (cyclic Jacobi), v oriented so that sum_k v_k >= 0, then the ReLU. */
void ref_cam_eigen_map(int N, int K, int hw, const double *a, double *map);
/* Softmax of n values into out. */
void ref_cam_softmax(int n, const double *x, double *out);
/* Trapezoidal rule over [0, 1] of steps + 1 equally spaced values. */
double ref_trapezoid(int steps, const double *p);

#endif
