"""Exercises of lecture 03 (initialization): the scales of Xavier and He from their derivations,
and gradient clipping by norm, the usual fix for an exploding gradient.

``xavier_std`` itself is registered in ``course_lib.checks``; this module adds the uniform
Xavier bound, the He standard deviation and ``clip_by_norm``. Hints live in the ``lecture03``
locale domain.
"""

from __future__ import annotations

import math

import torch

from .. import clipping
from ..checks import exercise, xavier_std
from ..init import calculate_gain


def _random_fan(gen: torch.Generator) -> int:
    return int(torch.randint(1, 4097, (1,), generator=gen))


def _fan_pair_cases(gen):
    return [{"fan_in": 784, "fan_out": 256}, {"fan_in": 100, "fan_out": 10},
            {"fan_in": 1, "fan_out": 1}, {"fan_in": _random_fan(gen), "fan_out": _random_fan(gen)}]


@exercise("xavier_uniform_bound", cases=_fan_pair_cases, outputs=("bound",),
          hint="lecture03.hint_xavier_uniform_bound")
def xavier_uniform_bound(fan_in: int, fan_out: int) -> float:
    """``b`` of Glorot's ``U(-b, b)``: its variance ``b^2 / 3`` equals ``2 / (fan_in + fan_out)``,
    so ``b = sqrt(3) * xavier_std = sqrt(6 / (fan_in + fan_out))``."""
    return math.sqrt(3) * xavier_std(fan_in, fan_out)


def _fan_in_cases(gen):
    return [{"fan_in": 784}, {"fan_in": 512}, {"fan_in": 27}, {"fan_in": 1},
            {"fan_in": _random_fan(gen)}]


@exercise("he_std", cases=_fan_in_cases, outputs=("std",), hint="lecture03.hint_he_std")
def he_std(fan_in: int) -> float:
    """He's standard deviation for ReLU: ``Var[w] = 2 / fan_in``, so ``std = sqrt(2 / fan_in)``."""
    return calculate_gain("relu") / math.sqrt(fan_in)


def _gradient_cases(gen):
    def g(*shape, scale=1.0):
        return scale * torch.randn(*shape, generator=gen, dtype=torch.float64)

    return [{"g": g(10, scale=3.0), "max_norm": 1.0},       # long: shrunk to length 1
            {"g": g(8, 5), "max_norm": 2.0},                # a weight matrix: one norm for all
            {"g": g(20, scale=0.01), "max_norm": 1.0},      # short: left as it is
            {"g": g(3, 4, 2, scale=100.0), "max_norm": 0.5}]


@exercise("clip_by_norm", cases=_gradient_cases, outputs=("clipped", "norm"), rtol=1e-5,
          hint="lecture03.hint_clip_by_norm")
def clip_by_norm(g: torch.Tensor, max_norm: float) -> tuple[torch.Tensor, float]:
    """``g * min(1, c / ||g||)`` with ``||g||`` the L2 norm of all entries together, and that
    norm (before clipping), as ``torch.nn.utils.clip_grad_norm_`` returns it. The tolerance
    ``rtol=1e-5`` accepts the formula with or without torch's ``+ 1e-6`` in the divisor."""
    clipped, norm = clipping.clip_by_norm(g, max_norm)
    return clipped, norm.item()
