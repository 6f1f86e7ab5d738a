"""Regularization: L1, L2 and elastic net penalties; vanilla and inverted dropout; label
smoothing and mixup, which regularize through the targets.

A penalty is added to the data loss, ``L = L_data + lambda * R(W)``::

    L1:           R(W) = sum |w|              gradient sign(w): pushes every weight to 0 by
                                               the same step, many end exactly at 0
    L2:           R(W) = sum w^2              gradient 2 w: shrinks big weights most, small
                                               ones barely, none becomes exactly 0
    elastic net:  R(W) = l1 * sum |w| + l2 * sum w^2

``params`` is a model (its parameters pass through ``where``, by default weights only, no
biases), an iterable of tensors, or one tensor: a penalty on activations is
``l1_penalty(hidden)``. Plain gradient descent on ``sum |w|`` makes weights oscillate around 0;
the proximal step ``soft_threshold`` puts them exactly there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor, nn

from . import validation as check
from .i18n import CourseError

Params = nn.Module | Tensor | Iterable[Tensor]


def is_weight(name: str, param: Tensor) -> bool:
    """The default filter: parameters named ``weight`` (Linear, Conv, norm layers), no biases."""
    return name.rsplit(".", 1)[-1] == "weight"


def select(params: Params, where: Callable[[str, Tensor], bool] = is_weight) -> list[Tensor]:
    """The tensors a penalty sums over: a model's parameters passing ``where(name, param)``,
    or the given tensors as they are."""
    if isinstance(params, nn.Module):
        return [p for name, p in params.named_parameters() if where(name, p)]
    if isinstance(params, Tensor):
        return [params]
    return [check.tensor("params", p) for p in params]


def l1_penalty(params: Params, where: Callable[[str, Tensor], bool] = is_weight) -> Tensor:
    """``sum |w|`` over the selected tensors (a 0-dim tensor)."""
    return sum((p.abs().sum() for p in select(params, where)), torch.tensor(0.0))


def l2_penalty(params: Params, where: Callable[[str, Tensor], bool] = is_weight) -> Tensor:
    """``sum w^2`` over the selected tensors. SGD's ``weight_decay=wd`` is ``lambda = wd / 2``."""
    return sum(((p**2).sum() for p in select(params, where)), torch.tensor(0.0))


def elastic_net_penalty(
    params: Params, l1: float, l2: float, where: Callable[[str, Tensor], bool] = is_weight
) -> Tensor:
    """``l1 * sum |w| + l2 * sum w^2`` over the selected tensors; ``l1, l2 >= 0``."""
    check.in_range("l1", l1, 0)
    check.in_range("l2", l2, 0)
    selected = select(params, where)
    return l1 * l1_penalty(selected) + l2 * l2_penalty(selected)


@torch.no_grad()
def soft_threshold_(weight: Tensor, threshold: float) -> Tensor:
    """Proximal step of ``threshold * |w|``, in place: ``w <- sign(w) * max(|w| - threshold, 0)``.

    After a gradient step on the data loss with learning rate ``lr``, ``soft_threshold_(w,
    lr * lambda)`` completes one step of proximal gradient descent (ISTA) on
    ``L_data + lambda * sum |w|``: every weight within ``threshold`` of 0 becomes exactly 0.
    ``threshold >= 0``.
    """
    check.in_range("threshold", threshold, 0)
    return weight.copy_(weight.sign() * (weight.abs() - threshold).clamp(min=0))


def _check_p(p: float) -> None:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0 <= p <= 1:
        raise CourseError("regularization.bad_p", p=p)


def dropout(
    x: Tensor,
    p: float = 0.5,
    training: bool = True,
    inverted: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Drop each entry of ``x`` (any shape) with probability ``p``; keep it with ``q = 1 - p``.

    ``p`` is the probability to DROP, as in ``torch.nn.Dropout``. The CS231n slides of the
    Serbian lecture call the KEEP probability ``p`` (``p = 0.5 # probability of keeping a unit
    active``): their ``p`` is our ``q``. With a mask ``m ~ Bernoulli(q)`` of the shape of ``x``:

    ============== ===================== ==================
    variant        training              test (eval)
    ============== ===================== ==================
    vanilla        ``m * x``             ``q * x``
    inverted       ``m * x / q``         ``x``
    ============== ===================== ==================

    Both make the test output equal to the expected training output, ``E[m * x] = q * x``.
    Inverted dropout does the scaling during training, so the model is used at test time as is.
    ``p = 1`` drops everything: the output is 0.
    """
    _check_p(p)
    q = 1.0 - p
    if not training:
        return x if inverted else q * x
    mask = torch.rand(x.shape, generator=generator, dtype=x.dtype, device=x.device) < q
    scale = 1.0 / q if inverted and q > 0 else 1.0
    return x * mask * scale


class Dropout(nn.Module):
    """``dropout(x, p, self.training, inverted)`` as a layer; ``p`` is the drop probability."""

    def __init__(self, p: float = 0.5, inverted: bool = True):
        super().__init__()
        _check_p(p)
        self.p = p
        self.inverted = inverted

    def forward(self, x: Tensor) -> Tensor:
        return dropout(x, self.p, self.training, self.inverted)

    def extra_repr(self) -> str:
        return f"p={self.p}, inverted={self.inverted}"


def smooth_labels(target: Tensor, classes: int, eps: float,
                  dtype: torch.dtype | None = None) -> Tensor:
    """Label smoothing (Szegedy et al., 2016): classes ``(N,)`` -> target distributions ``(N, C)``::

        q = (1 - eps) * one_hot(y) + eps / C

    The correct class gets ``1 - eps + eps / C``, every other ``eps / C``. Cross-entropy against
    ``q`` (``losses.soft_cross_entropy``) is ``F.cross_entropy(..., label_smoothing=eps)``: the
    net is never asked for a probability of exactly 1, so its logits stay finite. ``0 <= eps <= 1``;
    ``dtype`` defaults to torch's default floating type.
    """
    check.positive_int("classes", classes)
    check.in_range("eps", eps, 0, 1)
    check.class_indices("target", target, classes)
    one_hot = torch.nn.functional.one_hot(target, classes).to(dtype or torch.get_default_dtype())
    return (1 - eps) * one_hot + eps / classes


def mixup(x: Tensor, targets: Tensor, alpha: float,
          generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, float]:
    """Mixup (Zhang et al., 2018): blend every example with a random partner of the batch::

        lam ~ Beta(alpha, alpha),  pi = a random permutation of the batch
        x~ = lam * x + (1 - lam) * x[pi],   q~ = lam * q + (1 - lam) * q[pi]

    ``x`` is ``(N, ...)``, ``targets`` ``(N, C)`` distributions (one-hot or ``smooth_labels``);
    returns ``(x~, q~, lam)``, one ``lam`` for the batch. A small ``alpha`` gives ``lam`` near 0
    or 1 (mostly one example), ``alpha = 1`` a uniform ``lam``. ``alpha > 0``; ``generator``
    fixes the permutation and ``lam``.
    """
    check.in_range("alpha", alpha, 0, None, low_open=True)
    check.ndim("targets", targets, (2,), "(N, C)")
    check.same_length("x", x, "targets", targets)
    perm = torch.randperm(len(x), generator=generator)
    seed = int(torch.randint(2**62, (1,), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
    return lam * x + (1 - lam) * x[perm], lam * targets + (1 - lam) * targets[perm], lam
