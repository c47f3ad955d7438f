"""detinit.py: deterministic pseudo-random weights that C and Python both compute.

The golden tests of whole networks (tests/test_zoo.c, tests/test_cam.c) need PyTorch and
clcnn to hold the same random weights, and big nets' weights are too large to commit. So
both sides generate them from the parameter's name: value i of tensor NAME is drawn from
splitmix64(fnv1a64(NAME) ^ seed, counter i), mapped by the tensor's kind (the rules below,
mirrored in tests/ref/detinit.c; any change must be made in both):

  4-D (convolution weight)   He uniform:  (2u - 1) * sqrt(6 / fan_in)
  2-D (linear weight)        (2u - 1) * sqrt(3 / fan_in)
  *.running_mean             (u - 0.5) * 0.2
  *.running_var              0.5 + u
  1-D *.weight (batch norm)  (0.25 + 0.5 u) * bn_gain   (bn_gain 1 by default: gammas below 1
                             keep deep residual sums bounded; a network whose blocks mostly do not
                             add their input, MobileNetV2, needs a gain, or images fade out in it)
  1-D *.bias                 (u - 0.5) * 0.2

u = (z >> 40) / 2^24 in [0, 1), values computed in double and rounded to float32.
Needs numpy (and torch for fill_model).
"""
import numpy as np

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for b in text.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def uniform(name, count, seed=0):
    """count values in [0, 1) for tensor `name` (float64)."""
    key = np.uint64(fnv1a64(name) ^ seed)
    with np.errstate(over="ignore"):
        z = key + (np.arange(1, count + 1, dtype=np.uint64) * GOLDEN)
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / 16777216.0


def values(name, shape, seed=0, bn_gain=1.0):
    """The float32 array for tensor `name` of `shape`."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, count, seed)
    if len(shape) == 4:
        v = (2 * u - 1) * np.sqrt(6.0 / (shape[1] * shape[2] * shape[3]))
    elif len(shape) == 2:
        v = (2 * u - 1) * np.sqrt(3.0 / shape[1])
    elif name.endswith("running_mean"):
        v = (u - 0.5) * 0.2
    elif name.endswith("running_var"):
        v = 0.5 + u
    elif name.endswith("weight"):
        v = (0.25 + 0.5 * u) * bn_gain
    else:
        v = (u - 0.5) * 0.2
    return v.astype(np.float32).reshape(shape)


def fill_model(model, seed=0, bn_gain=1.0):
    """Overwrite every float tensor of a torch model's state_dict with values()."""
    import torch
    state = model.state_dict()
    with torch.no_grad():
        for name, t in state.items():
            if t.is_floating_point():
                t.copy_(torch.from_numpy(values(name, tuple(t.shape), seed, bn_gain)))
    return model


def image(name, shape, seed=0):
    """An input batch: uniform in [-2, 2), as normalised images span."""
    return (uniform(name, int(np.prod(shape)), seed) * 4 - 2).astype(np.float32).reshape(shape)
