"""Robustness to input noise and the L1 penalty on activations, lecture 05.

Both experiments run on the lecture's MNIST-1D task (``regularization.small_task``) with its
``wide_mlp`` (40 -> 256 -> 256 -> 10).

**Robustness**: accuracy on test signals with Gaussian noise of growing standard deviation
``sigma`` added, ``x + sigma * eps`` with ``eps ~ N(0, I)`` (the signals have a standard
deviation of about 1). The regularizer we compare is training with such noise (noise
augmentation; ``gaussian_noise`` as ``regularization.train``'s ``augment``).

**Activity penalty**: the loss of every mini-batch gets ``lambda * mean |h|`` for each hidden
ReLU output ``h`` (N, 256)::

    L = CE + lambda * sum_layers (1 / (N * H)) sum_{n, j} |h_nj|,
    dL/dh_nj (penalty part) = lambda * sign(h_nj) / (N * H)

The subgradient at ``h = 0`` is 0, as autograd takes it for ``abs``. The penalty pushes
pre-activations below zero, where ReLU outputs exactly 0: the hidden code becomes sparse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from .. import validation as check
from .regularization import Task, cpu_threads, train
from .regularization import activity_l1 as activity_l1  # defined beside train, which adds it
from .regularization import forward_with_activations as forward_with_activations


def gaussian_noise(sigma: float) -> Callable[[Tensor], Tensor]:
    """An augmentation: ``x -> x + sigma * eps``, ``eps ~ N(0, I)`` drawn from torch's global
    generator (``regularization.train`` seeds it per run)."""
    check.in_range("sigma", sigma, 0)

    def add_noise(x: Tensor) -> Tensor:
        return x + sigma * torch.randn_like(x)

    return add_noise


@torch.no_grad()
def noisy_accuracy(model: nn.Module, x: Tensor, y: Tensor, sigmas: Sequence[float],
                   draws: int = 5, seed: int = 0) -> list[float]:
    """Accuracy of ``model`` (eval mode) on ``x + sigma * eps`` for each ``sigma``, the mean over
    ``draws`` noise draws from a generator seeded with ``seed`` (the same noise for every model)."""
    check.positive_int("draws", draws)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    result = []
    with cpu_threads(device):
        for sigma in sigmas:
            check.in_range("sigma", sigma, 0)
            correct = 0.0
            for _ in range(draws):
                noisy = x + sigma * torch.randn(x.shape, generator=gen, dtype=x.dtype)
                correct += (model(noisy.to(device)).argmax(dim=1).cpu() == y).float().mean().item()
            result.append(correct / draws)
    model.train(was_training)
    return result


def activity_l1_grad(h: Tensor, lam: float) -> Tensor:
    """Its gradient by hand: ``lam * sign(h) / h.numel()``, the shape of ``h``."""
    return lam * torch.sign(h) / h.numel()


def train_activity(model: nn.Sequential, task: Task, epochs: int, lam: float, lr: float = 0.05,
                   momentum: float = 0.9, batch_size: int = 50, seed: int = 0) -> nn.Sequential:
    """Train ``model`` in place by ``regularization.train`` (SGD with momentum, shuffled
    mini-batches from ``seed``) with the loss ``CE + sum_layers activity_l1(h, lam)``."""
    check.positive_int("epochs", epochs)
    check.in_range("lam", lam, 0)
    train(model, task, epochs, lr=lr, momentum=momentum, batch_size=batch_size, seed=seed,
          activity=lam, record=False)
    return model


@torch.no_grad()
def activity_stats(model: nn.Sequential, x: Tensor, y: Tensor, tol: float = 0.01
                   ) -> dict[str, float]:
    """On inputs ``x`` (eval mode): the fraction of hidden ReLU outputs that are exactly 0
    (``zero``) and below ``tol`` (``near_zero``), their mean (``mean``), the fraction of hidden
    neurons that are 0 on every input (``dead``) and the accuracy (``acc``)."""
    model.eval()
    device = next(model.parameters()).device
    with cpu_threads(device):
        out, hidden = forward_with_activations(model, x.to(device))
    values = torch.cat([h.flatten() for h in hidden])
    dead = torch.cat([(h == 0).all(dim=0) for h in hidden])
    return {"zero": (values == 0).float().mean().item(),
            "near_zero": (values < tol).float().mean().item(),
            "mean": values.mean().item(),
            "dead": dead.float().mean().item(),
            "acc": (out.argmax(dim=1).cpu() == y).float().mean().item()}
