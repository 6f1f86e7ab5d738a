"""Making a trained network smaller: magnitude pruning and post-training int8 quantization.

Magnitude pruning sets the fraction ``s`` of the weights with the smallest ``|w|`` to exactly
zero, either over all layers together (``scope="global"``) or in every layer separately
(``scope="layer"``). Only weights are pruned (``course_lib.regularization.is_weight``), biases
stay. ``sparsity_curve`` measures a metric of copies pruned to increasing fractions.

Post-training quantization to int8, symmetric, one scale per tensor::

    s = max |w| / 127,     q = clamp(round(w / s), -127, 127) in int8,     w ~ s * q

Rounding moves every weight by at most ``s / 2``. A weight tensor then takes one byte per entry
plus four bytes for ``s``, instead of four bytes per entry in float32. ``quantize_model`` returns
a float copy whose weights are replaced by ``s * q`` ("fake quantization"): it computes exactly
what an int8 model with float accumulation would, on any device.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from . import validation as check
from .i18n import CourseError
from .regularization import is_weight

Where = Callable[[str, Tensor], bool]


def _weights(model: nn.Module, where: Where) -> list[Tensor]:
    return [p for name, p in model.named_parameters() if where(name, p)]


def _check_fraction(fraction: float, lang: str | None) -> None:
    if not check.is_number(fraction) or not 0.0 <= fraction <= 1.0:
        raise CourseError("compression.bad_fraction", lang=lang, fraction=fraction)


def _zero_smallest_(tensors: Sequence[Tensor], fraction: float) -> None:
    """Zero ``round(fraction * n)`` entries of smallest magnitude among all ``n`` entries."""
    flat = torch.cat([t.detach().abs().flatten() for t in tensors])
    k = round(fraction * flat.numel())
    if k == 0:
        return
    order = torch.sort(flat, stable=True).indices[:k]
    mask = torch.ones_like(flat, dtype=torch.bool)
    mask[order] = False
    start = 0
    for t in tensors:
        n = t.numel()
        t.mul_(mask[start:start + n].view_as(t))
        start += n


@torch.no_grad()
def magnitude_prune_(model: nn.Module, fraction: float, scope: str = "global",
                     where: Where = is_weight, lang: str | None = None) -> nn.Module:
    """Set the ``fraction`` of smallest-magnitude weights of ``model`` to 0, in place.

    ``scope="global"`` ranks all selected weights together (layers with small weights lose
    more); ``scope="layer"`` prunes the same fraction of every tensor. Returns ``model``.
    """
    _check_fraction(fraction, lang)
    if scope not in ("global", "layer"):
        raise CourseError("compression.bad_scope", lang=lang, scope=scope)
    weights = _weights(model, where)
    if not weights:
        raise CourseError("compression.no_weights", lang=lang, model=type(model).__name__)
    if scope == "global":
        _zero_smallest_(weights, fraction)
    else:
        for w in weights:
            _zero_smallest_([w], fraction)
    return model


def pruned(model: nn.Module, fraction: float, scope: str = "global", where: Where = is_weight,
           lang: str | None = None) -> nn.Module:
    """A pruned deep copy of ``model`` (the original is left as it is)."""
    return magnitude_prune_(copy.deepcopy(model), fraction, scope, where, lang)


def sparsity(model: nn.Module, where: Where = is_weight) -> float:
    """The fraction of selected weights that are exactly zero."""
    weights = _weights(model, where)
    total = sum(w.numel() for w in weights)
    return sum(int((w == 0).sum()) for w in weights) / max(total, 1)


def sparsity_curve(model: nn.Module, metric: Callable[[nn.Module], float],
                   fractions: Sequence[float], scope: str = "global",
                   where: Where = is_weight) -> list[float]:
    """``metric(pruned(model, s))`` for every fraction ``s`` (e.g. validation accuracy)."""
    for fraction in fractions:
        _check_fraction(fraction, None)
    return [metric(pruned(model, s, scope, where)) for s in fractions]


def quantize_int8(w: Tensor) -> tuple[Tensor, Tensor]:
    """Symmetric per-tensor int8 quantization: ``(q, s)`` with ``w ~ s * q``.

    ``s = max |w| / 127`` (a 0-dim tensor of ``w``'s dtype; 1 for an all-zero tensor) and
    ``q = clamp(round(w / s), -127, 127)`` as ``torch.int8``. Ties round to even, as
    ``torch.round``.
    """
    check.floating("w", w)
    largest = w.detach().abs().max()
    scale = torch.where(largest > 0, largest / 127, torch.ones_like(largest))
    q = torch.clamp(torch.round(w.detach() / scale), -127, 127).to(torch.int8)
    return q, scale


def dequantize(q: Tensor, scale: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    """``s * q`` as a float tensor."""
    return q.to(dtype) * scale.to(dtype)


@torch.no_grad()
def quantize_model(model: nn.Module, where: Where = is_weight) -> nn.Module:
    """A copy of ``model`` with every selected weight ``w`` replaced by ``s * q`` of
    ``quantize_int8(w)``: the float model that computes what the int8 one would."""
    quantized = copy.deepcopy(model)
    for w in _weights(quantized, where):
        w.copy_(dequantize(*quantize_int8(w), dtype=w.dtype))
    return quantized


def size_in_bytes(model: nn.Module, int8: bool = False, where: Where = is_weight) -> int:
    """Bytes to store the parameters: float32 everywhere, or with ``int8`` one byte per selected
    weight plus a float32 scale per selected tensor (biases stay float32)."""
    total = 0
    for name, p in model.named_parameters():
        if int8 and where(name, p):
            total += p.numel() + 4
        else:
            total += 4 * p.numel()
    return total
