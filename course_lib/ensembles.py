"""Model ensembles: averaging, snapshot ensembles from a cyclic schedule, 10-crop test time.

Averaging ``K`` models means averaging their class probabilities::

    p(y | x) = 1/K * sum_k softmax(f_k(x))

Snapshot ensembles (Huang et al., "Snapshot ensembles: train 1, get M for free", ICLR 2017)
train one model with ``M`` cosine cycles of the learning rate over ``T`` iterations and keep a
copy at the end of every cycle, where the rate is close to zero::

    lr(t) = lr0 / 2 * (cos(pi * mod(t - 1, ceil(T / M)) / ceil(T / M)) + 1),   t = 1, ..., T

Ten-crop testing (as for ResNet) averages the predictions of the four corner crops, the centre
crop and the horizontal flips of all five.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from torchvision.transforms.v2 import functional as F

from . import validation as check
from .i18n import CourseError
from .training import History, fit


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


@torch.no_grad()
def ten_crop_predict(model: nn.Module, images: torch.Tensor, crop_size) -> torch.Tensor:
    """Class probabilities averaged over the 10 crops of each image: (N, C, H, W) -> (N, K).

    Crops come from ``torchvision.transforms.v2.functional.ten_crop`` (4 corners, centre, and
    their horizontal flips); all 10 * N crops go through the model as one batch.
    """
    check.ndim("images", images, (4,), "(N, C, H, W)")
    sides = crop_size if isinstance(crop_size, tuple | list) else (crop_size, crop_size)
    if len(sides) != 2 or not all(check.is_int(s) and 1 <= s <= side for s, side in
                                  zip(sides, images.shape[-2:], strict=True)):
        raise CourseError("ensembles.bad_crop", crop_size=crop_size,
                          size=tuple(images.shape[-2:]))
    crops = torch.cat(F.ten_crop(images, crop_size))
    probs = predict_proba(model, crops)
    return probs.view(10, len(images), -1).mean(dim=0)
