#!/usr/bin/env python3
"""make_golden_cam.py: PyTorch's class activation maps for tests/test_cam.c to match.

The networks hold deterministic weights (scripts/detinit.py, seed 0; tests/ref/detinit.c
computes the same values in C), so only the maps are committed:

  tests/golden/cam_resnet18.safetensors    torchvision resnet18, 10 classes, 128x128
  tests/golden/cam_seresnet50.safetensors  torchvision resnet50 with a Squeeze-and-Excitation
                                           module in every bottleneck (after bn3, before the
                                           addition; layerS.B.se.fc1/fc2), 10 classes, 128x128
  tests/golden/cam_mobilenet_v2.safetensors  torchvision mobilenet_v2, 10 classes, 128x128, at
                                           features.18 and features.17, batch-norm gain 1.5
  tests/golden/cam_efficientnet_b0.safetensors  torchvision efficientnet_b0, 10 classes, 128x128,
                                           at features.8 and features.6, batch-norm gain 2
  tests/golden/cam_tiny.safetensors        make_golden.py's TinyResNet (basic blocks with SE),
                                           widths 8-16-32-64, 10 classes, 96x96: Score-CAM,
                                           which needs one forward pass per channel

each holding "logits" [2, 10], "classes" [2] (the class each map explains, as floats) and
raw maps "LAYER.METHOD" [2, h, w] (after the ReLU, before any normalisation) for LAYER in
layer4 and layer3 (a stage's output: its last block's) and METHOD in gradcam, gradcam++,
hirescam, xgradcam, layercam, eigencam (cam_tiny: layer4 scorecam and eigencam). The input
is detinit.image("cam_input", [2, 3, S, S]); image 0 explains class TARGET0, image 1 its
predicted class. Activations A and gradients g = d logit_c / dA come from hooks in eval
mode, float32; the maps are computed from them in float64 by the formulas of
docs/EXPLAIN.md (pytorch-grad-cam's, with the documented choices for EigenCAM's sign and
Score-CAM's scores).
Needs Debian's python3-torch and torchvision (run with /usr/bin/python3).
usage: /usr/bin/python3 scripts/make_golden_cam.py [OUT_DIR [NAME...]]   (NAME: resnet18, seresnet50, tiny,
       mobilenet_v2, efficientnet_b0; default all)
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import Bottleneck

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detinit  # noqa: E402
from make_golden import SqueezeExcite, TinyResNet, se_width, write_safetensors  # noqa: E402

CLASSES = 10
TARGET0 = 6
LAYERS = ("layer4", "layer3")
GRAD_METHODS = ("gradcam", "gradcam++", "hirescam", "xgradcam", "layercam")


class SEBottleneck(Bottleneck):
    """torchvision's Bottleneck with SE after bn3 and before the residual addition."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        c = self.conv3.out_channels
        self.se = SqueezeExcite(c, se_width(c))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


def grad_maps(a, g):
    """The gradient methods' raw maps from A and g [N, K, h, w] (float64)."""
    relu = lambda v: np.maximum(v, 0.0)  # noqa: E731
    sum_a = a.sum(axis=(2, 3), keepdims=True)
    g2, g3 = g**2, g**3
    aij = np.where(g != 0, g2 / (2 * g2 + sum_a * g3 + 1e-6), 0.0)
    weights = {
        "gradcam": g.mean(axis=(2, 3), keepdims=True),
        "gradcam++": (aij * relu(g)).sum(axis=(2, 3), keepdims=True),
        "xgradcam": (g * a / (sum_a + 1e-7)).sum(axis=(2, 3), keepdims=True),
    }
    maps = {m: relu((w * a).sum(axis=1)) for m, w in weights.items()}
    maps["hirescam"] = relu((g * a).sum(axis=1))
    maps["layercam"] = relu((relu(g) * a).sum(axis=1))
    return maps


def eigen_maps(a):
    """EigenCAM: the centred activations projected on their first right singular vector,
    oriented so that its channel weights sum to >= 0, then the ReLU."""
    out = []
    for an in a:
        k = an.shape[0]
        m = an.reshape(k, -1).T
        m = m - m.mean(axis=0)
        _, s, vt = np.linalg.svd(m, full_matrices=False)
        v = vt[0] if vt[0].sum() >= 0 else -vt[0]
        gap = s[1] ** 2 / s[0] ** 2 if len(s) > 1 and s[0] > 0 else 0.0
        print(f"    eigencam: lambda2/lambda1 {gap:.3f}, |sum v| {abs(v.sum()):.3f}")
        out.append(np.maximum(m @ v, 0.0).reshape(an.shape[1:]))
    return np.stack(out)


def capture(model, x, layers, classes):
    """Logits, and A and g of each layer for logit[n, classes[n]] (classes[n] < 0: argmax)."""
    acts, grads = {}, {}

    def hook(name):
        def fn(_module, _inputs, output):
            acts[name] = output
            output.register_hook(lambda grad: grads.__setitem__(name, grad))
        return fn

    handles = [model.get_submodule(name).register_forward_hook(hook(name)) for name in layers]
    logits = model(x)
    for h in handles:
        h.remove()
    cls = [c if c >= 0 else int(logits[n].argmax()) for n, c in enumerate(classes)]
    logits[torch.arange(len(cls)), torch.tensor(cls)].sum().backward()
    as64 = lambda t: t.detach().double().numpy()  # noqa: E731
    return logits.detach(), cls, {n: (as64(acts[n]), as64(grads[n])) for n in layers}


def score_map(model, x, a, cls):
    """Score-CAM: each channel upsampled bilinearly (align_corners=False) to the input size and
    min-max normalised (flat: 0) masks the input; the channel's score is the softmax
    probability of the class; the weights are the softmax of the scores over channels."""
    out = []
    with torch.no_grad():
        for n in range(x.shape[0]):
            up = F.interpolate(torch.from_numpy(a[n : n + 1]).float().transpose(0, 1), size=x.shape[2:],
                               mode="bilinear", align_corners=False)
            lo = up.amin(dim=(2, 3), keepdim=True)
            rng = up.amax(dim=(2, 3), keepdim=True) - lo
            masks = torch.where(rng > 0, (up - lo) / torch.where(rng > 0, rng, torch.ones_like(rng)),
                                torch.zeros_like(up))
            probs = torch.softmax(model(x[n : n + 1] * masks), dim=1)[:, cls[n]].double().numpy()
            w = np.exp(probs - probs.max())
            w /= w.sum()
            out.append(np.maximum((w[:, None, None] * a[n]).sum(axis=0), 0.0))
    return np.stack(out)


def report(name, logits, cls):
    top = torch.topk(logits, 2, dim=1)
    margin = (top.values[:, 0] - top.values[:, 1]).tolist()
    print(f"{name}: classes {cls}, argmax {logits.argmax(dim=1).tolist()}, top-2 margins {margin}")


def kink_distance(model, x, layer):
    """In float64, the smallest distance of a ReLU6 input to its kinks (0 and 6) among the
    ReLU6s that run after `layer`, whose derivatives the gradient at `layer` passes through.
    A float32 input that close to a kink can land on either side of it in PyTorch and in
    clcnn, and one unit's gradient then differs entirely."""
    model = model.double()
    order, inputs = [], []

    def mark(_module, _inputs, _output):
        order.append(len(inputs))

    def record(_module, args, _output):
        inputs.append(args[0].detach().numpy().ravel())

    relus = [m for m in model.modules() if isinstance(m, torch.nn.ReLU6)]
    saved = [m.inplace for m in relus]
    for m in relus:
        m.inplace = False  # so that each hook sees its own input
    handles = [m.register_forward_hook(record) for m in relus]
    handles.append(model.get_submodule(layer).register_forward_hook(mark))
    with torch.no_grad():
        model(x.double())
    for h in handles:
        h.remove()
    for m, inplace in zip(relus, saved):
        m.inplace = inplace
    model.float()
    after = inputs[order[-1]:]
    return min((np.minimum(np.abs(v), np.abs(v - 6)).min() for v in after), default=np.inf)


def golden(out_dir, name, model, size, layers, methods, bn_gain=1.0, kink_margin=None):
    detinit.fill_model(model, 0, bn_gain)
    model.eval()
    x = torch.from_numpy(detinit.image("cam_input", (2, 3, size, size), 0))
    if kink_margin is not None:
        for layer in layers:
            d = kink_distance(model, x, layer)
            print(f"{name} {layer}: ReLU6 inputs after it are at least {d:.2g} from 0 and 6")
            assert d >= kink_margin, f"{name} {layer}: a ReLU6 input {d:.2g} from a kink (want {kink_margin:g})"
    logits, cls, ag = capture(model, x, layers, [TARGET0, -1])
    report(name, logits, cls)
    tensors = {"logits": logits, "classes": torch.tensor(cls, dtype=torch.float32)}
    for layer in layers:
        a, g = ag[layer]
        maps = grad_maps(a, g)
        if "eigencam" in methods:
            maps["eigencam"] = eigen_maps(a)
        if "scorecam" in methods:
            maps["scorecam"] = score_map(model, x, a, cls)
        for m in methods:
            tensors[f"{layer}.{m}"] = torch.from_numpy(maps[m].astype(np.float32))
            print(f"  {layer}.{m}: shape {list(maps[m].shape)}, max {maps[m].max():.4g}, "
                  f"nonzero {np.count_nonzero(maps[m])}")
    meta = {"made_by": "scripts/make_golden_cam.py", "torch": torch.__version__}
    if bn_gain != 1.0:
        meta["bn_gain"] = repr(bn_gain)
    write_safetensors(os.path.join(out_dir, f"cam_{name}.safetensors"), tensors, meta)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "golden")
    wanted = sys.argv[2:]  # names of the goldens to write (default: all)
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(2)
    all_methods = GRAD_METHODS + ("eigencam",)
    goldens = {
        "resnet18": lambda: golden(out_dir, "resnet18", torchvision.models.resnet18(num_classes=CLASSES), 128, LAYERS,
                                   all_methods),
        "seresnet50": lambda: golden(out_dir, "seresnet50",
                                     torchvision.models.resnet.ResNet(SEBottleneck, [3, 4, 6, 3], num_classes=CLASSES),
                                     128, LAYERS, all_methods),
        "tiny": lambda: golden(out_dir, "tiny", TinyResNet(widths=(8, 16, 32, 64), classes=CLASSES), 96, ("layer4",),
                               ("scorecam", "eigencam")),
        # the last stage and the block before it (4x4 both), batch-norm gain 1.5 (as
        # make_golden_zoo.py's BN_GAINS, the images fade out without one). Its ReLU6s are
        # dense: below features.16 or so, some ReLU6 input always lies within float32's
        # error of a kink, where clcnn and PyTorch (and PyTorch on 1 or 2 threads) may take
        # different sides, so the layers are kept where no input is within 2e-5 of one.
        "mobilenet_v2": lambda: golden(out_dir, "mobilenet_v2", torchvision.models.mobilenet_v2(num_classes=CLASSES),
                                       128, ("features.18", "features.17"), all_methods, bn_gain=1.5,
                                       kink_margin=2e-5),
    }
    # the last stage and the one before it; all SiLU, so no kinks to keep away from; batch-norm
    # gain 2 as make_golden_zoo.py's BN_GAINS
    goldens["efficientnet_b0"] = lambda: golden(out_dir, "efficientnet_b0",
                                                torchvision.models.efficientnet_b0(num_classes=CLASSES), 128,
                                                ("features.8", "features.6"), all_methods, bn_gain=2.0)
    for name, make in goldens.items():
        if not wanted or name in wanted:
            make()


if __name__ == "__main__":
    main()
