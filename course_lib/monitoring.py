"""Watching a training run: sanity checks and the update-to-weight ratio.

Sanity checks before a long run (CS231n):

1. with small random weights every class gets probability about ``1/C``, so the first
   cross-entropy is ``-log(1/C) = log C`` (``expected_initial_loss``; 2.303 for 10 classes);
2. a tiny subset (about 20 examples) without regularization must be learned to 100 % training
   accuracy;
3. only then look for a learning rate at which the loss goes down.

While training, the size of one update relative to the weights it changes,

    ratio = ||W_after - W_before|| / ||W_before||     (per weight matrix, per step),

should be around ``1e-3``: much smaller and the learning rate is too low, much larger and it
is too high. ``UpdateRatios`` records it through the optimizer's step hooks, so it works with
any ``torch.optim.Optimizer`` (also the course's own) and any training loop, ``fit`` included.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def expected_initial_loss(num_classes: int) -> float:
    """``log C``: the cross-entropy of a uniform prediction over ``num_classes`` classes."""
    return math.log(num_classes)


@torch.no_grad()
def initial_loss(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Mean cross-entropy of ``model`` on ``(x, y)``, in eval mode, without training."""
    was_training = model.training
    model.eval()
    loss = nn.functional.cross_entropy(model(x), y).item()
    model.train(was_training)
    return loss


def update_ratio(before: Tensor, after: Tensor) -> float:
    """``||after - before|| / ||before||`` (Frobenius norms): the relative size of one update."""
    return ((after - before).norm() / before.norm()).item()


class UpdateRatios:
    """Per-step update-to-weight ratio of every weight matrix (parameters with 2+ dimensions).

        tracker = UpdateRatios(model, optimizer)
        fit(model, loader, optimizer, epochs=3)
        tracker.ratios            # {"1.weight": [r_1, r_2, ...], "3.weight": [...]}
        tracker.remove()

    Before each ``optimizer.step()`` the weights are copied; after it the ratio is recorded.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer):
        self.weights = {name: p for name, p in model.named_parameters() if p.ndim >= 2}
        self.ratios: dict[str, list[float]] = {name: [] for name in self.weights}
        self._before: dict[str, Tensor] = {}
        self._handles = [optimizer.register_step_pre_hook(self._pre),
                         optimizer.register_step_post_hook(self._post)]

    def _pre(self, optimizer, args, kwargs) -> None:
        self._before = {name: p.detach().clone() for name, p in self.weights.items()}

    def _post(self, optimizer, args, kwargs) -> None:
        for name, p in self.weights.items():
            self.ratios[name].append(update_ratio(self._before[name], p.detach()))

    def geometric_mean(self) -> dict[str, float]:
        """The typical ratio of each weight matrix on a log scale: ``exp(mean(log r))`` over all
        recorded steps (NaN if a step diverged)."""
        return {name: torch.tensor(values, dtype=torch.float64).log().mean().exp().item()
                for name, values in self.ratios.items()}

    def remove(self) -> None:
        """Detach the hooks from the optimizer."""
        for handle in self._handles:
            handle.remove()
