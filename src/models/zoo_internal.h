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
/* torchvision's MobileNetV2, EfficientNet-B0 ... B7 (cfg->variant) and Inception-v3 into a
 * new graph (zoo_mobilenet.c, zoo_efficientnet.c, zoo_inception.c); cfg checked. */
clcnn_status zoo_mobilenet_v2_build(clcnn_context *ctx, const clcnn_resnet_config *cfg, uint64_t seed,
                                    clcnn_graph **out);
clcnn_status zoo_efficientnet_build(clcnn_context *ctx, const clcnn_resnet_config *cfg, uint64_t seed,
                                    clcnn_graph **out);
clcnn_status zoo_inception_v3_build(clcnn_context *ctx, const clcnn_resnet_config *cfg, uint64_t seed,
                                    clcnn_graph **out);
/* timm's Xception (zoo_xception.c). */
clcnn_status zoo_xception_build(clcnn_context *ctx, const clcnn_resnet_config *cfg, uint64_t seed, clcnn_graph **out);

#endif
