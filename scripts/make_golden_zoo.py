#!/usr/bin/env python3
"""make_golden_zoo.py: golden logits of whole zoo networks, for tests/test_zoo.c.

For resnet18, resnet50, seresnet50, resnet101, compact, mobilenet_v2 and efficientnet_b0 (10
classes, batch 2), builds the network in PyTorch exactly as clcnn_resnet_build() lays it out
(torchvision's own resnetN, mobilenet_v2 and efficientnet_bN; the SE and compact nets below on
torchvision's blocks), fills every float tensor of its
state_dict with scripts/detinit.py's name-keyed values, runs it in eval mode on
detinit.image("ARCH.input", [2, 3, S, S], SEED) and writes tests/golden/zoo_ARCH.safetensors
holding only "logits" [2, 10] (F32). The C test regenerates the same weights and input with
tests/ref/detinit.c, so no weights are committed. __metadata__ (all strings):
  arch, classes, size, batch, seed, input   what to build and feed
  bn_gain      detinit's batch-norm gain (BN_GAINS), where it is not 1
  parameters   trainable parameters of the torch model (sum of numel of parameters())
  tensors      float tensors in its state_dict (parameters and running statistics)
  names_fnv1a64  FNV-1a 64 (hex) of the lines "NAME D0xD1x...\\n" of those tensors, in
               state_dict order: the C test hashes the graph's list the same way
  made_by, torch, torchvision
The script refuses to write a golden whose logits are degenerate (rows nearly constant, or
the two images giving nearly the same logits).

Also the models for scripts/check_torch_load.py: build_model(arch, classes, head_hidden).
Needs Debian's python3-torch and python3-torchvision (run with /usr/bin/python3).
usage: /usr/bin/python3 scripts/make_golden_zoo.py [OUT_DIR] [ARCH...]   (default: every golden)
       /usr/bin/python3 scripts/make_golden_zoo.py --names ARCH [CLASSES]   (list the tensors)
"""
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detinit  # noqa: E402
from make_golden import SqueezeExcite, se_width, write_safetensors  # noqa: E402

CLASSES, BATCH, SEED = 10, 2, 4
# (arch, input side): the big nets at 64x64, as the issue allows; resnet18 and compact at 96.
GOLDENS = (("resnet18", 96), ("resnet50", 64), ("seresnet50", 64), ("resnet101", 64), ("compact", 96),
           ("mobilenet_v2", 96), ("efficientnet_b0", 96), ("inception_v3", 128), ("xception", 96),
           ("mobilenet_v3_large", 96))
# detinit's batch-norm gain per network (1 unless named): with gammas of 0.25-0.75 the
# images fade out over MobileNetV2's blocks, 16 of 17 of which do not add their input
# (the two images' logits then differ by 2e-5 of their size); at 1.75 they differ by 0.19.
# B0: 3e-7 without, 0.30 with (float32 within 1.4e-6 of float64); Inception-v3: 7e-6 and 0.05;
# MobileNetV3-Large: 4e-6 and 0.07 at 1.6 (0.33 at 2, where its activations reach 500)
BN_GAINS = {"mobilenet_v2": 1.75, "efficientnet_b0": 2.0, "inception_v3": 2.0, "mobilenet_v3_large": 1.6}
LAYOUTS = {18: (BasicBlock, [2, 2, 2, 2]), 34: (BasicBlock, [3, 4, 6, 3]), 50: (Bottleneck, [3, 4, 6, 3]),
           101: (Bottleneck, [3, 4, 23, 3]), 152: (Bottleneck, [3, 8, 36, 3])}


def with_se(block):
    """torchvision's block with a Squeeze-and-Excitation module after its last batch norm and
    before the residual addition, named se.fc1/se.fc2 and registered before downsample, so
    that the state_dict's order is clcnn's."""

    class SEBlock(block):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.depth = 3 if hasattr(self, "bn3") else 2
            downsample = self.downsample
            del self.downsample
            channels = getattr(self, f"bn{self.depth}").num_features
            self.se = SqueezeExcite(channels, se_width(channels))
            self.downsample = downsample

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = x
            for i in range(1, self.depth + 1):
                out = getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(out))
                if i < self.depth:
                    out = self.relu(out)
            return self.relu(self.se(out) + identity)

    SEBlock.__name__ = "SE" + block.__name__
    return SEBlock


def compact(se, classes):
    """clcnn's compact net: torchvision's ResNet forward with a 3x3 stride-2 stem of 24
    channels, no max pooling (an Identity, which has no tensors) and one basic block per
    stage of widths 24-48-96-192."""
    block = with_se(BasicBlock) if se else BasicBlock
    model = ResNet(block, [1, 1, 1, 1], num_classes=classes)
    model.conv1 = nn.Conv2d(3, 24, 3, 2, 1, bias=False)
    model.bn1 = nn.BatchNorm2d(24)
    model.maxpool = nn.Identity()
    model.inplanes = 24
    for stage, width in enumerate((24, 48, 96, 192)):
        setattr(model, f"layer{stage + 1}", model._make_layer(block, width, 1, stride=1 if stage == 0 else 2))
    model.fc = nn.Linear(192, classes)
    return model


class SeparableConv2d(nn.Module):
    """timm's xception SeparableConv2d: conv1 (depthwise) then pointwise, no biases."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.conv1(x))


class XceptionBlock(nn.Module):
    """timm's xception Block, module for module (skip and skipbn registered before rep)."""

    def __init__(self, cin, cout, reps, stride=1, start_with_relu=True, grow_first=True):
        super().__init__()
        self.skip = nn.Conv2d(cin, cout, 1, stride=stride, bias=False) if cout != cin or stride != 1 else None
        self.skipbn = nn.BatchNorm2d(cout) if self.skip is not None else None
        rep = []
        for i in range(reps):
            inc, outc = (cin if i == 0 else cout, cout) if grow_first else (cin, cin if i < reps - 1 else cout)
            rep += [nn.ReLU(), SeparableConv2d(inc, outc), nn.BatchNorm2d(outc)]
        if not start_with_relu:
            rep = rep[1:]
        if stride != 1:
            rep.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, x):
        return self.rep(x) + (self.skipbn(self.skip(x)) if self.skip is not None else x)


class Xception(nn.Module):
    """timm's `xception` (legacy_xception in later timm): the same modules, names and order."""

    def __init__(self, classes):
        super().__init__()
        self.conv1, self.bn1, self.act1 = nn.Conv2d(3, 32, 3, 2, 0, bias=False), nn.BatchNorm2d(32), nn.ReLU()
        self.conv2, self.bn2, self.act2 = nn.Conv2d(32, 64, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU()
        self.block1 = XceptionBlock(64, 128, 2, 2, start_with_relu=False)
        self.block2 = XceptionBlock(128, 256, 2, 2)
        self.block3 = XceptionBlock(256, 728, 2, 2)
        for k in range(4, 12):
            setattr(self, f"block{k}", XceptionBlock(728, 728, 3, 1))
        self.block12 = XceptionBlock(728, 1024, 2, 2, grow_first=False)
        self.conv3, self.bn3, self.act3 = SeparableConv2d(1024, 1536), nn.BatchNorm2d(1536), nn.ReLU()
        self.conv4, self.bn4, self.act4 = SeparableConv2d(1536, 2048), nn.BatchNorm2d(2048), nn.ReLU()
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.act2(self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))
        for k in range(1, 13):
            x = getattr(self, f"block{k}")(x)
        x = self.act4(self.bn4(self.conv4(self.act3(self.bn3(self.conv3(x))))))
        return self.fc(torch.flatten(self.global_pool(x), 1))


def build_model(arch, classes, head_hidden=0, head_dropout=0.2, aux_logits=False):
    """The torch twin of clcnn_resnet_config_for(arch) + clcnn_resnet_build(). Inception-v3
    has AuxLogits where clcnn builds it (pictures of 299x299 and more): aux_logits."""
    if arch.startswith("mobilenet_v3_"):
        model = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
        if head_hidden > 0:  # clcnn's head_hidden and head_dropout: classifier.0's width, classifier.2's rate
            model.classifier[0] = nn.Linear(model.classifier[0].in_features, head_hidden)
            model.classifier[2].p = head_dropout
            model.classifier[3] = nn.Linear(head_hidden, classes)
        return model
    if arch == "mobilenet_v2" or arch.startswith("efficientnet_b"):
        model = getattr(torchvision.models, arch)(weights=None, num_classes=classes)
        if head_hidden > 0:  # clcnn's MLP head after torchvision's dropout: classifier.0 ... classifier.4
            first = model.classifier[0]
            model.classifier = nn.Sequential(first, nn.Linear(model.classifier[1].in_features, head_hidden),
                                             nn.ReLU(inplace=True), nn.Dropout(head_dropout),
                                             nn.Linear(head_hidden, classes))
        return model
    if arch == "inception_v3":
        model = torchvision.models.inception_v3(weights=None, num_classes=classes, aux_logits=aux_logits,
                                                init_weights=False)
    elif arch == "xception":
        model = Xception(classes)
    elif arch in ("compact", "secompact"):
        model = compact(arch == "secompact", classes)
    else:
        se = arch.startswith("se")
        name = arch[2:] if se else arch
        depth = int(name[len("resnet"):]) if name.startswith("resnet") and name[6:].isdigit() else 0
        if depth not in LAYOUTS:
            raise ValueError(f"unknown architecture {arch}")
        if se:
            block, layers = LAYOUTS[depth]
            model = ResNet(with_se(block), layers, num_classes=classes)
        else:
            model = getattr(torchvision.models, name)(weights=None, num_classes=classes)
    if head_hidden > 0:  # clcnn's MLP head, named as nn.Sequential names it: fc.0 ... fc.3
        model.fc = nn.Sequential(nn.Linear(model.fc.in_features, head_hidden), nn.ReLU(inplace=True),
                                 nn.Dropout(head_dropout), nn.Linear(head_hidden, classes))
    return model


def float_tensors(model):
    return [(n, t) for n, t in model.state_dict().items() if t.is_floating_point()]


def names_text(model):
    """One line per float tensor, 'NAME D0xD1x...', as tests/golden/torchvision_names.txt."""
    return "".join(f"{n} {'x'.join(str(d) for d in t.shape)}\n" for n, t in float_tensors(model))


def check_not_degenerate(arch, logits):
    """Rows must vary across classes and the two images must differ, by far more than the
    test's tolerance (1e-3 of a row's largest magnitude)."""
    scale = logits.abs().max().item()
    spread = (logits.max(dim=1).values - logits.min(dim=1).values).min().item()
    images = (logits[0] - logits[1]).abs().max().item()
    assert spread > 0.05 * scale and images > 0.02 * scale, \
        f"{arch}: degenerate logits (scale {scale:.4g}, class spread {spread:.4g}, image difference {images:.4g})"
    return spread / scale, images / scale


def write_golden(out_dir, arch, size):
    model = build_model(arch, CLASSES)
    bn_gain = BN_GAINS.get(arch, 1.0)
    detinit.fill_model(model, SEED, bn_gain)
    model.eval()
    x = torch.from_numpy(detinit.image(f"{arch}.input", (BATCH, 3, size, size), SEED))
    with torch.no_grad():
        logits = model(x)
        exact = model.double()(x.double())  # how far float32 PyTorch itself is from float64
    spread, images = check_not_degenerate(arch, logits)
    f32_err = ((logits.double() - exact).abs().max(dim=1).values / exact.abs().max(dim=1).values).max().item()
    text = names_text(model)
    meta = {"arch": arch, "classes": str(CLASSES), "size": str(size), "batch": str(BATCH), "seed": str(SEED),
            "input": f"{arch}.input", "parameters": str(sum(p.numel() for p in model.parameters())),
            "tensors": str(text.count("\n")), "names_fnv1a64": f"{detinit.fnv1a64(text):016x}",
            "made_by": "scripts/make_golden_zoo.py", "torch": torch.__version__,
            "torchvision": torchvision.__version__}
    if bn_gain != 1.0:
        meta["bn_gain"] = repr(bn_gain)
    write_safetensors(os.path.join(out_dir, f"zoo_{arch}.safetensors"), {"logits": logits}, meta)
    print(f"{arch} {size}x{size}: {meta['parameters']} parameters, {meta['tensors']} tensors; logits "
          f"spread {spread:.3f}, image difference {images:.3f} (of max |logit|); float32 vs float64 "
          f"relative error {f32_err:.2e}")


def main(argv):
    if argv and argv[0] == "--names":
        sys.stdout.write(names_text(build_model(argv[1], int(argv[2]) if len(argv) > 2 else CLASSES)))
        return
    out_dir = argv[0] if argv else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    wanted = argv[1:]
    for arch, size in GOLDENS:
        if not wanted or arch in wanted:
            write_golden(out_dir, arch, size)


if __name__ == "__main__":
    main(sys.argv[1:])
