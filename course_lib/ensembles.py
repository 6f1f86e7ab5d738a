"""Model ensembles: averaging, snapshot ensembles from a cyclic schedule, 10-crop test time.

Averaging ``K`` models means averaging their class probabilities::

    p(y | x) = 1/K * sum_k softmax(f_k(x))

Snapshot ensembles (Huang et al., "Snapshot ensembles: train 1, get M for free", ICLR 2017)
train one model with ``M`` cosine cycles of the learning rate over ``T`` iterations and keep a
copy at the end of every cycle, where the rate is close to zero::

    lr(t) = lr0 / 2 * (cos(pi * mod(t - 1, ceil(T / M)) / ceil(T / M)) + 1),   t = 1, ..., T

Ten-crop testing (as for ResNet) averages the predictions of the four corner crops, the centre
crop and the horizontal flips of all five; at several scales (the shorter side resized to each
``S`` in turn) it averages ``V = 10 * len(scales)`` views::

    p(y | x) = 1/V * sum_v softmax(f(view_v(x)))
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn

from . import validation as check
from .i18n import CourseError
from .training import History, fit
from .transfer import resize_shorter


@torch.no_grad()
def predict_proba(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``softmax(model(x))`` in eval mode: (N, ...) -> (N, C). The mode is restored after."""
    was_training = model.training
    model.eval()
    probs = torch.softmax(model(x), dim=1)
    model.train(was_training)
    return probs


def average_predictions(models: Sequence[nn.Module], x: torch.Tensor) -> torch.Tensor:
    """Mean of the members' class probabilities: (N, ...) -> (N, C), rows sum to 1."""
    return torch.stack([predict_proba(model, x) for model in models]).mean(dim=0)


class Ensemble(nn.Module):
    """Several models acting as one: ``forward`` returns ``log(mean_k softmax(f_k(x)))``.

    Log-probabilities are valid logits (``softmax(log p) = p``), so an ensemble goes wherever a
    model goes: ``evaluate(Ensemble(models), val_loader)``, ``argmax``, cross-entropy.
    """

    def __init__(self, models: Iterable[nn.Module]):
        super().__init__()
        models = list(models)
        if not models or not all(isinstance(m, nn.Module) for m in models):
            raise CourseError("ensembles.no_members", got=[type(m).__name__ for m in models])
        self.members = nn.ModuleList(models)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return average_predictions(self.members, x).log()


def snapshot_lr(t: int, lr0: float, total: int, cycles: int) -> float:
    """Learning rate at iteration ``t`` (1-based) of ``total``, with ``cycles`` cosine cycles."""
    check.positive_int("total", total)
    check.positive_int("cycles", cycles)
    check.positive_int("t", t)
    length = math.ceil(total / cycles)
    return lr0 / 2 * (math.cos(math.pi * ((t - 1) % length) / length) + 1)


class CyclicCosine:
    """The snapshot factor ``lr(t) / lr0`` as a ``LambdaLR`` function of the step ``s = t - 1``.

    A small class rather than a lambda, so that the scheduler's state_dict can be checkpointed.
    """

    def __init__(self, total: int, cycles: int):
        self.total, self.cycles = total, cycles

    def __call__(self, step: int) -> float:
        return snapshot_lr(step + 1, 1.0, self.total, self.cycles)


def snapshot_schedule(optimizer: torch.optim.Optimizer, total: int,
                      cycles: int) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` following ``snapshot_lr``; call ``scheduler.step()`` after every batch."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, CyclicCosine(total, cycles))


def snapshot_ensemble(model: nn.Module, train_data, optimizer: torch.optim.Optimizer,
                      epochs: int, cycles: int, loss_fn: Callable | None = None,
                      val_data=None, device=None, progress: bool = True,
                      lang: str | None = None) -> tuple[list[nn.Module], History]:
    """Train once with ``cycles`` cosine cycles and return the ``cycles`` snapshots and history.

    ``T = epochs * len(train_data)`` iterations; ``epochs`` must be a multiple of ``cycles`` so
    that each cycle ends with an epoch. The optimizer's learning rate is ``lr0``. The snapshots
    are deep copies in eval mode; ``Ensemble(snapshots)`` averages them.
    """
    check.positive_int("epochs", epochs, lang)
    check.positive_int("cycles", cycles, lang)
    if epochs % cycles:
        raise CourseError("ensembles.cycles", lang=lang, epochs=epochs, cycles=cycles)
    scheduler = snapshot_schedule(optimizer, epochs * len(train_data), cycles)
    snapshots = []

    def keep_snapshot(epoch: int, trained: nn.Module, history: History) -> None:
        if (epoch + 1) % (epochs // cycles) == 0:
            snapshots.append(copy.deepcopy(trained).eval())

    history = fit(model, train_data, optimizer, loss_fn=loss_fn, epochs=epochs,
                  val_data=val_data, scheduler=scheduler, scheduler_interval="batch",
                  device=device, progress=progress, lang=lang, on_epoch_end=keep_snapshot)
    return snapshots, history


def _crop_sides(crop_size, images: torch.Tensor) -> tuple[int, int]:
    """``crop_size`` as ``(h, w)``: ``s`` means ``(s, s)``; each between 1 and the image's side."""
    sides = tuple(crop_size) if isinstance(crop_size, tuple | list) else (crop_size, crop_size)
    if len(sides) != 2 or not all(check.is_int(s) and 1 <= s <= side for s, side in
                                  zip(sides, images.shape[-2:], strict=True)):
        raise CourseError("ensembles.bad_crop", crop_size=crop_size,
                          size=tuple(images.shape[-2:]))
    return int(sides[0]), int(sides[1])


def ten_crop(images: torch.Tensor, crop_size) -> tuple[torch.Tensor, ...]:
    """The ten views of ten-crop testing: (..., H, W) -> ten tensors (..., h, w).

    In the order of ``torchvision.transforms.v2.functional.ten_crop``: the top-left, top-right,
    bottom-left and bottom-right corners, the centre, then the same five crops of the
    horizontally flipped image. A corner starts at row 0 or ``H - h`` and column 0 or
    ``W - w``; the centre at ``(round((H - h) / 2), round((W - w) / 2))``, rounded half to even
    (Python's ``round``, as torchvision does). ``crop_size``: ``s`` for s x s or ``(h, w)``,
    ``1 <= h <= H`` and ``1 <= w <= W``.
    """
    check.ndim("images", images, tuple(range(2, 9)), "(..., H, W)")
    h, w = _crop_sides(crop_size, images)
    height, width = images.shape[-2:]
    anchors = [(0, 0), (0, width - w), (height - h, 0), (height - h, width - w),
               (round((height - h) / 2), round((width - w) / 2))]

    def five(x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(x[..., top : top + h, left : left + w] for top, left in anchors)

    return five(images) + five(images.flip(-1))


def multi_scale_views(images: torch.Tensor, crop_size, scales) -> torch.Tensor:
    """Ten crops at each scale: (N, C, H, W) float -> (10 * len(scales), N, C, h, w).

    For each shorter side ``S`` in ``scales`` (each at least the crop), in order: resize with
    ``resize_shorter(images, S)``, then ``ten_crop``. Views ``10 * j`` to ``10 * j + 9`` are the
    ten crops at ``scales[j]``; view ``10 * j + 4`` is its centre crop.
    """
    scales = list(scales)
    if not scales:
        raise CourseError("ensembles.no_scales")
    return torch.stack([view for side in scales
                        for view in ten_crop(resize_shorter(images, side), crop_size)])


@torch.no_grad()
def view_probabilities(model: nn.Module, views: torch.Tensor,
                       batch_size: int = 64) -> torch.Tensor:
    """``softmax(model(view))`` of every view in eval mode: (V, N, C, h, w) -> (V, N, K).

    The views go through the model in batches of ``batch_size`` images, on the model's device;
    the result is on the CPU. Averaging over views is then ``.mean(dim=0)``.
    """
    check.ndim("views", views, (5,), "(V, N, C, h, w)")
    check.positive_int("batch_size", batch_size)
    device = next(model.parameters()).device
    flat = views.flatten(0, 1)
    probs = torch.cat([predict_proba(model, flat[i : i + batch_size].to(device)).cpu()
                       for i in range(0, len(flat), batch_size)])
    return probs.view(views.shape[0], views.shape[1], -1)


@torch.no_grad()
def ten_crop_predict(model: nn.Module, images: torch.Tensor, crop_size) -> torch.Tensor:
    """Class probabilities averaged over the 10 crops of each image: (N, C, H, W) -> (N, K).

    Crops come from ``ten_crop`` (4 corners, centre, and their horizontal flips, as
    ``torchvision.transforms.v2.functional.ten_crop``); all 10 * N crops go through the model
    as one batch.
    """
    check.ndim("images", images, (4,), "(N, C, H, W)")
    crops = torch.cat(ten_crop(images, crop_size))
    probs = predict_proba(model, crops)
    return probs.view(10, len(images), -1).mean(dim=0)
