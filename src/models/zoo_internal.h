/* zoo_internal.h: what the zoo's families (zoo.c: the ResNets, zoo_mobilenet.c) share. */
#ifndef CLCNN_ZOO_INTERNAL_H
#define CLCNN_ZOO_INTERNAL_H
#include "runtime/internal.h"

/* The classifier on layer `input`, named as torch's nn.Sequential names its entries in
 * module `module`. With first_dropout < 0 (the ResNets): one linear layer called
 * `module`, or the MLP head module.0 Linear, .1 ReLU, .2 Dropout, .3 Linear. Otherwise
 * (MobileNetV2's and EfficientNet's classifier): module.0 Dropout(first_dropout), then
 * module.1 Linear, or module.1 Linear, .2 ReLU, .3 Dropout, .4 Linear. */
clcnn_status zoo_head(clcnn_graph *g, const clcnn_resnet_config *cfg, const char *module, const char *input,
                      float first_dropout);
#define ZOO_NAME 128 /* room for a layer's name */

/* A network's batch norms: eps and momentum (torch's defaults: 1e-5 and 0.1). */
typedef struct {
    float eps, momentum;
} zoo_norm;
#define ZOO_TORCH_NORM ((zoo_norm){1e-5f, 0.1f})

/* torchvision's Conv2dNormActivation PREFIX from `input`: PREFIX.0, a k x k convolution
 * (stride, groups, "same" padding, no bias), PREFIX.1 its batch norm and, unless act is
 * CLCNN_ACT_NONE, PREFIX.2 the activation; output (which may be input) names the last. */
clcnn_status zoo_conv_norm_act(clcnn_graph *g, const char *prefix, const char *input, int cout, int k, int stride,
                               int groups, clcnn_activation act, zoo_norm norm, char output[ZOO_NAME]);
/* torchvision's _make_divisible(v, 8): the nearest multiple of 8, at least 8, and not
 * more than 10% below v. */
int zoo_divisible8(double v);

/* The layers of a family's network for cfg (checked), added to the new graph g; on an
 * error the caller destroys g. torchvision's MobileNetV2 (zoo_mobilenet.c), MobileNetV3-Large
 * (variant 0) and -Small (1) (zoo_mobilenet_v3.c), EfficientNet-B0 ... B7 (variant 0 to
 * 7, zoo_efficientnet.c) and Inception-v3 (zoo_inception.c); timm's Xception
 * (zoo_xception.c). */
typedef clcnn_status (*zoo_layers_fn)(clcnn_graph *g, const clcnn_resnet_config *cfg);
/* clcnn_resnet_build; init_params 0 (clcnn_model_from_weights, which loads every
 * parameter next) builds without drawing initial values. */
clcnn_status zoo_build(clcnn_context *ctx, const clcnn_resnet_config *cfg, uint64_t seed, int init_params,
                       clcnn_graph **out);
clcnn_status zoo_mobilenet_v2_layers(clcnn_graph *g, const clcnn_resnet_config *cfg);
clcnn_status zoo_mobilenet_v3_layers(clcnn_graph *g, const clcnn_resnet_config *cfg);
clcnn_status zoo_efficientnet_layers(clcnn_graph *g, const clcnn_resnet_config *cfg);
clcnn_status zoo_inception_v3_layers(clcnn_graph *g, const clcnn_resnet_config *cfg);
clcnn_status zoo_xception_layers(clcnn_graph *g, const clcnn_resnet_config *cfg);

#endif
