"""The networks of the course: MLP, the thesis nets, LeNet, ResNet-20 (CIFAR) and ResNet-18.

Every builder returns an ``nn.Module`` whose output is raw scores (logits): the softmax of the
thesis lives in the loss (``F.cross_entropy``). Parameter counts of the defaults:

========================================  ================  =========  ==========
builder                                   input             output     parameters
========================================  ================  =========  ==========
``mlp([1, 100, 1])``                      (N, 1)            (N, 1)            301
``thesis_mlp()``                          (N, 3, 32, 32)    (N, 10)     1,707,274
``thesis_fcn()``                          (N, 3, 32, 32)    (N, 10)       288,298
``LeNet()``                               (N, 1, 28, 28)    (N, 10)        61,706
``LeNet(in_channels=3, image_size=32)``   (N, 3, 32, 32)    (N, 10)        62,006
``resnet20()``                            (N, 3, 32, 32)    (N, 10)       272,474
``resnet18()``                            (N, 3, 224, 224)  (N, 1000)  11,689,512
========================================  ================  =========  ==========

The thesis nets (``thesis_mlp``, ``thesis_fcn``) are flat ``nn.Sequential`` models, so that
``course_lib.normalization.insert_shift_scale`` / ``insert_batchnorm`` can put layers after the
input and after every activation; ``thesis_net(arch, variant)`` builds either with one of the
eleven normalization variants of the thesis. ``resnet18`` has the state dict of
``torchvision.models.resnet18``, so its pretrained weights load as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .i18n import CourseError
from .init import init_model
from .normalization import BatchNorm2d, check_order, insert_variant, shift_scale_layers

ACTIVATION_BY_NAME = {
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}
"""Activation names accepted by ``mlp``."""


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """The number of learned values of ``model`` (only those with ``requires_grad`` if
    ``trainable_only``); buffers such as batch-norm running statistics do not count."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _check_positive(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CourseError("models.not_positive", name=name, value=value)


def _check_dropout(p: float) -> None:
    if not 0.0 <= p < 1.0:
        raise CourseError("models.bad_dropout", p=p)


def _check_sizes(key: str, sizes: Sequence[int], minimum: int) -> None:
    if len(sizes) < minimum or not all(
        isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in sizes
    ):
        raise CourseError(key, sizes=list(sizes))


def mlp(sizes: Sequence[int], activation: str = "relu", dropout: float = 0.0) -> nn.Sequential:
    """A multilayer perceptron: an activation (and dropout if ``dropout > 0``) after every
    Linear layer but the last::

        Linear(sizes[0], sizes[1]), act, [Dropout], ..., Linear(sizes[-2], sizes[-1])

    Input ``(N, sizes[0])``, output ``(N, sizes[-1])``; ``sum_i (sizes[i] + 1) * sizes[i + 1]``
    parameters, e.g. ``mlp([1, 64, 64, 1])``, our regressor for lab 10's sines: 4353.
    ``dropout`` is the probability of dropping a unit, as in ``nn.Dropout``. PyTorch's default
    initialization.
    """
    _check_sizes("models.bad_sizes", sizes, minimum=2)
    if activation not in ACTIVATION_BY_NAME:
        raise CourseError(
            "models.unknown_activation", name=activation, known=", ".join(ACTIVATION_BY_NAME)
        )
    _check_dropout(dropout)
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(ACTIVATION_BY_NAME[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


def thesis_mlp(
    in_features: int = 3 * 32 * 32,
    num_classes: int = 10,
    hidden: Sequence[int] = (512, 256),
    dropout: float = 0.0,
) -> nn.Sequential:
    """The multilayer perceptron of the thesis: ``Flatten``, then ``mlp([in_features, *hidden,
    num_classes], "relu", dropout)`` with He initialization (``init.init_model(model, "he")``).

    Input ``(N, in_features)`` or an image ``(N, C, H, W)`` with ``C * H * W = in_features``;
    output ``(N, num_classes)`` logits. The CIFAR-10 defaults ``3072 -> 512 -> 256 -> 10``
    have 1,707,274 parameters.
    """
    _check_positive("in_features", in_features)
    _check_positive("num_classes", num_classes)
    _check_sizes("models.bad_hidden", hidden, minimum=0)
    body = mlp([in_features, *hidden, num_classes], "relu", dropout)
    return init_model(nn.Sequential(nn.Flatten(), *body), "he")


def thesis_fcn(
    in_channels: int = 3,
    num_classes: int = 10,
    widths: Sequence[int] = (32, 64, 128),
    dropout: float = 0.0,
) -> nn.Sequential:
    """The fully convolutional net of the thesis, in the style of the All-CNN of Springenberg
    et al. (2015): stride-2 convolutions downsample instead of pooling layers.

    One stage per entry ``w`` of ``widths``::

        Conv2d(c, w, 3, padding=1), ReLU, Conv2d(w, w, 3, stride=2, padding=1), ReLU, [Dropout]

    then ``Conv2d(widths[-1], num_classes, 1)`` (scores per position), ``AdaptiveAvgPool2d(1)``
    (global average pooling) and ``Flatten``. Dropout (if ``dropout > 0``, elementwise
    ``nn.Dropout``) follows each downsampling, as in All-CNN. He initialization
    (``init.init_model(model, "he")``).

    Input ``(N, in_channels, H, W)`` of any size; every stage halves H and W (rounding up),
    e.g. 32 -> 16 -> 8 -> 4 for CIFAR; output ``(N, num_classes)`` logits. The defaults (CIFAR-10,
    widths 32, 64, 128) have 288,298 parameters: ``sum 9 (c w + w^2) + 2 w`` over the stages
    plus ``(widths[-1] + 1) * num_classes``.
    """
    _check_positive("in_channels", in_channels)
    _check_positive("num_classes", num_classes)
    _check_sizes("models.bad_widths", widths, minimum=1)
    _check_dropout(dropout)
    layers: list[nn.Module] = []
    channels = in_channels
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU()]
        layers += [nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        channels = width
    layers += [nn.Conv2d(channels, num_classes, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return init_model(nn.Sequential(*layers), "he")


THESIS_ARCHS = ("fcn", "mlp")
"""The two architectures of the thesis: fully convolutional net and multilayer perceptron."""


def thesis_net(
    arch: str,
    variant: str = "none",
    *,
    dropout: float = 0.0,
    in_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    widths: Sequence[int] | None = None,
    seed: int = 0,
    order: str = "shift_scale",
) -> nn.Sequential:
    """A thesis net (``arch`` ``"fcn"``: ``thesis_fcn``, ``"mlp"``: ``thesis_mlp``) with the
    layers of the normalization ``variant`` (a name of ``normalization.VARIANTS``: ``"none"``,
    ``"shift_scale_layer"``, ``"batch_norm"``, ...) after the input and after every activation
    but the last; a variant with both layers puts them in ``order`` (``"shift_scale"``, the
    thesis' shift then scale, or ``"scale_shift"``; ``normalization.ORDERS``).

    ``in_shape`` is the per-example input shape ``(C, H, W)``; input ``(N, *in_shape)``, output
    ``(N, num_classes)`` logits. ``widths`` are the stage widths of the fcn or the hidden sizes
    of the mlp (``None``: the builder's defaults). The He initialization is drawn from ``seed``
    alone and the inserted layers draw no random numbers, so all variants with the same seed
    start from the same weights; the global random state is left as it was.
    """
    if arch not in THESIS_ARCHS:
        raise CourseError("experiments.unknown_arch", name=arch, known=", ".join(THESIS_ARCHS))
    in_shape = tuple(in_shape)
    _check_sizes("experiments.bad_in_shape", in_shape, minimum=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if arch == "fcn":
            kw = {} if widths is None else {"widths": tuple(widths)}
            base = thesis_fcn(in_shape[0], num_classes, dropout=dropout, **kw)
        else:
            kw = {} if widths is None else {"hidden": tuple(widths)}
            base = thesis_mlp(math.prod(in_shape), num_classes, dropout=dropout, **kw)
    return insert_variant(base, variant, example_input=torch.zeros(2, *in_shape), order=order)


class LeNet(nn.Module):
    """LeNet-5 (LeCun et al. 1998) with ReLU and max pooling::

        conv1  Conv2d(in_channels, 6, 5, padding=p)  ReLU  MaxPool2d(2)
        conv2  Conv2d(6, 16, 5)                      ReLU  MaxPool2d(2)
        fc1    Linear(16 k k, 120)                   ReLU
        fc2    Linear(120, 84)                       ReLU
        fc3    Linear(84, num_classes)

    ``p = 2`` for 28 x 28 images (MNIST, padded to 32 x 32 as in the paper), otherwise 0; then
    ``k = ((image_size + 2 p - 4) // 2 - 4) // 2``, which is 5 for both 28 and 32. Input
    ``(N, in_channels, image_size, image_size)``, output ``(N, num_classes)`` logits.
    Parameters: 61,706 for 1 x 28 x 28, 62,006 for 3 x 32 x 32 (10 classes). PyTorch's default
    initialization.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28):
        super().__init__()
        for name, value in (
            ("num_classes", num_classes), ("in_channels", in_channels), ("image_size", image_size)
        ):
            _check_positive(name, value)
        padding = 2 if image_size == 28 else 0
        k = ((image_size + 2 * padding - 4) // 2 - 4) // 2
        if k < 1:
            raise CourseError("models.image_too_small", size=image_size, minimum=16)
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=padding)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * k * k, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = torch.flatten(x, 1)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """The residual block of ResNet-18 and ResNet-20: ``y = relu(F(x) + skip(x))`` with::

        F(x)    = bn2(conv2(relu(bn1(conv1(x)))))      two 3 x 3 convolutions, conv1 strided
        skip(x) = x                                    ordinary block
        skip(x) = downsample(x) = bn(conv1x1(x))       downsample block (stride 2 or new width)

    Input ``(N, in_channels, H, W)``, output ``(N, out_channels, H / stride, W / stride)``.
    Attribute names are those of torchvision's ``BasicBlock``; the ReLU does not work in place,
    so forward hooks see every activation.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: Tensor) -> Tensor:
        skip = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + skip)


class ResNet(nn.Module):
    """A ResNet of BasicBlocks (He et al. 2016), laid out like ``torchvision.models.ResNet``::

        conv1, bn1, relu, maxpool                  the stem
        layer1, ..., layerS                        stage s: blocks[s] blocks of widths[s]
        avgpool, flatten, fc                       global average pooling, Linear(widths[-1], K)

    The first block of every stage but the first has stride 2 and a downsample skip.
    ``imagenet_stem``: a 7 x 7 stride-2 convolution and a 3 x 3 stride-2 max pooling (224 x 224
    images, 4x smaller after the stem); otherwise a 3 x 3 stride-1 convolution and no pooling
    (32 x 32 CIFAR images). Input ``(N, in_channels, H, W)``, output ``(N, num_classes)``.
    Initialization as in torchvision: convolutions ``N(0, 2 / fan_out)``, batch norm
    ``gamma = 1, beta = 0``, the fc layer PyTorch's default.
    """

    def __init__(
        self,
        widths: Sequence[int],
        blocks: Sequence[int],
        num_classes: int,
        in_channels: int = 3,
        imagenet_stem: bool = True,
    ):
        super().__init__()
        _check_positive("num_classes", num_classes)
        _check_positive("in_channels", in_channels)
        if imagenet_stem:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, padding=1)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU()
        channels = widths[0]
        for s, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            stride = 1 if s == 0 else 2
            stage = [BasicBlock(channels, width, stride)]
            stage += [BasicBlock(width, width) for _ in range(count - 1)]
            self.add_module(f"layer{s + 1}", nn.Sequential(*stage))
            channels = width
        self.num_stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    @property
    def stages(self) -> list[nn.Sequential]:
        """``[layer1, ..., layerS]``."""
        return [getattr(self, f"layer{s + 1}") for s in range(self.num_stages)]

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for stage in self.stages:
            x = stage(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet20(num_classes: int = 10, in_channels: int = 3) -> ResNet:
    """ResNet-20 for CIFAR (He et al. 2016, section 4.2): a 3 x 3 stem of 16 channels, three
    stages of three BasicBlocks with 16, 32, 64 channels (32 x 32 -> 16 x 16 -> 8 x 8), global
    average pooling and ``Linear(64, num_classes)``: 1 + 2 * 9 + 1 = 20 weight layers.

    The two downsample blocks (first of stages 2 and 3) project the skip with a 1 x 1 stride-2
    convolution and batch norm: option B of the paper, the same block as in ResNet-18, so that
    every skip is a layer merging code can treat like the others. The paper's CIFAR nets use
    option A (stride-2 subsampling and zero padding, no parameters): 269,722 parameters for 10
    classes; option B adds 16 * 32 + 32 * 64 weights and 2 * (32 + 64) batch-norm parameters,
    272,474 in all. Input ``(N, in_channels, 32, 32)``, output ``(N, num_classes)``.
    """
    return ResNet((16, 32, 64), (3, 3, 3), num_classes, in_channels, imagenet_stem=False)


def resnet18(num_classes: int = 1000, in_channels: int = 3) -> ResNet:
    """ResNet-18 (He et al. 2016) with the state-dict keys and shapes of
    ``torchvision.models.resnet18``: an ImageNet stem of 64 channels, four stages of two
    BasicBlocks with 64, 128, 256, 512 channels, ``Linear(512, num_classes)``.

    Input ``(N, in_channels, 224, 224)`` (other sizes work too: global average pooling), output
    ``(N, num_classes)``. 11,689,512 parameters for 1000 classes, 11,181,642 for 10.
    """
    return ResNet((64, 128, 256, 512), (2, 2, 2, 2), num_classes, in_channels, imagenet_stem=True)


RESNET_VARIANTS = ("none", "shift_scale_layer", "shift_scale_channel", "batch_norm")
"""The normalizations ``resnet20_variant`` puts where ResNet-20 has batch norm."""


def resnet20_variant(
    variant: str = "batch_norm",
    *,
    num_classes: int = 10,
    in_channels: int = 3,
    widths: Sequence[int] = (16, 32, 64),
    seed: int = 0,
    order: str = "shift_scale",
) -> ResNet:
    """ResNet-20 (``resnet20``, stage widths ``widths``) with every batch norm replaced by the
    layers of ``variant`` (``RESNET_VARIANTS``), the thesis' comparison on a larger net:

    * ``"batch_norm"``: ResNet-20 as it is, with the course's ``normalization.BatchNorm2d``
      (the same as ``nn.BatchNorm2d``, and it trains stacked under ``torch.vmap`` on CUDA,
      where cuDNN's batch norm does not);
    * ``"none"``: no normalization, each batch norm becomes ``nn.Identity`` (the convolutions
      have no bias, as in torchvision's ResNets: batch norm's ``beta`` plays that part);
    * ``"shift_scale_<g>"``: a shift and a scale layer of granularity ``g`` (``"channel"`` or
      ``"layer"``) in ``order`` (``normalization.ORDERS``; the thesis' ``a * (x + b)`` by
      default), starting as the identity: batch norm's learned affine step without its
      normalization by the batch's mean and standard deviation.

    So every variant has its layers at the same places, after each convolution (before the ReLU
    or the sum with the skip); this placement is our choice, the thesis' nets have no skips.
    The weights are drawn from ``seed`` alone (the same for every variant), the global random
    state is left as it was. Input ``(N, in_channels, H, W)``, output ``(N, num_classes)``.
    """
    if variant not in RESNET_VARIANTS:
        raise CourseError("experiments.unknown_variant", name=variant,
                          known=", ".join(RESNET_VARIANTS))
    check_order(order)
    widths = tuple(widths)
    if len(widths) != 3 or not all(isinstance(w, int) and not isinstance(w, bool) and w >= 1
                                   for w in widths):
        raise CourseError("models.bad_resnet_widths", widths=widths)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = ResNet(widths, (3, 3, 3), num_classes, in_channels, imagenet_stem=False)
    _replace_batch_norms(net, variant, order)
    return net


def _replace_batch_norms(module: nn.Module, variant: str, order: str) -> None:
    """Replace every ``nn.BatchNorm2d`` below ``module`` (in place) as ``resnet20_variant``
    describes."""
    for name, child in module.named_children():
        if not isinstance(child, nn.BatchNorm2d):
            _replace_batch_norms(child, variant, order)
        elif variant == "batch_norm":
            setattr(module, name, BatchNorm2d(child.num_features))
        elif variant == "none":
            setattr(module, name, nn.Identity())
        else:
            granularity = variant.rsplit("_", 1)[1]
            setattr(module, name, nn.Sequential(*shift_scale_layers(
                (child.num_features, 1, 1), granularity, granularity, order)))
