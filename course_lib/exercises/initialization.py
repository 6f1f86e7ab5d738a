"""Exercises of lecture 03 (initialization): the scales of Xavier and He from their derivations.

``xavier_std`` itself is registered in ``course_lib.checks``; this module adds the uniform
Xavier bound and the He standard deviation. Hints live in the ``lecture03`` locale domain.
"""

from __future__ import annotations

import math

import torch

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
