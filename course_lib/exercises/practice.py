"""Exercises of lecture 07 (training practice): standardization, update ratio, log-uniform,
precision and recall from a confusion matrix."""

from __future__ import annotations

import math

import torch

from ..checks import exercise
from ..metrics import precision_recall_f1 as _precision_recall_f1
from ..monitoring import update_ratio as _update_ratio
from ..preprocessing import standardize as _standardize


def _randn(gen, *shape, scale=1.0, shift=0.0):
    return shift + scale * torch.randn(*shape, generator=gen, dtype=torch.float64)


def _standardize_cases(gen):
    constant = _randn(gen, 6, 3, scale=2.0, shift=5.0)
    constant[:, 1] = 0.25  # a feature that never changes, like a corner pixel of the digits
    return [
        {"x": _randn(gen, 8, 2, scale=3.0, shift=4.0), "eps": 1e-8},
        {"x": _randn(gen, 20, 5) * torch.tensor([0.1, 1.0, 10.0, 100.0, 1.0],
                                               dtype=torch.float64), "eps": 1e-8},
        {"x": constant, "eps": 1e-5},
    ]


@exercise("standardize", cases=_standardize_cases, outputs=("x_norm", "mean", "std"),
          atol=1e-10, hint="lecture07.hint_standardize")
def standardize(x: torch.Tensor, eps: float):
    """Per feature (column): ``((x - mean) / (std + eps), mean, std)``, std with divisor N."""
    return _standardize(x, eps)


def _update_ratio_cases(gen):
    w = _randn(gen, 4, 3)
    return [
        {"w_before": w, "w_after": w - 1e-3 * _randn(gen, 4, 3)},
        {"w_before": _randn(gen, 10, 5, scale=0.1), "w_after": _randn(gen, 10, 5, scale=0.1)},
        {"w_before": _randn(gen, 1, 7, scale=5.0), "w_after": _randn(gen, 1, 7, scale=5.0)},
    ]


@exercise("update_ratio", cases=_update_ratio_cases, outputs=("ratio",), atol=1e-12,
          hint="lecture07.hint_update_ratio")
def update_ratio(w_before: torch.Tensor, w_after: torch.Tensor) -> float:
    """``||w_after - w_before|| / ||w_before||`` with Frobenius norms."""
    return _update_ratio(w_before, w_after)


def _log_uniform_cases(gen):
    return [
        {"u": torch.rand(6, generator=gen, dtype=torch.float64), "low": 1e-6, "high": 1e-1},
        {"u": torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64), "low": 1e-4, "high": 1.0},
        {"u": torch.rand(3, 4, generator=gen, dtype=torch.float64), "low": 0.5, "high": 200.0},
    ]


@exercise("log_uniform", cases=_log_uniform_cases, outputs=("samples",), atol=0.0, rtol=1e-9,
          hint="lecture07.hint_log_uniform")
def log_uniform(u: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """``10 ** (log10(low) + u * (log10(high) - log10(low)))``: uniform ``u`` in [0, 1] mapped to
    [low, high] so that every decade gets the same share (``search.LogUniform`` samples so)."""
    a, b = math.log10(low), math.log10(high)
    return 10 ** (a + u * (b - a))


def _precision_recall_cases(gen):
    imbalanced = torch.tensor([[90, 2], [5, 3]], dtype=torch.int64)  # rare class 1
    never_predicted = torch.tensor([[7, 0, 0], [2, 0, 0], [1, 0, 4]], dtype=torch.int64)
    return [
        {"matrix": imbalanced},
        {"matrix": torch.randint(0, 20, (4, 4), generator=gen)},
        {"matrix": never_predicted},
    ]


@exercise("precision_recall", cases=_precision_recall_cases,
          outputs=("precision", "recall", "f1"), atol=1e-12, hint="lecture07.hint_precision_recall")
def precision_recall(matrix: torch.Tensor):
    """Per class k of a confusion matrix (rows true, columns predicted): precision = M_kk / column
    sum, recall = M_kk / row sum, F1 their harmonic mean; 0 where a denominator is 0."""
    return _precision_recall_f1(matrix)
