"""Batch normalization from scratch; shift and scale layers; inserting them into a network.

Batch norm (Ioffe and Szegedy, 2015) for inputs ``(N, C)``, ``(N, C, L)`` or ``(N, C, H, W)``,
per channel ``c`` over the ``m`` values of the batch (and positions) in that channel::

    mu_c      = (1 / m) * sum x
    sigma_c^2 = (1 / m) * sum (x - mu_c)^2
    x_hat     = (x - mu_c) / sqrt(sigma_c^2 + eps)
    y         = gamma_c * x_hat + beta_c

Training uses the batch's ``mu`` and ``sigma^2`` and updates running averages; evaluation uses
the running averages, so one example's output does not depend on the rest of its batch.

Shift and scale layers (the Slovak thesis defence): learned constants added to, or multiplied
with, the activations, at one of three granularities. For a per-example shape ``(D,)`` or
``(C, H, W)``, the number of parameters of one layer is

============ ======================= ===========================
granularity  parameters              for (D,)  /  for (C, H, W)
============ ======================= ===========================
element      one per activation      D  /  C * H * W
channel      one per channel         D  /  C
layer        one for the whole layer 1  /  1
============ ======================= ===========================

``insert_shift_scale`` places them after the input and after every activation but the last,
in the thesis' order by default: the shift layer, then the scale layer, so that one place
computes ``a * (x + b)`` (``order="shift_scale"``); ``order="scale_shift"`` gives ``a * x + b``,
the order of batch norm's affine step (``ORDERS``).

The thesis tested ten combinations of scale x shift (``VARIANTS``, with batch norm as an
eleventh variant): neither (``none``), scale alone or shift alone at each granularity
(``scale_layer``, ``shift_channel``, ...), and both at the same granularity
(``shift_scale_element``, ``shift_scale_channel``, ``shift_scale_layer``). Mixed granularities
(say channel scale with layer shift) were not tested.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from . import validation as check
from .i18n import CourseError
from .init import ACTIVATIONS

GRANULARITIES = ("element", "channel", "layer")


class _BatchNorm(nn.Module):
    """Batch norm over every dimension but the channel dimension 1; the arguments of torch's."""

    input_dims: tuple[int, ...]

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
    ):
        super().__init__()
        self.num_features = check.positive_int("num_features", num_features)
        check.in_range("eps", eps, 0, None, low_open=True)
        if momentum is not None:
            check.in_range("momentum", momentum, 0, 1)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features))
            self.register_buffer("running_var", torch.ones(num_features))
            self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def forward(self, x: Tensor) -> Tensor:
        """``x`` of shape ``(N, C, *positions)`` -> ``y`` of the same shape."""
        if x.dim() not in self.input_dims:
            raise CourseError(
                "normalization.bad_input_dim", layer=type(self).__name__,
                expected=" / ".join(f"{d}D" for d in self.input_dims), got=x.dim(),
            )
        if x.size(1) != self.num_features:
            raise CourseError("normalization.bad_channels", layer=type(self).__name__,
                              features=self.num_features, shape=tuple(x.shape))
        over = [0, *range(2, x.dim())]
        channel = (1, -1) + (1,) * (x.dim() - 2)
        if self.training or not self.track_running_stats:
            m = x.numel() // x.size(1)
            if self.training and m == 1:
                raise CourseError("normalization.one_value", shape=tuple(x.shape))
            mu = x.mean(dim=over, keepdim=True)
            var = ((x - mu) ** 2).mean(dim=over, keepdim=True)
            if self.training and self.track_running_stats:
                self._update_running_stats(mu.flatten(), var.flatten(), m)
        else:
            mu = self.running_mean.view(channel)
            var = self.running_var.view(channel)
        x_hat = (x - mu) / torch.sqrt(var + self.eps)
        if not self.affine:
            return x_hat
        return self.weight.view(channel) * x_hat + self.bias.view(channel)

    @torch.no_grad()
    def _update_running_stats(self, mu: Tensor, var: Tensor, m: int) -> None:
        """``r <- (1 - momentum) * r + momentum * batch value``, with the unbiased variance
        ``var * m / (m - 1)``. ``momentum=None`` gives the plain average of all batches so far."""
        self.num_batches_tracked += 1
        momentum = self.momentum
        if momentum is None:
            momentum = 1.0 / self.num_batches_tracked.item()
        self.running_mean.mul_(1 - momentum).add_(momentum * mu)
        self.running_var.mul_(1 - momentum).add_(momentum * var * m / (m - 1))

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm of ``(N, C)`` or ``(N, C, L)`` inputs, per feature ``C``: like nn.BatchNorm1d."""

    input_dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm of ``(N, C, H, W)`` images, per channel: like nn.BatchNorm2d."""

    input_dims = (4,)


def _per_example_shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if not shape or not all(check.is_int(d) and d >= 1 for d in shape):
        raise CourseError("normalization.bad_shape", shape=shape)
    return shape


def _check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise CourseError(
            "normalization.unknown_granularity", name=granularity, known=", ".join(GRANULARITIES)
        )


def parameter_shape(shape: int | tuple[int, ...], granularity: str) -> tuple[int, ...]:
    """Shape of the parameter of a Shift or Scale layer: ``shape`` (element), ``(C,)``
    (channel) or ``()`` (layer), for a per-example ``shape`` ``D``, ``(D,)`` or ``(C, H, W)``."""
    _check_granularity(granularity)
    shape = _per_example_shape(shape)
    return {"element": shape, "channel": shape[:1], "layer": ()}[granularity]


def _broadcast(param: Tensor, x: Tensor, granularity: str) -> Tensor:
    """A channel parameter ``(C,)`` viewed as ``(C, 1, ..., 1)`` to meet ``x`` on dimension 1."""
    if granularity == "channel":
        return param.view(-1, *(1,) * (x.dim() - 2))
    return param


def _check_fits(layer: nn.Module, param: Tensor, x: Tensor) -> None:
    """``x`` (N, *shape) must carry the per-example shape the layer was built for: all of it
    (element), its channels on dimension 1 (channel), anything (layer)."""
    per_example = tuple(x.shape[1:])
    fits = {"element": per_example == tuple(param.shape),
            "channel": x.dim() >= 2 and per_example[:1] == tuple(param.shape),
            "layer": True}[layer.granularity]
    if not fits:
        raise CourseError("normalization.shape_mismatch", layer=type(layer).__name__,
                          granularity=layer.granularity, param=tuple(param.shape),
                          shape=tuple(x.shape))


class Shift(nn.Module):
    """``y = x + b``: learned shift ``b`` (initially 0) of ``parameter_shape(shape, granularity)``.

    ``x``: ``(N, *shape)``, e.g. ``(N, D)`` or ``(N, C, H, W)``; ``y``: the same shape. The
    per-example ``shape`` matters for ``element`` (and its first entry for ``channel``).
    """

    def __init__(self, shape: int | tuple[int, ...], granularity: str):
        super().__init__()
        _check_granularity(granularity)
        self.granularity = granularity
        self.b = nn.Parameter(torch.zeros(parameter_shape(shape, granularity)))

    def forward(self, x: Tensor) -> Tensor:
        _check_fits(self, self.b, x)
        return x + _broadcast(self.b, x, self.granularity)

    def extra_repr(self) -> str:
        return f"{tuple(self.b.shape)}, granularity={self.granularity!r}"


class Scale(nn.Module):
    """``y = a * x``: learned scale ``a`` (initially 1) of ``parameter_shape(shape, granularity)``.

    Shapes as for ``Shift``.
    """

    def __init__(self, shape: int | tuple[int, ...], granularity: str):
        super().__init__()
        _check_granularity(granularity)
        self.granularity = granularity
        self.a = nn.Parameter(torch.ones(parameter_shape(shape, granularity)))

    def forward(self, x: Tensor) -> Tensor:
        _check_fits(self, self.a, x)
        return _broadcast(self.a, x, self.granularity) * x

    def extra_repr(self) -> str:
        return f"{tuple(self.a.shape)}, granularity={self.granularity!r}"


ORDERS = ("shift_scale", "scale_shift")
"""Orders of the two layers at one place: ``"shift_scale"`` (the thesis: a shift layer, then a
scale layer, ``y = a * (x + b)``) and ``"scale_shift"`` (``y = a * x + b``, as batch norm's
``gamma * x_hat + beta``). Both start as the identity (``a = 1``, ``b = 0``) and, for
``a != 0``, express the same functions (``a * (x + b) = a * x + a * b``), but they learn
differently: the gradient of ``b`` is multiplied by ``a`` in the first, not in the second."""


def check_order(order: str) -> str:
    """``order`` if it is one of ``ORDERS``, else a ``CourseError`` naming the choices."""
    if not isinstance(order, str) or order not in ORDERS:
        raise CourseError("experiments.unknown_order", name=order, known=", ".join(ORDERS))
    return order


def insert_shift_scale(
    model: nn.Sequential,
    shift: str | None = None,
    scale: str | None = None,
    *,
    example_input: Tensor,
    order: str = "shift_scale",
) -> nn.Sequential:
    """A copy of ``model`` with ``Shift(shift)`` and ``Scale(scale)`` after the input and after
    every activation but the last (``None`` leaves that layer out).

    ``order="shift_scale"`` (default, the thesis' order): shift, then scale, so a place computes
    ``a * (x + b)``; ``order="scale_shift"``: scale, then shift, ``a * x + b``.
    "The last activation" is the network's output activation (softmax in the thesis), so an
    activation gets the layers when a layer with parameters still follows it: in PyTorch the
    softmax usually sits inside the loss, and the last hidden ReLU is then not the last
    activation. Each layer's shape comes from running ``example_input`` ``(N, *shape)``
    through the model; the new layers take its dtype and device. The copy keeps the weights of
    ``model``; ``model`` itself is unchanged.
    """
    for granularity in (shift, scale):
        if granularity is not None:
            _check_granularity(granularity)
    check_order(order)

    return _insert_after_activations(
        model, example_input, lambda shape: shift_scale_layers(shape, shift, scale, order))


def shift_scale_layers(shape: tuple[int, ...], shift: str | None, scale: str | None,
                       order: str = "shift_scale") -> list[nn.Module]:
    """``Shift(shape, shift)`` and ``Scale(shape, scale)`` for one place, in ``order``
    (``None`` leaves that layer out): ``a * (x + b)`` for ``"shift_scale"``, ``a * x + b``
    for ``"scale_shift"``."""
    layers = {"shift": None if shift is None else Shift(shape, shift),
              "scale": None if scale is None else Scale(shape, scale)}
    return [layers[kind] for kind in order.split("_") if layers[kind] is not None]


def insert_batchnorm(model: nn.Sequential, *, example_input: Tensor) -> nn.Sequential:
    """A copy of ``model`` with batch norm at the places of ``insert_shift_scale``.

    ``BatchNorm2d`` for ``(C, H, W)`` activations, ``BatchNorm1d`` for ``(D,)`` or ``(C, L)``.
    """

    def make(shape):
        return [(BatchNorm2d if len(shape) == 3 else BatchNorm1d)(shape[0])]

    return _insert_after_activations(model, example_input, make)


def _insert_after_activations(
    model: nn.Sequential, example_input: Tensor, make: Callable[[tuple[int, ...]], list]
) -> nn.Sequential:
    """Run ``example_input`` through a copy of ``model`` layer by layer and put ``make(shape)``
    after the input and after every activation but the last. ``model`` must be an
    ``nn.Sequential`` of layers that each take one tensor (the thesis' networks)."""
    if not isinstance(model, nn.Sequential):
        raise CourseError("normalization.not_sequential", got=type(model).__name__)
    check.tensor("example_input", example_input)
    if example_input.dim() < 2 or len(example_input) == 0:
        raise CourseError("validation.bad_shape", name="example_input",
                          got=tuple(example_input.shape), expected="(N, ...), N >= 1")
    modules = list(copy.deepcopy(model))
    shapes = []
    with torch.no_grad():
        h = example_input
        for index, module in enumerate(modules):
            module.eval()
            try:
                h = module(h)
            except (RuntimeError, TypeError, ValueError) as error:
                raise CourseError("normalization.example_failed", index=index,
                                  layer=type(module).__name__, shape=tuple(h.shape),
                                  error=str(error).strip().splitlines()[0][:200]) from error
            if not isinstance(h, Tensor):
                raise CourseError("normalization.not_a_tensor", index=index,
                                  layer=type(module).__name__, got=type(h).__name__)
            shapes.append(tuple(h.shape[1:]))
    learned = [i for i, module in enumerate(modules) if any(True for _ in module.parameters())]
    last = max(learned, default=-1)

    def new(shape):
        return [layer.to(example_input) for layer in make(shape)]

    layers = new(tuple(example_input.shape[1:]))
    for i, (module, shape) in enumerate(zip(modules, shapes, strict=True)):
        layers.append(module)
        if isinstance(module, ACTIVATIONS) and i < last:
            layers.extend(new(shape))
    return nn.Sequential(*layers).train(model.training)


@dataclass(frozen=True)
class Variant:
    """One normalization variant: ``Scale(scale)`` and ``Shift(shift)`` (``None`` = no such
    layer), or batch norm, at the places of ``insert_shift_scale``."""

    name: str
    shift: str | None = None
    scale: str | None = None
    batch_norm: bool = False


def _thesis_variants() -> dict[str, Variant]:
    table = [Variant("none")]
    table += [Variant(f"scale_{g}", scale=g) for g in GRANULARITIES]
    table += [Variant(f"shift_{g}", shift=g) for g in GRANULARITIES]
    table += [Variant(f"shift_scale_{g}", shift=g, scale=g) for g in GRANULARITIES]
    table.append(Variant("batch_norm", batch_norm=True))
    return {v.name: v for v in table}


VARIANTS: dict[str, Variant] = _thesis_variants()
"""The ten tested (scale, shift) combinations of the thesis table, ``none`` first, then
``batch_norm``: eleven variants by name."""

TESTED_COMBINATIONS = frozenset((v.scale, v.shift) for v in VARIANTS.values() if not v.batch_norm)
"""The ticked cells of the thesis table as ``(scale, shift)`` pairs (``None`` = none)."""

LAYERWISE = ("none", "scale_layer", "shift_layer", "shift_scale_layer", "batch_norm")
"""The variants of experiments 2-6 of the thesis: the layerwise ones and the two baselines."""


def insert_variant(model: nn.Sequential, variant: str, *, example_input: Tensor,
                   order: str = "shift_scale") -> nn.Sequential:
    """A copy of ``model`` with the layers of ``VARIANTS[variant]`` after the input and after
    every activation but the last (``insert_shift_scale`` in ``order``, by default the thesis'
    shift-then-scale, or ``insert_batchnorm``, where ``order`` plays no part)."""
    if variant not in VARIANTS:
        raise CourseError("experiments.unknown_variant", name=variant, known=", ".join(VARIANTS))
    check_order(order)
    v = VARIANTS[variant]
    if v.batch_norm:
        return insert_batchnorm(model, example_input=example_input)
    return insert_shift_scale(model, v.shift, v.scale, example_input=example_input, order=order)


def num_parameters(module: nn.Module) -> int:
    """The number of learned values in ``module``, e.g. ``C * H * W`` for ``Shift((C, H, W),
    "element")``."""
    return sum(p.numel() for p in module.parameters())
