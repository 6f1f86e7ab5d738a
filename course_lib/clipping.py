"""Gradient clipping from scratch: by norm (keeps the direction) and by value (does not).

    clipped, norm = clip_by_norm(grads, max_norm=1.0)   # g <- g * min(1, c / ||g||)
    clipped = clip_by_value(grads, limit=0.5)           # g_i <- clamp(g_i, -v, v)
    cosine(grads, clipped)                              # 1 for clipping by norm

``grads`` is one tensor or a sequence of tensors (the gradients of all parameters); the result
has the same form. Nothing is changed in place. The numbers are those of
``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``, which clip the ``.grad`` of
parameters in place; ``fit(..., clip_grad_norm=c, clip_grad_value=v)`` calls those.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from . import validation as check

EPS = 1e-6
"""Added to the norm before dividing, as torch does, so that a zero gradient gives no 0/0."""


def _as_list(grads: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [grads] if isinstance(grads, Tensor) else list(grads)


def _like(grads: Tensor | Sequence[Tensor], out: list[Tensor]) -> Tensor | list[Tensor]:
    return out[0] if isinstance(grads, Tensor) else out


def total_norm(grads: Tensor | Sequence[Tensor], norm_type: float = 2.0) -> Tensor:
    """The p-norm of all gradients together, as if they were one long vector:
    ``||g||_p = (sum_i |g_i|^p)^(1/p)``, over every entry of every tensor; ``max_i |g_i|`` for
    ``norm_type=inf``. It equals the p-norm of the per-tensor p-norms. No gradients: 0."""
    tensors = _as_list(grads)
    if not tensors:
        return torch.tensor(0.0)
    norms = torch.stack([torch.linalg.vector_norm(g, norm_type) for g in tensors])
    return torch.linalg.vector_norm(norms, norm_type)


def clip_by_norm(grads: Tensor | Sequence[Tensor], max_norm: float, norm_type: float = 2.0,
                 lang: str | None = None) -> tuple[Tensor | list[Tensor], Tensor]:
    """Rescale all gradients together so that their norm is at most ``max_norm``.

    ``g <- g * min(1, c / (||g|| + 1e-6))`` with ``c = max_norm`` and ``||g||`` the
    ``total_norm``: every entry is multiplied by the same number, so the direction of the step
    stays and only its length shrinks. Returns the clipped gradients (the form of ``grads``)
    and the total norm before clipping, as ``torch.nn.utils.clip_grad_norm_`` returns it.
    ``max_norm`` must be a finite number ``> 0`` (torch accepts a negative one silently and
    flips the gradient); ``norm_type`` a number ``> 0`` or ``math.inf``.
    """
    check.in_range("max_norm", max_norm, 0, None, low_open=True, lang=lang)
    if norm_type != math.inf:
        check.in_range("norm_type", norm_type, 0, None, low_open=True, lang=lang)
    tensors = _as_list(grads)
    norm = total_norm(tensors, norm_type)
    factor = torch.clamp(max_norm / (norm + EPS), max=1.0)
    return _like(grads, [g * factor.to(g) for g in tensors]), norm


def clip_by_value(grads: Tensor | Sequence[Tensor], limit: float,
                  lang: str | None = None) -> Tensor | list[Tensor]:
    """Clamp every gradient entry to ``[-limit, limit]``: ``g_i <- min(max(g_i, -v), v)``.

    Each entry is cut on its own, so the large ones shrink and the small ones stay: the
    direction of the step changes (see ``cosine``). As ``torch.nn.utils.clip_grad_value_``;
    ``limit`` must be a finite number ``> 0`` (torch accepts a negative one silently and sets
    every entry to ``-|limit|``).
    """
    check.in_range("limit", limit, 0, None, low_open=True, lang=lang)
    return _like(grads, [g.clamp(-limit, limit) for g in _as_list(grads)])


def cosine(a: Tensor | Sequence[Tensor], b: Tensor | Sequence[Tensor]) -> float:
    """Cosine of the angle between two gradients, each flattened into one vector:
    ``<a, b> / (||a|| ||b||)``; 1 when ``b`` points where ``a`` does."""
    flat_a = torch.cat([g.flatten() for g in _as_list(a)]).double()
    flat_b = torch.cat([g.flatten() for g in _as_list(b)]).to(flat_a)
    return torch.nn.functional.cosine_similarity(flat_a, flat_b, dim=0).item()
