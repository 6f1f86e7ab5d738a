"""Argument checks shared by the core modules: a bad value raises ``CourseError`` at once.

Each check names the argument and the expected value, shape or range in the student's language
(catalog ``locales/<lang>/validation.toml``), before any work is done, instead of a traceback
from deep inside torch or an answer that is silently wrong::

    positive_int("epochs", epochs)                 # 1, 2, ...
    in_range("alpha", alpha, 0, 1)                 # 0 <= alpha <= 1
    in_range("T", T, 0, None, low_open=True)       # T > 0
    same_shape("prediction", pred, "target", y)    # no broadcasting of (N, 1) against (N,)

Every check returns the value it accepted, so it can be used inline.
"""

from __future__ import annotations

import math
import numbers

import torch

from .i18n import CourseError


def is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(name: str, value, lang: str | None = None) -> int:
    """``value`` must be a whole number ``>= 1`` (not a bool, not a float)."""
    if not is_int(value) or value < 1:
        raise CourseError("validation.not_positive_int", lang=lang, name=name, value=value)
    return int(value)


def non_negative_int(name: str, value, lang: str | None = None) -> int:
    """``value`` must be a whole number ``>= 0``."""
    if not is_int(value) or value < 0:
        raise CourseError("validation.not_non_negative_int", lang=lang, name=name, value=value)
    return int(value)


def interval(low: float | None, high: float | None, low_open: bool = False,
             high_open: bool = False) -> str:
    """``[0, 1]``, ``(0, ∞)``, ... as written in the messages."""
    left = "(-∞" if low is None else f"{'(' if low_open else '['}{low:g}"
    right = "∞)" if high is None else f"{high:g}{')' if high_open else ']'}"
    return f"{left}, {right}"


def in_range(name: str, value, low: float | None = None, high: float | None = None, *,
             low_open: bool = False, high_open: bool = False, lang: str | None = None) -> float:
    """``value`` must be a finite real number in the interval (``None``: unbounded on that
    side; ``*_open``: the bound itself is excluded)."""
    ok = is_number(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise CourseError("validation.not_in_range", lang=lang, name=name, value=value,
                          interval=interval(low, high, low_open, high_open))
    return value


def tensor(name: str, value, lang: str | None = None) -> torch.Tensor:
    """``value`` must be a ``torch.Tensor``."""
    if not isinstance(value, torch.Tensor):
        raise CourseError("validation.not_tensor", lang=lang, name=name,
                          got=type(value).__name__)
    return value


def floating(name: str, value, lang: str | None = None) -> torch.Tensor:
    """``value`` must be a floating-point tensor (an integer one cannot take a small step h)."""
    tensor(name, value, lang)
    if not value.is_floating_point():
        raise CourseError("validation.not_floating", lang=lang, name=name,
                          dtype=str(value.dtype))
    return value


def ndim(name: str, value: torch.Tensor, dims: tuple[int, ...], expected: str,
         lang: str | None = None) -> torch.Tensor:
    """``value`` must be a tensor with one of the numbers of dimensions ``dims``;
    ``expected`` describes the shape in the message, e.g. ``"(N, C)"``."""
    tensor(name, value, lang)
    if value.dim() not in dims:
        raise CourseError("validation.bad_shape", lang=lang, name=name,
                          got=tuple(value.shape), expected=expected)
    return value


def shape(name: str, value: torch.Tensor, expected: tuple[int, ...],
          lang: str | None = None) -> torch.Tensor:
    """``value`` must be a tensor of exactly the shape ``expected``."""
    tensor(name, value, lang)
    if tuple(value.shape) != tuple(expected):
        raise CourseError("validation.bad_shape", lang=lang, name=name,
                          got=tuple(value.shape), expected=tuple(expected))
    return value


def same_shape(name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor,
               lang: str | None = None) -> None:
    """``a`` and ``b`` must be tensors of the same shape (no broadcasting)."""
    tensor(name_a, a, lang)
    tensor(name_b, b, lang)
    if a.shape != b.shape:
        raise CourseError("validation.shapes_differ", lang=lang, a=name_a, b=name_b,
                          shape_a=tuple(a.shape), shape_b=tuple(b.shape))


def same_length(name_a: str, a, name_b: str, b, lang: str | None = None) -> int:
    """``a`` and ``b`` must hold the same number of examples (their first dimension)."""
    if len(a) != len(b):
        raise CourseError("validation.lengths_differ", lang=lang, a=name_a, b=name_b,
                          len_a=len(a), len_b=len(b))
    return len(a)


def class_indices(name: str, target: torch.Tensor, classes: int,
                  lang: str | None = None) -> torch.Tensor:
    """``target`` must hold integer class indices in ``0 .. classes - 1``."""
    tensor(name, target, lang)
    if target.is_floating_point() or target.is_complex() or target.dtype == torch.bool:
        raise CourseError("validation.not_class_indices", lang=lang, name=name,
                          dtype=str(target.dtype))
    if target.numel():
        low, high = int(target.min()), int(target.max())
        if low < 0 or high >= classes:
            raise CourseError("validation.class_out_of_range", lang=lang, name=name, low=low,
                              high=high, classes=classes, last=classes - 1)
    return target


def not_empty(name: str, value, lang: str | None = None):
    """``value`` (a dataset, loader, list) must hold at least one item."""
    if len(value) == 0:
        raise CourseError("validation.empty", lang=lang, name=name)
    return value
