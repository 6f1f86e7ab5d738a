"""Exercises of lecture 06 (batch norm): forward pass, backward pass, running statistics.

Each reference reuses ``course_lib.layers.batchnorm_forward`` / ``batchnorm_backward``. The
cases are float64 ``(N, D)`` batches chosen so that the usual slips fail: a small ``N`` tells
the biased variance (``1/N``, batch norm's) from the unbiased one (``1/(N-1)``), a feature with
a tiny variance shows a missing ``eps``, and a second ``eps`` shows a hard-coded one.
"""

from __future__ import annotations

import torch

from ..checks import exercise
from ..layers import batchnorm_backward as _backward
from ..layers import batchnorm_forward as _forward


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _batch(gen: torch.Generator, n: int, d: int, tiny: bool = False) -> torch.Tensor:
    """``(n, d)`` values with feature means around 3 and spreads around 5; with ``tiny`` the
    last feature's spread is 0.003, so that its variance is comparable with ``eps = 1e-5``."""
    scale = 5 * _randn(gen, d).abs() + 0.5
    if tiny:
        scale[-1] = 0.003
    return _randn(gen, n, d) * scale + 3 + _randn(gen, d)


def _forward_cases(gen):
    return [
        {"x": _batch(gen, 4, 3), "gamma": _randn(gen, 3), "beta": _randn(gen, 3), "eps": 1e-5},
        {"x": _batch(gen, 16, 5, tiny=True), "gamma": _randn(gen, 5), "beta": _randn(gen, 5),
         "eps": 1e-5},
        {"x": _batch(gen, 8, 2), "gamma": _randn(gen, 2), "beta": _randn(gen, 2), "eps": 0.5},
    ]


@exercise("batchnorm_forward", cases=_forward_cases, outputs=("out",),
          hint="lecture06.hint_batchnorm_forward")
def batchnorm_forward(x, gamma, beta, eps):
    """Batch norm in training mode: x (N, D), gamma and beta (D,) -> out (N, D)::

    mu_j = mean_i x_ij,  sigma_j^2 = mean_i (x_ij - mu_j)^2,
    x_hat_ij = (x_ij - mu_j) / sqrt(sigma_j^2 + eps),  out_ij = gamma_j x_hat_ij + beta_j
    """
    return _forward(x, gamma, beta, None, None, train=True, eps=eps)[0]


def _backward_cases(gen):
    def case(n, d, eps, tiny=False):
        return {"dout": _randn(gen, n, d), "x": _batch(gen, n, d, tiny), "gamma": _randn(gen, d),
                "eps": eps}

    return [case(4, 3, 1e-5), case(16, 5, 1e-5, tiny=True), case(8, 2, 0.5)]


@exercise("batchnorm_backward", cases=_backward_cases, outputs=("dx", "dgamma", "dbeta"),
          hint="lecture06.hint_batchnorm_backward")
def batchnorm_backward(dout, x, gamma, eps):
    """Gradients of batch norm in training mode for upstream ``dout`` (N, D); returns
    ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,)::

    dbeta_j = sum_i dout_ij,   dgamma_j = sum_i dout_ij x_hat_ij,
    dx_ij = gamma_j / (N sqrt(sigma_j^2 + eps)) (N dout_ij - sum_k dout_kj - x_hat_ij dgamma_j)
    """
    beta = torch.zeros_like(gamma)
    _, cache = _forward(x, gamma, beta, None, None, train=True, eps=eps)
    return _backward(dout, cache)


def _running_cases(gen):
    def case(n, d, momentum, fresh=False):
        mean = torch.zeros(d, dtype=torch.float64) if fresh else _randn(gen, d)
        var = torch.ones(d, dtype=torch.float64) if fresh else _randn(gen, d).abs() + 0.5
        return {"running_mean": mean, "running_var": var, "x": _batch(gen, n, d),
                "momentum": momentum}

    return [case(4, 3, 0.1, fresh=True), case(6, 4, 0.1), case(32, 2, 0.5)]


@exercise("running_stats_update", cases=_running_cases, outputs=("running_mean", "running_var"),
          hint="lecture06.hint_running_stats_update")
def running_stats_update(running_mean, running_var, x, momentum):
    """One training step's update of the running statistics for a batch x (N, D)::

    running_mean <- (1 - momentum) running_mean + momentum mu
    running_var  <- (1 - momentum) running_var  + momentum sigma^2 N / (N - 1)

    (the batch variance taken unbiased, as in torch). Returns the new ``(mean, var)``, (D,) each.
    """
    mean, var = running_mean.clone(), running_var.clone()
    gamma, beta = torch.ones_like(mean), torch.zeros_like(mean)
    _forward(x, gamma, beta, mean, var, train=True, momentum=momentum)
    return mean, var
