"""Model-wise double descent of lecture 05: random ReLU features fitted by least squares.

Our setup (every size is our choice): a small noisy regression task, ``n`` training points
``x`` in ``R^d`` with targets ``y = sin(u^T x) + noise`` (``u`` a random unit vector, noise
standard deviation 0.1), and a one-hidden-layer network whose hidden layer is **random and
frozen**::

    phi(x) = relu(W x + b),    W: (P, d) ~ N(0, 1/d),   b: (P,) ~ N(0, 1/4)
    f(x) = theta^T phi(x),     theta: (P,)

Only the last layer ``theta`` is fitted, in closed form, as the **minimum-norm least-squares**
solution ``theta = Phi^+ y`` (``Phi``: the ``(n, P)`` features of the training points, ``^+``
the pseudo-inverse). With ``P < n`` it is ordinary least squares; with ``P >= n`` the training
points are fitted exactly (interpolation) and, of all the ``theta`` that do so, the one with the
smallest ``||theta||``. The test error against ``P`` rises towards the **interpolation
threshold** ``P = n``, where ``Phi`` is square and badly conditioned and ``theta`` fits the
noise with huge weights, and falls again beyond it (Belkin et al. 2019; Nakkiran et al. 2019
for SGD-trained networks). A ridge penalty ``lambda ||theta||^2`` damps the peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .. import validation as check
from ..i18n import t
from .regularization import cpu_threads

WIDTHS = (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100, 105, 110, 120, 140, 170, 200, 300,
          500, 1000, 2000)
"""Our grid of feature counts ``P`` for ``n = 100`` training points: dense around ``P = n``."""


@dataclass(frozen=True)
class RegressionTask:
    """Training and test points (float64): ``x_* (N, d)``, ``y_* (N,)``."""

    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def noisy_task(n_train: int = 100, n_test: int = 1000, dim: int = 5, noise: float = 0.1,
               seed: int = 0) -> RegressionTask:
    """``x ~ N(0, I_dim)``, ``y = sin(u^T x) + noise * eps`` with a random unit ``u`` and
    ``eps ~ N(0, 1)``, for training and test points alike (the test error includes the noise:
    no model gets below ``noise^2`` on average)."""
    check.positive_int("n_train", n_train)
    check.positive_int("n_test", n_test)
    check.positive_int("dim", dim)
    check.in_range("noise", noise, 0)
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(dim, generator=gen, dtype=torch.float64)
    u = u / u.norm()
    x = torch.randn(n_train + n_test, dim, generator=gen, dtype=torch.float64)
    y = torch.sin(x @ u) + noise * torch.randn(n_train + n_test, generator=gen,
                                                   dtype=torch.float64)
    return RegressionTask(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def random_relu_layer(dim: int, features: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """A frozen random hidden layer: ``W (features, dim) ~ N(0, 1/dim)``, ``b ~ N(0, 1/4)``."""
    check.positive_int("features", features)
    gen = torch.Generator().manual_seed(seed)
    weight = torch.randn(features, dim, generator=gen, dtype=torch.float64) / math.sqrt(dim)
    bias = 0.5 * torch.randn(features, generator=gen, dtype=torch.float64)
    return weight, bias


def relu_features(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``phi(x) = relu(x W^T + b)``: ``(N, d)`` points -> ``(N, P)`` features."""
    return torch.relu(x @ weight.T + bias)


def least_squares(features: Tensor, y: Tensor, ridge: float = 0.0) -> Tensor:
    """``theta (P,)`` minimizing ``||Phi theta - y||^2 + ridge ||theta||^2``, minimum norm.

    By the SVD ``Phi = U S V^T``: ``theta = V diag(s / (s^2 + ridge)) U^T y``, over the singular
    values above ``max(N, P) * eps * s_max`` (the cut-off of ``torch.linalg.pinv``). With
    ``ridge = 0`` that is ``Phi^+ y``, the minimum-norm least-squares solution: for ``P >= N``
    (and ``Phi`` of rank ``N``) it interpolates, ``Phi theta = y``.
    """
    return _solutions(features, y, (ridge,))[0]


def _solutions(features: Tensor, y: Tensor, ridges: Sequence[float]) -> list[Tensor]:
    """``least_squares`` for several ridges from one SVD."""
    for ridge in ridges:
        check.in_range("ridge", ridge, 0)
    u, s, vh = torch.linalg.svd(features, full_matrices=False)
    keep = s > max(features.shape) * torch.finfo(s.dtype).eps * s.max()
    u, s, vh = u[:, keep], s[keep], vh[keep]
    projected = u.T @ y
    return [vh.T @ (s / (s**2 + ridge) * projected) for ridge in ridges]


@dataclass(frozen=True)
class Sweep:
    """Mean squared errors of a width sweep: ``train``, ``test`` of shape ``(seeds, P)``."""

    widths: tuple[int, ...]
    n_train: int
    train: np.ndarray
    test: np.ndarray
    ridge: float = 0.0

    @property
    def median(self) -> np.ndarray:
        """The test error per width, median over the seeds: ``(P,)``."""
        return np.median(self.test, axis=0)

    def summary(self, test: np.ndarray | None = None) -> dict[str, float]:
        """The three numbers of the claim, from one row of test errors (default: the median).

        ``best_under``: the lowest error with ``P <= n / 2`` (clearly under-parameterized);
        ``peak``: the highest with ``n / 2 < P <= 2 n`` (around the threshold), at ``peak_width``;
        ``far``: the error at the largest ``P``.
        """
        test = self.median if test is None else test
        widths = np.asarray(self.widths)
        under = widths <= self.n_train / 2
        near = (widths > self.n_train / 2) & (widths <= 2 * self.n_train)
        peak_at = int(np.argmax(np.where(near, test, -np.inf)))
        return {"best_under": float(test[under].min()), "peak": float(test[peak_at]),
                "peak_width": int(widths[peak_at]), "far": float(test[-1]),
                "far_width": int(widths[-1])}


def sweep(widths: Sequence[int] = WIDTHS, seeds: Sequence[int] = range(5), n_train: int = 100,
          ridge: float = 0.0, **task_args) -> Sweep:
    """Fit ``least_squares`` on the first ``P`` random features for every ``P`` in ``widths``.

    Seed ``s`` draws the task (``noisy_task(n_train, seed=s, **task_args)``) and the hidden
    layer (``random_relu_layer(..., seed=1000 + s)``); the smaller widths use the first rows of
    the same layer, so the curve of one seed shows one network growing.
    """
    return sweeps((ridge,), widths, seeds, n_train, **task_args)[0]


def sweeps(ridges: Sequence[float], widths: Sequence[int] = WIDTHS,
           seeds: Sequence[int] = range(5), n_train: int = 100, **task_args) -> list[Sweep]:
    """``[sweep(..., ridge=r) for r in ridges]``, sharing one SVD per seed and width."""
    widths = tuple(check.positive_int("widths", w) for w in widths)
    train = {ridge: [] for ridge in ridges}
    test = {ridge: [] for ridge in ridges}
    with cpu_threads(torch.device("cpu")):
        for seed in seeds:
            task = noisy_task(n_train, seed=seed, **task_args)
            weight, bias = random_relu_layer(task.x_train.shape[1], max(widths), seed=1000 + seed)
            phi_train = relu_features(task.x_train, weight, bias)
            phi_test = relu_features(task.x_test, weight, bias)
            rows = {ridge: ([], []) for ridge in ridges}
            for p in widths:
                thetas = _solutions(phi_train[:, :p], task.y_train, ridges)
                for ridge, theta in zip(ridges, thetas, strict=True):
                    fit = phi_train[:, :p] @ theta - task.y_train
                    rows[ridge][0].append((fit**2).mean().item())
                    rows[ridge][1].append(((phi_test[:, :p] @ theta - task.y_test) ** 2)
                                          .mean().item())
            for ridge in ridges:
                train[ridge].append(rows[ridge][0])
                test[ridge].append(rows[ridge][1])
    return [Sweep(widths, n_train, np.array(train[r]), np.array(test[r]), r) for r in ridges]


def plot_sweep(runs: dict[str, Sweep], lang: str | None = None):
    """Test error (median over seeds, thin lines: each seed of the first run) against the
    number of features ``P``, both axes logarithmic, the threshold ``P = n`` marked; training
    error of the first run dashed. ``runs`` maps a legend label to a sweep; returns the Figure."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.4))
    first = next(iter(runs.values()))
    for row in first.test:
        ax.plot(first.widths, row, color="C0", alpha=0.2, linewidth=0.8)
    for i, (label, run) in enumerate(runs.items()):
        ax.plot(run.widths, run.median, "o-", color=f"C{i}", markersize=3, label=label)
    ax.plot(first.widths, np.median(first.train, axis=0), "--", color="C0", alpha=0.7,
            label=t("lecture05.dd_train_error", lang=lang))
    ax.axvline(first.n_train, color="grey", linestyle=":",
               label=t("lecture05.dd_threshold", n=first.n_train, lang=lang))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylim(bottom=1e-2)  # the training error of P >= n (about 1e-28) leaves the plot
    ax.set_xlabel(t("lecture05.dd_features", lang=lang))
    ax.set_ylabel(t("lecture05.dd_mse", lang=lang))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
