r"""Experiments of lecture 04 (optimizers): paths on 2-D surfaces, Adam's bias correction, L-BFGS.

Every optimizer is the one of ``course_lib.optim`` (torch.optim-compatible, written as the
lecture's formulas); a path is the list of points it visits on a surface in float64:

    path = optimizer_path("bowl", "momentum", steps=60)      # (61, 2) tensor
    fig = plot_paths("bowl", {"SGD": path_sgd, "momentum": path})

Surfaces: ``bowl`` = ½(0.2 x² + 10 y²) (condition number 50), ``saddle`` =
x²/2 + y⁴/4 − y²/2 (a saddle point at the origin, minima at (0, ±1)) and ``rosenbrock``.
Labels and titles come from the caller, so this module holds no natural-language text.

``lr_range_test`` is fast.ai's learning-rate finder (Smith 2015): one pass with an
exponentially increasing learning rate, loss against rate, a rate below the minimum.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from .. import optim
from .. import validation as check

F64 = torch.float64


@dataclass(frozen=True)
class Surface:
    """A 2-D loss, its plotting window, its starting point and its minima."""

    name: str
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]

    def __call__(self, p: torch.Tensor) -> torch.Tensor:
        x, y = p[..., 0], p[..., 1]
        if self.name == "bowl":
            return 0.5 * (0.2 * x**2 + 10 * y**2)
        if self.name == "saddle":
            return x**2 / 2 + y**4 / 4 - y**2 / 2
        return (1 - x) ** 2 + 100 * (y - x**2) ** 2


SURFACES = {
    "bowl": Surface("bowl", (-10.5, 4.0), (-2.5, 2.5), (-9.0, 1.5), ((0.0, 0.0),)),
    "saddle": Surface("saddle", (-1.0, 2.0), (-1.6, 1.6), (1.5, 0.0), ((0.0, 1.0), (0.0, -1.0))),
    "rosenbrock": Surface("rosenbrock", (-2.0, 2.0), (-1.0, 3.0), (-1.5, 2.5), ((1.0, 1.0),)),
}

OPTIMIZERS = ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
"""Method names; ``make_optimizer`` turns one into a ``course_lib.optim`` optimizer."""

LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "Nesterov",
          "adagrad": "AdaGrad", "rmsprop": "RMSProp", "adam": "Adam"}

DEFAULT_LR = {
    "bowl": {"sgd": 0.17, "momentum": 0.17, "nesterov": 0.1, "adagrad": 1.5,
             "rmsprop": 0.3, "adam": 1.0},
    "saddle": {"sgd": 0.1, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.3,
               "rmsprop": 0.03, "adam": 0.05},
    "rosenbrock": {"sgd": 2e-3, "momentum": 1e-3, "nesterov": 1e-3, "adagrad": 0.5,
                   "rmsprop": 0.01, "adam": 0.05},
}


def make_optimizer(method: str, params, lr: float, momentum: float = 0.9):
    """The ``course_lib.optim`` optimizer called ``method`` (one of ``OPTIMIZERS``)."""
    if method == "sgd":
        return optim.SGD(params, lr=lr)
    if method in ("momentum", "nesterov"):
        return optim.SGD(params, lr=lr, momentum=momentum, nesterov=method == "nesterov")
    if method == "adagrad":
        return optim.Adagrad(params, lr=lr)
    if method == "rmsprop":
        return optim.RMSprop(params, lr=lr, alpha=0.9)
    if method == "adam":
        return optim.Adam(params, lr=lr)
    raise ValueError(f"Unknown optimizer {method!r}; known: {', '.join(OPTIMIZERS)}")


def optimizer_path(surface: str, method: str, lr: float | None = None, steps: int = 60,
                   start=None, noise: float = 0.0, momentum: float = 0.9,
                   seed: int = 0) -> torch.Tensor:
    """The (steps + 1, 2) points visited by ``method`` on ``surface``.

    ``noise`` adds N(0, noise²) to every gradient coordinate: a stand-in for the noise of
    mini-batch gradients (seeded, so the path is reproducible).
    """
    f = SURFACES[surface]
    lr = DEFAULT_LR[surface][method] if lr is None else lr
    x = torch.tensor(f.start if start is None else start, dtype=F64, requires_grad=True)
    opt = make_optimizer(method, [x], lr, momentum)
    gen = torch.Generator().manual_seed(seed)
    points = [x.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        f(x).backward()
        if noise:
            x.grad += noise * torch.randn(2, generator=gen, dtype=F64)
        opt.step()
        points.append(x.detach().clone())
    return torch.stack(points)


def distance_to_minimum(surface: str, path: torch.Tensor) -> float:
    """The distance of the path's last point from the nearest minimum of the surface."""
    minima = torch.tensor(SURFACES[surface].minima, dtype=F64)
    return (minima - path[-1]).norm(dim=1).min().item()


def plot_paths(surface: str, paths: dict, title: str = "", ax=None):
    """Contours of ``surface`` with each labelled path drawn over them; returns the figure."""
    f = SURFACES[surface]
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.6))
    else:
        fig = ax.figure
    xs = torch.linspace(*f.xlim, 200, dtype=F64)
    ys = torch.linspace(*f.ylim, 200, dtype=F64)
    gx, gy = torch.meshgrid(xs, ys, indexing="xy")
    z = f(torch.stack([gx, gy], dim=-1))
    levels = 25
    if surface == "rosenbrock":
        z = torch.log10(z + 1e-3)
    ax.contour(gx, gy, z, levels=levels, cmap="Greys", linewidths=0.6)
    for label, path in paths.items():
        p = path.clamp(min=-1e3, max=1e3)
        ax.plot(p[:, 0], p[:, 1], ".-", markersize=3, linewidth=1.2, label=label)
    for minimum in f.minima:
        ax.plot(*minimum, "k*", markersize=10)
    ax.set_xlim(*f.xlim)
    ax.set_ylim(*f.ylim)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    if paths:
        ax.legend(fontsize=7, loc="best")
    return fig


def adam_step_sizes(steps: int = 50, grad: float = 0.1, lr: float = 1e-3,
                    betas=(0.9, 0.999), bias_correction: bool = True) -> list[float]:
    """|Δw| / lr of Adam's first ``steps`` steps for a constant gradient ``grad``.

    With the correction every step is lr (m̂ = v̂^{1/2} = |g|); without it the step is
    lr (1 − β1^t) / √(1 − β2^t): ≈ 3.2 lr at t = 1 and up to ≈ 6.5 lr near t = 10.
    """
    if bias_correction:
        w = torch.zeros(1, dtype=F64, requires_grad=True)
        opt = optim.Adam([w], lr=lr, betas=betas)
        sizes = []
        for _ in range(steps):
            before = w.detach().clone()
            opt.zero_grad()
            w.grad = torch.full_like(w, grad)
            opt.step()
            sizes.append(abs((w.detach() - before).item()) / lr)
        return sizes
    b1, b2 = betas
    m = v = 0.0
    sizes = []
    for _ in range(steps):
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad**2
        sizes.append(m / (math.sqrt(v) + 1e-8))
    return sizes


def digits_problem(weight_decay: float = 1e-3):
    """Full-batch L2-regularized logistic regression (softmax) on sklearn's 8x8 digits.

    Returns ``(loss_fn, n_params)``: ``loss_fn(w)`` of a flat float64 weight vector.
    """
    from ..data import digits

    x, y = digits()
    x = torch.cat([x.reshape(len(x), -1).double(), torch.ones(len(x), 1, dtype=F64)], dim=1)
    d, k = x.shape[1], 10

    def loss_fn(w: torch.Tensor) -> torch.Tensor:
        logits = x @ w.view(d, k)
        return torch.nn.functional.cross_entropy(logits, y) + weight_decay / 2 * (w**2).sum()

    return loss_fn, d * k


def lbfgs_vs_sgd(evaluations: int = 100, sgd_lr: float = 0.5) -> dict[str, list[float]]:
    """Loss after each gradient evaluation for full-batch gradient descent and for L-BFGS.

    Both start at w = 0; L-BFGS is ``torch.optim.LBFGS`` with a strong-Wolfe line search, and
    every call of its closure (one loss and one gradient) counts as an evaluation.
    """
    loss_fn, n = digits_problem()
    curves = {}
    w = torch.zeros(n, dtype=F64, requires_grad=True)
    opt = optim.SGD([w], lr=sgd_lr)
    losses = []
    for _ in range(evaluations):
        opt.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        losses.append(loss.item())
        opt.step()
    curves["sgd"] = losses
    w = torch.zeros(n, dtype=F64, requires_grad=True)
    opt = torch.optim.LBFGS([w], lr=1.0, max_iter=evaluations, max_eval=evaluations,
                            history_size=10, tolerance_grad=1e-12, tolerance_change=1e-15,
                            line_search_fn="strong_wolfe")
    losses = []

    def closure():
        opt.zero_grad()
        loss = loss_fn(w)
        loss.backward()
        losses.append(loss.item())
        return loss

    opt.step(closure)
    curves["lbfgs"] = losses
    return curves


@dataclass(frozen=True)
class RangeTest:
    """What ``lr_range_test`` measured: per step k the rate ``lrs[k]``, the loss of the
    mini-batch ``losses[k]`` and its bias-corrected EMA ``smoothed[k]``; ``suggestion`` is
    the rate at the minimum of the smoothed curve divided by 10."""

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float


def lr_range_test(model: torch.nn.Module, data: Iterable, optimizer: torch.optim.Optimizer,
                  loss_fn: Callable | None = None, lr_min: float = 1e-6, lr_max: float = 10.0,
                  steps: int = 100, beta: float = 0.98, stop_factor: float = 4.0,
                  lang: str | None = None) -> RangeTest:
    """The learning-rate range test ("LR finder"): train ``steps`` mini-batches with

        lr_k = lr_min (lr_max / lr_min)^(k / (steps - 1)),   k = 0 .. steps - 1,

    record the loss of each (taken before its step) and its EMA ``m_k / (1 - beta^(k+1))``,
    and stop early once the smoothed loss exceeds ``stop_factor`` times its minimum or is not
    finite (the rate is too large: training diverges). ``data`` yields ``(x, y)`` and is
    cycled if it has fewer than ``steps`` batches; ``loss_fn`` defaults to cross-entropy.
    The model's weights and the optimizer's state (rates included) are restored afterwards,
    so the test costs one short pass and changes nothing. Pick a rate below the minimum of
    the smoothed curve, where the loss still falls steeply; ``suggestion`` is minimum / 10.
    """
    check.in_range("lr_min", lr_min, 0, None, low_open=True, lang=lang)
    check.in_range("lr_max", lr_max, lr_min, None, low_open=True, lang=lang)
    check.positive_int("steps", steps, lang)
    check.in_range("steps", steps, 2, None, lang=lang)
    check.in_range("beta", beta, 0, 1, high_open=True, lang=lang)
    check.in_range("stop_factor", stop_factor, 1, None, low_open=True, lang=lang)
    loss_fn = loss_fn or torch.nn.functional.cross_entropy
    saved = copy.deepcopy(model.state_dict()), copy.deepcopy(optimizer.state_dict())
    lrs, losses, smoothed, m, best = [], [], [], 0.0, math.inf
    batches = iter(())
    was_training = model.training
    model.train()
    try:
        for k in range(steps):
            batch = next(batches, None)
            if batch is None:
                batches = iter(data)
                batch = next(batches)
            x, y = batch
            lr = lr_min * (lr_max / lr_min) ** (k / (steps - 1))
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            m = beta * m + (1 - beta) * loss.item()
            lrs.append(lr)
            losses.append(loss.item())
            smoothed.append(m / (1 - beta ** (k + 1)))
            if not math.isfinite(smoothed[-1]) or smoothed[-1] > stop_factor * best:
                break
            best = min(best, smoothed[-1])
    finally:
        model.load_state_dict(saved[0])
        optimizer.load_state_dict(saved[1])
        model.train(was_training)
    finite = [(value, lr) for value, lr in zip(smoothed, lrs, strict=True) if math.isfinite(value)]
    return RangeTest(lrs, losses, smoothed, min(finite)[1] / 10 if finite else lr_min)


def effective_decay(grad_scales, lr: float = 1e-3, weight_decay: float = 1e-2,
                    steps: int = 200, seed: int = 0) -> dict[str, torch.Tensor]:
    """Per parameter, how much of itself one step removes: Adam with L2 vs AdamW.

    Parameter i gets zero-mean noisy gradients of scale ``grad_scales[i]`` (shape (P,)) for
    ``steps`` steps of ``torch.optim.Adam``; from its second-moment estimate v̂_i the decay per
    step is then read off. Adam with L2 (``weight_decay`` added to the gradient, g + λw) passes
    λw through the adaptive denominator; AdamW (decoupled) shrinks w directly::

        Adam + L2:  w <- w - lr λ w / (sqrt(v̂_i) + ε) - ...     decay_i = lr λ / (sqrt(v̂_i) + ε)
        AdamW:      w <- w - lr λ w - ...                        decay_i = lr λ

    so with L2 the parameters with large gradients are barely regularized. Returns
    ``{"adam_l2": (P,), "adamw": (P,)}`` in float64.
    """
    scales = torch.as_tensor(grad_scales, dtype=F64)
    w = torch.zeros_like(scales, requires_grad=True)
    opt = torch.optim.Adam([w], lr=lr)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        w.grad = scales * torch.randn(scales.shape, generator=gen, dtype=F64)
        opt.step()
    state = opt.state[w]
    beta2, eps = opt.param_groups[0]["betas"][1], opt.param_groups[0]["eps"]
    v_hat = state["exp_avg_sq"] / (1 - beta2 ** float(state["step"]))
    return {"adam_l2": lr * weight_decay / (v_hat.sqrt() + eps),
            "adamw": torch.full_like(scales, lr * weight_decay)}


@dataclass(frozen=True)
class DecayEffect:
    """Mean training loss per epoch of one run around a decay after epoch ``e``: ``before``
    (epoch ``e``, the last at the initial rate), ``after`` (epoch ``e + 1``, the first at the
    decayed rate of a step schedule) and ``final`` (the last epoch)."""

    before: float
    after: float
    final: float

    @property
    def drop(self) -> float:
        """How much lower the loss is in the epoch after the decay than in the one before."""
        return self.before - self.after


def step_decay_runs(epochs: int = 4, decay_epoch: int = 2, lr: float = 0.3, gamma: float = 0.1,
                    batch_size: int = 32, seed: int = 0, device=None) -> dict:
    """The digits MLP (64-64-10, ReLU) trained twice by SGD with momentum 0.9: at the constant
    rate ``lr`` (key ``"constant"``) and with a step schedule, ``schedules.StepLR`` with
    ``step_size=decay_epoch`` (key ``"step"``): lr_t = lr * gamma^floor(t / decay_epoch) for
    epoch t = 0, 1, ..., so the rate is multiplied by ``gamma`` after epoch ``decay_epoch``.

    Both runs start from the same weights and see the same mini-batches (fresh loaders with
    the same seed), so their curves coincide until the decay. Returns the two ``History``
    objects; ``step_loss_ema`` is smoothed with beta = 0.9 (about 10 steps), not the usual
    0.99, so that the smoothed curve follows a drop within a few steps.
    """
    from .. import data, schedules
    from ..training import fit

    runs = {}
    for kind in ("constant", "step"):
        train, val, _ = data.split(*data.digits()).loaders(batch_size=batch_size, seed=seed)
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 64),
                                    torch.nn.ReLU(), torch.nn.Linear(64, 10))
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        scheduler = (schedules.StepLR(optimizer, step_size=decay_epoch, gamma=gamma)
                     if kind == "step" else None)
        runs[kind] = fit(model, train, optimizer, epochs=epochs, val_data=val,
                         scheduler=scheduler, device=device, progress=False, grad_norms=False,
                         ema=0.9)
    return runs


def decay_effect(history, decay_epoch: int) -> DecayEffect:
    """``DecayEffect`` of a run from its per-epoch mean training losses (``train_loss``)."""
    losses = history.train_loss
    return DecayEffect(losses[decay_epoch - 1], losses[decay_epoch], losses[-1])

