"""The experiments of the regularization lecture, shared by its notebook and its claim tests.

The task is deliberately small: ``small_task`` generates MNIST-1D (Greydanus 2020; signals of
40 samples, 10 classes) with only 500 examples for training and 750 each for validation and
for testing. A ``wide_mlp`` (40 -> 256 -> 256 -> 10, about 78 thousand parameters) learns the
training part perfectly and overfits: the setting where regularization shows.

``train`` is a plain mini-batch loop (SGD with momentum) that can add, one at a time or
together:

- an L2 penalty ``l2 * sum w^2`` on the weights (not the biases) to the loss,
- an L1 penalty ``l1 * sum |w|`` by the proximal step ``soft_threshold_(w, lr * l1)`` after
  every update (exact zeros; see ``course_lib.regularization``),
- distillation from a teacher's logits on the training inputs (``losses.distillation_loss``),
- data augmentation of every mini-batch, e.g. ``random_shift`` of the signals,
- an L1 penalty ``activity * mean |h|`` on the output ``h`` of every hidden ReLU
  (``activity_l1``; the robustness part of the lecture, ``lectures.robustness``),

and records per epoch the loss and accuracy on the training and the validation set, both
measured in eval mode after the epoch. Every run seeds its own generators (initialization,
mini-batch order, dropout masks), so it gives the same numbers whenever it is called, and it
leaves the notebook's global random state as it was.

Test-time augmentation (``photo_tta``) runs the pretrained EfficientNet-Lite0 on ten crops at
three scales of each of the course's six photos and compares the centre crop, the ten crops
and all thirty (``tta_table``, ``top1_changes``, ``jensen_gaps``); ``PHOTO_LABELS`` are our
labels of the photos whose ImageNet class is unambiguous.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import data, transfer
from ..ensembles import average_predictions, multi_scale_views, view_probabilities
from ..i18n import CourseError, format_number, t
from ..losses import distillation_loss, multiclass_hinge, multiclass_hinge_grad, soft_cross_entropy
from ..models import mlp
from ..regularization import l2_penalty, mixup, smooth_labels, soft_threshold_
from ..tables import Table


@dataclass(frozen=True)
class Task:
    """Inputs ``(N, 40)`` float32 and classes ``(N,)`` of the three parts of a small task."""

    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor

    @property
    def classes(self) -> int:
        return int(self.y_train.max()) + 1

    def loader(self, batch_size: int, seed: int = 0) -> torch.utils.data.DataLoader:
        """The training part as a shuffled DataLoader (for ``fit`` and ``snapshot_ensemble``)."""
        return torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(self.x_train, self.y_train), batch_size=batch_size,
            shuffle=True, generator=torch.Generator().manual_seed(seed))


@cache
def _mnist1d(num_samples: int, seed: int) -> tuple[Tensor, Tensor]:
    return data.mnist1d(num_samples=num_samples, seed=seed)


def small_task(n_train: int = 500, n_eval: int = 750, seed: int = 42) -> Task:
    """MNIST-1D with ``n_train`` training examples and ``n_eval`` for validation and for test.

    ``n_train + 2 * n_eval`` signals are generated (``data.mnist1d``, cached) and split at
    random (``data.split`` with ``seed``); the same arguments give the same task everywhere.
    """
    total = n_train + 2 * n_eval
    x, y = _mnist1d(total, seed)
    splits = data.split(x, y, (n_train / total, n_eval / total, n_eval / total), seed=seed)
    return Task(*splits.train.tensors, *splits.val.tensors, *splits.test.tensors)


def wide_mlp(n_in: int = 40, hidden: int = 256, n_out: int = 10, depth: int = 2,
             dropout: float = 0.0, seed: int = 0) -> nn.Sequential:
    """``mlp([n_in, hidden x depth, n_out], "relu", dropout)`` initialized from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return mlp([n_in, *[hidden] * depth, n_out], "relu", dropout)


@dataclass
class Curves:
    """Per epoch: loss and accuracy on the training and on the validation set (eval mode)."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)

    @property
    def best_epoch(self) -> int:
        """The epoch (counted from 1) with the lowest validation loss."""
        return int(np.argmin(self.val_loss)) + 1


@contextmanager
def cpu_threads(device: torch.device, threads: int = 1) -> Iterator[None]:
    """Run a block with ``threads`` intra-op CPU threads when ``device`` is the CPU.

    The networks here are tiny: several threads gain nothing, and on a machine whose cores are
    busy (a shared server, tests running in parallel) they slow every small matrix product down
    by an order of magnitude or more. The previous setting is restored afterwards.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@torch.no_grad()
def evaluate(model: nn.Module, x: Tensor, y: Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) of ``model`` in eval mode; the mode is restored after."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    with cpu_threads(device):
        out = model(x.to(device))
    y = y.to(device)
    model.train(was_training)
    return F.cross_entropy(out, y).item(), (out.argmax(dim=1) == y).float().mean().item()


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """The fraction of ``x`` that ``model`` classifies right (eval mode)."""
    return evaluate(model, x, y)[1]


def weights(model: nn.Module) -> list[Tensor]:
    """The weight matrices of the Linear layers, first to last."""
    return [m.weight for m in model.modules() if isinstance(m, nn.Linear)]


def zero_fraction(model: nn.Module) -> float:
    """The fraction of Linear weights that are exactly zero."""
    ws = weights(model)
    return sum(int((w == 0).sum()) for w in ws) / sum(w.numel() for w in ws)


def activity_l1(h: Tensor, lam: float) -> Tensor:
    """The penalty ``lam * mean |h|`` on one layer's activations ``h`` (any shape): 0-dim."""
    return lam * h.abs().mean()


def forward_with_activations(model: nn.Sequential, x: Tensor) -> tuple[Tensor, list[Tensor]]:
    """``model(x)`` and the output of every ``nn.ReLU`` of the Sequential, first to last."""
    hidden = []
    for layer in model:
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            hidden.append(x)
    return x, hidden


def train(model: nn.Module, task: Task, epochs: int, lr: float = 0.05, momentum: float = 0.9,
          batch_size: int = 50, l1: float = 0.0, l2: float = 0.0, seed: int = 0,
          teacher_logits: Tensor | None = None, T: float = 4.0, alpha: float = 0.9,
          augment: Callable[[Tensor], Tensor] | None = None, label_smoothing: float = 0.0,
          mixup_alpha: float | None = None, activity: float = 0.0, record: bool = True,
          device=None) -> Curves:
    """Train ``model`` in place on ``task`` with SGD + momentum; return its ``Curves``.

    Loss per mini-batch: cross-entropy, or ``distillation_loss(out, teacher, y, T, alpha)`` when
    ``teacher_logits`` (one row per training example) are given, plus ``l2 * sum w^2``. After
    each step, with ``l1 > 0``, every weight gets the proximal step of ``lr * l1 * |w|``.
    ``augment`` transforms every mini-batch of inputs before the forward pass (random, drawn
    from the run's seeded generator). ``label_smoothing = eps`` trains on the targets
    ``smooth_labels(y, C, eps)`` and ``mixup_alpha`` mixes every mini-batch (inputs and targets,
    ``regularization.mixup``), both with ``soft_cross_entropy``. ``activity > 0`` adds
    ``activity_l1(h, activity)`` for the output ``h`` of every ``nn.ReLU`` of the Sequential
    ``model`` (``forward_with_activations``). ``record=False`` skips the
    per-epoch evaluation (the curves stay empty). On the CPU the run uses one thread (see
    ``cpu_threads``).
    """
    device = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(device)
    x, y = task.x_train.to(device), task.y_train.to(device)
    teacher = teacher_logits.to(device) if teacher_logits is not None else None
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    order = torch.Generator().manual_seed(seed)
    curves = Curves()
    with torch.random.fork_rng(devices=[]), cpu_threads(device):
        torch.manual_seed(seed)
        for _ in range(epochs):
            model.train()
            for idx in torch.randperm(len(x), generator=order).split(batch_size):
                idx = idx.to(device)
                inputs = x[idx] if augment is None else augment(x[idx])
                targets = None
                if label_smoothing or mixup_alpha is not None:
                    targets = smooth_labels(y[idx], task.classes, label_smoothing, inputs.dtype)
                if mixup_alpha is not None:
                    inputs, targets, _ = mixup(inputs, targets, mixup_alpha, generator=order)
                out, hidden = (forward_with_activations(model, inputs) if activity
                               else (model(inputs), []))
                if teacher is not None:
                    loss = distillation_loss(out, teacher[idx], y[idx], T=T, alpha=alpha)
                elif targets is not None:
                    loss = soft_cross_entropy(out, targets)
                else:
                    loss = F.cross_entropy(out, y[idx])
                if l2:
                    loss = loss + l2 * l2_penalty(model).to(device)
                if activity:
                    loss = loss + sum(activity_l1(h, activity) for h in hidden)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if l1:
                    for w in weights(model):
                        soft_threshold_(w, lr * l1)
            if not record:
                continue
            for part, (xs, ys) in (("train", (task.x_train, task.y_train)),
                                   ("val", (task.x_val, task.y_val))):
                loss_value, acc = evaluate(model, xs, ys)
                getattr(curves, f"{part}_loss").append(loss_value)
                getattr(curves, f"{part}_acc").append(acc)
    model.eval()
    return curves


def random_shift(x: Tensor, max_shift: int = 4) -> Tensor:
    """Augmentation of signals ``(N, L)``: each row rolled circularly by its own random shift
    ``k`` in ``[-max_shift, max_shift]``, i.e. ``out[n, i] = x[n, (i - k_n) mod L]``."""
    length = x.shape[1]
    shifts = torch.randint(-max_shift, max_shift + 1, (len(x), 1)).to(x.device)
    positions = torch.arange(length, device=x.device).unsqueeze(0)
    return x.gather(1, (positions - shifts) % length)


def ensemble_accuracy(models: Sequence[nn.Module], x: Tensor, y: Tensor) -> float:
    """Accuracy of the average of the members' class probabilities."""
    device = next(models[0].parameters()).device
    with cpu_threads(device):
        probs = average_predictions(models, x.to(device))
    return (probs.argmax(dim=1) == y.to(device)).float().mean().item()


def plot_curves(runs: dict[str, Curves], lang: str | None = None):
    """Loss and accuracy per epoch, one colour per run: dashed on the training set, solid on
    the validation set. ``runs`` maps a legend label to its curves; returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    fig, axes = plt.subplots(1, 2, figsize=(8.4, 3.2))
    for i, (label, curves) in enumerate(runs.items()):
        epochs = range(1, len(curves.val_loss) + 1)
        for ax, train_part, val_part in ((axes[0], curves.train_loss, curves.val_loss),
                                         (axes[1], curves.train_acc, curves.val_acc)):
            ax.plot(epochs, train_part, "--", color=f"C{i}", alpha=0.7)
            ax.plot(epochs, val_part, "-", color=f"C{i}", label=label)
    axes[0].set_ylabel(t("training.loss", lang=lang))
    axes[1].set_ylabel(t("training.accuracy", lang=lang))
    for ax in axes:
        ax.set_xlabel(t("training.epoch", lang=lang))
    styles = [Line2D([], [], color="grey", linestyle="--", label=t("training.train", lang=lang)),
              Line2D([], [], color="grey", linestyle="-", label=t("training.val", lang=lang))]
    axes[0].legend(handles=styles, fontsize=8)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


@torch.no_grad()
def mc_dropout_proba(model: nn.Module, x: Tensor, samples: int, seed: int = 0) -> Tensor:
    """Mean class probabilities of ``samples`` random sub-networks (dropout active): (N, C)."""
    was_training = model.training
    model.train()
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[]), cpu_threads(device):
        torch.manual_seed(seed)
        probs = torch.stack([torch.softmax(model(x.to(device)), dim=1)
                             for _ in range(samples)]).mean(dim=0)
    model.train(was_training)
    return probs


def mask_average(x: Tensor, weight: Tensor, bias: Tensor, p: float) -> Tensor:
    """The exact average over all ``2^n`` inverted-dropout masks of a linear layer's output.

    ``x`` has ``n <= 16`` entries; a mask ``m`` keeping ``k`` of them has probability
    ``q^k p^(n - k)`` (``q = 1 - p``) and gives ``weight @ (m * x / q) + bias``.
    """
    n, q = x.numel(), 1.0 - p
    total = torch.zeros_like(bias)
    for bits in itertools.product((0.0, 1.0), repeat=n):
        mask = torch.tensor(bits, dtype=x.dtype)
        kept = int(mask.sum())
        total += q**kept * p ** (n - kept) * (weight @ (mask * x / q) + bias)
    return total


# --- the explorer: a penalty of growing strength on the spirals ---------------------------


@cache
def spirals_run(penalty: str = "l2", strength: float = 1e-3, hidden: int = 64, steps: int = 500,
                lr: float = 0.1, seed: int = 0) -> tuple[nn.Module, Tensor, Tensor]:
    """An MLP 2 -> hidden -> hidden -> 3 trained full-batch on 300 spiral points with an L1
    (proximal) or L2 penalty of the given strength; returns (model, x, y). Cached per argument."""
    x, y = data.spirals(n_per_class=100, classes=3, noise=0.4, seed=seed)
    task = Task(x, y, x, y, x, y)
    model = wide_mlp(n_in=2, hidden=hidden, n_out=3, seed=seed)
    epochs, batch = steps, len(x)
    if penalty == "l1":
        train(model, task, epochs, lr=lr, batch_size=batch, l1=strength, seed=seed, record=False)
    else:
        train(model, task, epochs, lr=lr, batch_size=batch, l2=strength, seed=seed, record=False)
    return model, x, y


@torch.no_grad()
def draw_decision_regions(ax, model: nn.Module, x: Tensor, y: Tensor, resolution: int = 150,
                          margin: float = 0.15) -> None:
    """Colour the plane by ``model``'s predicted class and scatter the points ``x`` by ``y``."""
    lo, hi = x.min(dim=0).values - margin, x.max(dim=0).values + margin
    gx, gy = torch.meshgrid(torch.linspace(lo[0], hi[0], resolution),
                            torch.linspace(lo[1], hi[1], resolution), indexing="xy")
    grid = torch.stack([gx.flatten(), gy.flatten()], dim=1)
    model.eval()
    classes = model(grid).argmax(dim=1).view(resolution, resolution)
    ax.contourf(gx.numpy(), gy.numpy(), classes.numpy(), levels=np.arange(-0.5, 3), alpha=0.3,
                cmap="brg")
    ax.scatter(x[:, 0].numpy(), x[:, 1].numpy(), c=y.numpy(), s=8, cmap="brg", vmin=0, vmax=2)
    ax.set_xticks([])
    ax.set_yticks([])


@dataclass(frozen=True)
class LinearFit:
    """A linear classifier ``s = x W^T + b`` fitted by ``linear_classifier``, and its numbers."""

    model: nn.Linear
    data_loss: float  # the mean hinge or cross-entropy on the training set
    penalty: float  # R(W) = sum W^2 (no bias)
    satisfied: float  # fraction of training examples with zero data loss
    val_acc: float


LINEAR_LOSSES = ("hinge", "ce")


def linear_classifier(task: Task, loss: str = "hinge", lam: float = 1e-3, delta: float = 1.0,
                      steps: int = 300, lr: float = 0.05, seed: int = 0) -> LinearFit:
    """Minimize ``L = (1/N) sum_i L_i + lam * sum W^2`` for a linear classifier ``40 -> 10``.

    ``L_i`` is the multiclass hinge ``sum_{j != y_i} max(0, s_j - s_{y_i} + delta)``
    (``loss="hinge"``, the linear SVM) or the cross-entropy (``loss="ce"``, softmax
    regression); full-batch gradient descent with momentum 0.9 for ``steps`` steps, float64.
    ``satisfied`` is the fraction of training examples whose data loss is exactly zero: with the
    hinge, every example whose margins are all met (its gradient row is zero, it stops pushing);
    with cross-entropy, none (its loss is > 0).
    """
    if loss not in LINEAR_LOSSES:
        raise CourseError("lecture05.unknown_loss", name=loss, known=", ".join(LINEAR_LOSSES))
    x, y = task.x_train.double(), task.y_train
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Linear(x.shape[1], task.classes).double()

    if loss == "hinge":
        def data_loss(scores: Tensor) -> Tensor:
            return multiclass_hinge(scores, y, delta)
    else:
        def data_loss(scores: Tensor) -> Tensor:
            return F.cross_entropy(scores, y)

    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    with cpu_threads(torch.device("cpu")):
        for _ in range(steps):
            optimizer.zero_grad()
            (data_loss(model(x)) + lam * (model.weight**2).sum()).backward()
            optimizer.step()
    with torch.no_grad():
        scores = model(x)
        if loss == "hinge":
            zero = (multiclass_hinge_grad(scores, y, delta) == 0).all(dim=1)
        else:
            zero = F.cross_entropy(scores, y, reduction="none") == 0
        satisfied = zero.double().mean().item()
        val = (model(task.x_val.double()).argmax(dim=1) == task.y_val).double().mean().item()
        return LinearFit(model, data_loss(scores).item(), (model.weight**2).sum().item(),
                         satisfied, val)


# Test-time augmentation on the course's photos with the pretrained EfficientNet-Lite0.

PHOTO_LABELS: dict[str, tuple[str, ...]] = {
    "chelsea": ("tabby", "tiger cat", "Persian cat", "Siamese cat", "Egyptian cat"),
    "coffee": ("espresso", "cup"),
}
"""Our labels of the photos, as sets of ImageNet classes, only where the class is unambiguous:
the cat is a domestic cat (the five domestic-cat classes; which breed, we do not decide) and the
coffee a cup of espresso. ImageNet has no class for an astronaut, a person or a motorcycle, for
a launch rocket only the weapons "missile" and "projectile", and the cameraman's photo shows a
man, a camera and a tripod: the other four photos have no label."""

TTA_SCALES = (224, 256, 384)
"""Our shorter sides for a crop of 224: three of ResNet's five test sizes {224, 256, 384, 480,
640}; a smaller crop ``c`` scales them by ``c / 224``. The ten crops are taken at 256."""

TTA_BASE = TTA_SCALES.index(256)
"""Index of the scale of the single centre crop and of the ten crops."""

TTA_METHODS = ("single", "ten", "multi")
"""The centre crop at 256 alone, the ten crops at 256, the ten crops at every scale."""


def tta_scales(crop: int) -> tuple[int, ...]:
    """The shorter sides for ``crop``: ``round(crop * S / 224)`` for S in ``TTA_SCALES``."""
    return tuple(round(crop * side / 224) for side in TTA_SCALES)


@dataclass(frozen=True)
class PhotoTTA:
    """Class probabilities of every crop of every photo: ``probs`` (V, P, K), V = 10 * scales.

    Crops ``10 * j ... 10 * j + 9`` are the ten crops at ``scales[j]`` (see
    ``ensembles.multi_scale_views``); the single crop is the centre crop (the fifth of the ten)
    at ``scales[TTA_BASE]``.
    """

    names: tuple[str, ...]
    probs: Tensor
    crop: int
    scales: tuple[int, ...]

    def crops(self, method: str) -> Tensor:
        """The per-crop probabilities that ``method`` averages: (v, P, K), v in {1, 10, V}."""
        if method not in TTA_METHODS:
            raise CourseError("lecture05.unknown_tta", name=method, known=", ".join(TTA_METHODS))
        first = 10 * TTA_BASE
        return {"single": self.probs[first + 4 : first + 5],
                "ten": self.probs[first : first + 10], "multi": self.probs}[method]

    def average(self, method: str) -> Tensor:
        """``p = 1/v * sum_v softmax(f(crop_v))`` of ``method``: (P, K), in float64."""
        return self.crops(method).double().mean(dim=0)

    def label_probability(self, method: str) -> list[float | None]:
        """Per photo, the probability of its label (summed over the label's classes) or None."""
        categories = transfer.imagenet_categories()
        p = self.average(method)
        return [float(p[i, [categories.index(c) for c in PHOTO_LABELS[name]]].sum())
                if name in PHOTO_LABELS else None for i, name in enumerate(self.names)]


def photo_tta(model: nn.Module, names: Sequence[str] = data.PHOTOS, crop: int = 224,
              batch_size: int = 32) -> PhotoTTA:
    """Run ``model`` (a ``transfer.Backbone``) on 10 crops x 3 scales of each photo.

    Each photo, as floats in [0, 1], becomes ``multi_scale_views(photo, crop,
    tta_scales(crop))``, normalized with the model's ``preprocessing.mean`` and ``std``; the
    softmax of every crop is kept (``view_probabilities``, eval mode).
    """
    scales = tta_scales(crop)
    mean = torch.tensor(model.preprocessing.mean).view(1, 1, 3, 1, 1)
    std = torch.tensor(model.preprocessing.std).view(1, 1, 3, 1, 1)
    probs = []
    for image in data.photos(names).values():
        views = multi_scale_views(image[None].float() / 255, crop, scales)
        probs.append(view_probabilities(model, (views - mean) / std, batch_size))
    return PhotoTTA(tuple(names), torch.cat(probs, dim=1), crop, scales)


def tta_table(result: PhotoTTA, lang: str | None = None) -> Table:
    """Per photo: our label, and for each method its top-1 class (with its probability) and
    the probability of the label."""
    names = transfer.class_names(lang)
    rows = []
    labelled = {m: result.label_probability(m) for m in TTA_METHODS}
    for i, photo in enumerate(result.names):
        row = {"photo": photo,
               "label": t(f"lecture05.tta_label_{photo}", lang=lang)
               if photo in PHOTO_LABELS else "—"}
        for method in TTA_METHODS:
            p = result.average(method)[i]
            top = int(p.argmax())
            row[f"top_{method}"] = t("lecture05.tta_top", lang=lang, name=names[top],
                                     p=float(p[top]))
        for method in TTA_METHODS:
            row[f"label_{method}"] = "" if labelled[method][i] is None else labelled[method][i]
        rows.append(row)
    header = {"photo": t("lecture05.tta_col_photo", lang=lang),
              "label": t("lecture05.tta_col_label", lang=lang)}
    for method in TTA_METHODS:
        header[f"top_{method}"] = t("lecture05.tta_col_top", lang=lang,
                                    v=len(result.crops(method)))
    for method in TTA_METHODS:
        header[f"label_{method}"] = t("lecture05.tta_col_p", lang=lang,
                                      v=len(result.crops(method)))

    def probability(value) -> str:
        return "" if value == "" else format_number(value, ".3f", lang)

    return Table(rows, header, {f"label_{m}": probability for m in TTA_METHODS}, lang=lang)


def top1_changes(result: PhotoTTA, method: str) -> int:
    """How many photos get another top-1 class from ``method`` than from the single crop."""
    single = result.average("single").argmax(dim=1)
    return int((result.average(method).argmax(dim=1) != single).sum())


def jensen_gaps(result: PhotoTTA, method: str) -> tuple[Tensor, Tensor]:
    """``log p_avg - mean_v log p_v`` and ``mean_v log p_v - min_v log p_v`` per photo and
    class, (P, K) each, in float64, with ``p_avg = result.average(method)``; both are >= 0 (the
    log is concave, Jensen's inequality; a mean is at least the minimum)."""
    logs = result.crops(method).double().log()
    mean_log = logs.mean(dim=0)
    return (result.average(method).log() - mean_log,
            mean_log - logs.min(dim=0).values)
