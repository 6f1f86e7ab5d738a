"""Exercises of lecture 02 (computation graphs and backpropagation).

``affine_backward(dout, x, w) -> (dx, dw, db)``: the backward pass of a fully connected layer,
given what its forward pass kept (x and w; the bias does not enter any gradient). The second
exercise of the lecture, ``relu_backward(dout, x)``, is registered in ``course_lib.checks``.
"""

from __future__ import annotations

import torch

from .. import layers
from ..checks import exercise


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _affine_cases(gen: torch.Generator) -> list[dict]:
    """N, D, M all different (a missing transpose cannot hide), a square case, and N = 1."""
    sizes = [(2, 3, 4), (5, 7, 3), (4, 4, 4), (1, 6, 2)]
    return [{"dout": _randn(gen, n, m), "x": _randn(gen, n, d), "w": _randn(gen, d, m)}
            for n, d, m in sizes]


@exercise("affine_backward", cases=_affine_cases, outputs=("dx", "dw", "db"),
          hint="lecture02.hint_affine_backward")
def affine_backward(dout: torch.Tensor, x: torch.Tensor, w: torch.Tensor):
    """dx = dout w^T (N, D), dw = x^T dout (D, M), db = sum over the N rows of dout (M,)."""
    bias = dout.new_zeros(w.shape[1])
    return layers.affine_backward(dout, (x, w, bias))
