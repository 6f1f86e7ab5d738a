"""Hard-concrete gates (Louizos, Welling and Kingma 2018): a differentiable L0 penalty.

The L0 "norm" counts the units (weights, neurons, channels) a network uses; it has no useful
gradient. The relaxation gives every unit a random gate ``g`` in ``[0, 1]`` with a parameter
``log_alpha`` and penalizes the probability that the unit is used, ``P[g > 0]``, which is smooth
in ``log_alpha``. With temperature ``beta > 0`` and stretch ``gamma < 0 < 1 < zeta``::

    u     ~ U(0, 1)
    s     = sigmoid((log u - log(1 - u) + log_alpha) / beta)      binary concrete, in (0, 1)
    s_bar = s (zeta - gamma) + gamma                                stretched to (gamma, zeta)
    g     = min(1, max(0, s_bar))                                   clamped: masses at 0 and 1

``logit(u) = log u - log(1 - u)`` is a standard logistic variable, ``P[logit(u) > z] =
sigmoid(-z)``, and ``g <= x`` exactly when ``s_bar <= x``; hence, for ``0 <= x < 1``::

    P[g <= x] = sigmoid(beta log((x - gamma) / (zeta - x)) - log_alpha)

and in particular::

    P[g = 0]  = sigmoid(beta log(-gamma / zeta) - log_alpha)
    P[g = 1]  = sigmoid(log_alpha - beta log((1 - gamma) / (zeta - 1)))
    P[g > 0]  = sigmoid(log_alpha - beta log(-gamma / zeta))        the expected L0 penalty
    p(x)      = c (1 - c) beta (zeta - gamma) / ((x - gamma) (zeta - x)),   c = P[g <= x]

where ``p(x)`` is the density between the two point masses, ``0 < x < 1``. At test time the
gate is deterministic::

    g_test = min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma))

Constants: the paper's ``beta = 2/3``, ``gamma = -0.1``, ``zeta = 1.1``. Every function takes a
``log_alpha`` tensor of any shape and works elementwise.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from . import validation as check
from .i18n import CourseError

BETA = 2.0 / 3.0
GAMMA = -0.1
ZETA = 1.1


def _check_stretch(gamma: float, zeta: float, beta: float = BETA) -> None:
    if not (beta > 0 and gamma < 0 and zeta > 1):
        raise CourseError("l0.bad_stretch", beta=beta, gamma=gamma, zeta=zeta)


def sample_hard_concrete(
    log_alpha: Tensor, u: Tensor, beta: float = BETA, gamma: float = GAMMA, zeta: float = ZETA
) -> Tensor:
    """Hard-concrete gates ``g = min(1, max(0, s (zeta - gamma) + gamma))`` with ``s =
    sigmoid((log u - log(1 - u) + log_alpha) / beta)``, from uniform noise ``u`` in [0, 1].

    ``log_alpha`` and ``u`` broadcast together, e.g. ``(C,)`` and ``(N, C)`` for N samples of C
    gates; the result has the broadcast shape and is differentiable in ``log_alpha``.
    """
    _check_stretch(gamma, zeta, beta)
    check.tensor("log_alpha", log_alpha)
    if check.tensor("u", u).isnan().any():
        raise CourseError("l0.nan_noise", count=int(u.isnan().sum()), total=u.numel())
    if u.numel() and (u.min() < 0 or u.max() > 1):
        raise CourseError("l0.bad_uniform", low=u.min().item(), high=u.max().item())
    s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + log_alpha) / beta)
    return torch.clamp(s * (zeta - gamma) + gamma, 0.0, 1.0)


def prob_nonzero(
    log_alpha: Tensor, beta: float = BETA, gamma: float = GAMMA, zeta: float = ZETA
) -> Tensor:
    """``P[g > 0] = sigmoid(log_alpha - beta log(-gamma / zeta))``: the expected L0 penalty
    of one gate, the same shape as ``log_alpha``."""
    _check_stretch(gamma, zeta, beta)
    return torch.sigmoid(log_alpha - beta * math.log(-gamma / zeta))


def prob_zero(
    log_alpha: Tensor, beta: float = BETA, gamma: float = GAMMA, zeta: float = ZETA
) -> Tensor:
    """``P[g = 0] = sigmoid(beta log(-gamma / zeta) - log_alpha) = 1 - P[g > 0]``."""
    _check_stretch(gamma, zeta, beta)
    return torch.sigmoid(beta * math.log(-gamma / zeta) - log_alpha)


def prob_one(
    log_alpha: Tensor, beta: float = BETA, gamma: float = GAMMA, zeta: float = ZETA
) -> Tensor:
    """``P[g = 1] = sigmoid(log_alpha - beta log((1 - gamma) / (zeta - 1)))``."""
    _check_stretch(gamma, zeta, beta)
    return torch.sigmoid(log_alpha - beta * math.log((1 - gamma) / (zeta - 1)))


def hard_concrete_cdf(
    x: Tensor, log_alpha: Tensor, beta: float = BETA, gamma: float = GAMMA, zeta: float = ZETA
) -> Tensor:
    """``P[g <= x]``: 0 for ``x < 0``, ``sigmoid(beta log((x - gamma) / (zeta - x)) - log_alpha)``
    for ``0 <= x < 1`` (``P[g = 0]`` at ``x = 0``), 1 for ``x >= 1``.

    ``x`` and ``log_alpha`` broadcast together, e.g. ``(M, 1)`` points and ``(C,)`` gates.
    """
    _check_stretch(gamma, zeta, beta)
    inside = x.clamp(0.0, 1.0)
    cdf = torch.sigmoid(beta * torch.log((inside - gamma) / (zeta - inside)) - log_alpha)
    return torch.where(x < 0, 0.0, torch.where(x >= 1, 1.0, cdf))


def hard_concrete_density(
    x: Tensor, log_alpha: Tensor, beta: float = BETA, gamma: float = GAMMA, zeta: float = ZETA
) -> Tensor:
    """The density of the continuous part of ``g``, ``c (1 - c) beta (zeta - gamma) / ((x -
    gamma) (zeta - x))`` with ``c = P[g <= x]``, for ``0 < x < 1``; 0 elsewhere.

    It integrates to ``1 - P[g = 0] - P[g = 1]`` over ``(0, 1)``. Shapes as for the cdf.
    """
    c = hard_concrete_cdf(x, log_alpha, beta, gamma, zeta)
    inside = x.clamp(0.0, 1.0)
    density = c * (1 - c) * beta * (zeta - gamma) / ((inside - gamma) * (zeta - inside))
    return torch.where((x > 0) & (x < 1), density, 0.0)


def deterministic_gate(
    log_alpha: Tensor, gamma: float = GAMMA, zeta: float = ZETA
) -> Tensor:
    """The test-time gate ``min(1, max(0, sigmoid(log_alpha) (zeta - gamma) + gamma))``."""
    _check_stretch(gamma, zeta)
    return torch.clamp(torch.sigmoid(log_alpha) * (zeta - gamma) + gamma, 0.0, 1.0)


class HardConcreteGate(nn.Module):
    """Multiplies its input by one hard-concrete gate per neuron or per channel.

    ``x`` of shape ``(N, C)`` (C neurons) or ``(N, C, H, W)`` (C channels; any ``(N, C, *)``
    works), ``C = num_features``; the output ``x * g`` has the shape of ``x``, with ``g`` viewed
    as ``(., C, 1, ..., 1)``. The learned ``log_alpha`` has shape ``(C,)``.

    - training: ``g`` is sampled by ``sample_hard_concrete``. ``per_example=False`` draws one
      ``g`` of shape ``(1, C)`` per forward call, so the whole mini-batch sees the same thinned
      network; ``per_example=True`` draws ``(N, C)``, one per example as dropout does (less
      noisy gradients of ``log_alpha``).
    - evaluation: ``g = deterministic_gate(log_alpha)``, the same on every call.

    ``init_keep`` is the initial ``P[g > 0]`` of every gate: ``log_alpha = logit(init_keep) +
    beta log(-gamma / zeta)``.
    """

    def __init__(self, num_features: int, init_keep: float = 0.9, per_example: bool = False):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features < 1:
            raise CourseError("l0.bad_num_features", value=num_features)
        if not 0.0 < init_keep < 1.0:
            raise CourseError("l0.bad_init_keep", value=init_keep)
        self.num_features = num_features
        self.per_example = per_example
        start = math.log(init_keep / (1 - init_keep)) + BETA * math.log(-GAMMA / ZETA)
        self.log_alpha = nn.Parameter(torch.full((num_features,), start))

    def sample(self, n: int = 1) -> Tensor:
        """``n`` independent samples of the gates, shape ``(n, C)``."""
        la = self.log_alpha
        u = torch.rand(n, self.num_features, dtype=la.dtype, device=la.device)
        return sample_hard_concrete(la, u)

    def gate(self) -> Tensor:
        """The deterministic test-time gates, shape ``(C,)``."""
        return deterministic_gate(self.log_alpha)

    def keep_probability(self) -> Tensor:
        """``P[g > 0]`` of every gate, shape ``(C,)``."""
        return prob_nonzero(self.log_alpha)

    def l0_penalty(self) -> Tensor:
        """The expected number of open gates ``sum_c P[g_c > 0]``, a scalar."""
        return self.keep_probability().sum()

    def active(self) -> Tensor:
        """Which units survive pruning: ``gate() > 0``, a bool tensor of shape ``(C,)``."""
        return self.gate() > 0

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.size(1) != self.num_features:
            raise CourseError("l0.bad_input", features=self.num_features, shape=tuple(x.shape))
        if self.training:
            g = self.sample(x.size(0) if self.per_example else 1)
        else:
            g = self.gate().unsqueeze(0)
        return x * g.view(*g.shape, *(1,) * (x.dim() - 2))

    def extra_repr(self) -> str:
        return f"{self.num_features}, per_example={self.per_example}"
