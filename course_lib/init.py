"""Weight initialization: constant, uniform, normal, Xavier/Glorot and He/Kaiming.

Every ``*_`` function fills a tensor in place (like ``torch.nn.init``, same arguments, same
random numbers for the same ``generator``) and returns it.

Why the scale matters. A unit computes ``y = sum_i w_i x_i`` over ``fan_in`` inputs. With
independent, zero-mean ``w_i`` and ``x_i``::

    Var[y] = fan_in * Var[w] * Var[x]

so the variance is kept from layer to layer when ``Var[w] = 1 / fan_in``; the backward pass
asks for ``Var[w] = 1 / fan_out``. Glorot and Bengio (2010) take the compromise

    Xavier:  Var[w] = gain^2 * 2 / (fan_in + fan_out)

and He et al. (2015) note that ReLU zeroes half of its inputs, so ``E[relu(y)^2] = Var[y] / 2``,
and double the variance:

    He:      Var[w] = gain^2 / fan,   gain^2 = 2 for ReLU,   fan = fan_in or fan_out

A uniform ``U(-b, b)`` has variance ``b^2 / 3``, hence the bounds ``b = sqrt(3 Var[w])``.

``depth_statistics`` measures what these formulas promise: the mean and standard deviation of
the activations and of their gradients, layer by layer. ``init_model`` applies a scheme by name
to every Linear and Conv layer of a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .i18n import CourseError

LINEAR_GAINS = ("linear", "conv1d", "conv2d", "conv3d") + tuple(
    f"conv_transpose{d}d" for d in (1, 2, 3)
)
NONLINEARITIES = LINEAR_GAINS + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")
MODES = ("fan_in", "fan_out")

ACTIVATIONS = (
    nn.ReLU, nn.LeakyReLU, nn.PReLU, nn.ReLU6, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU,
    nn.Mish, nn.Tanh, nn.Sigmoid, nn.Hardtanh, nn.Hardsigmoid, nn.Hardswish, nn.Softplus,
    nn.Softsign, nn.Softmax, nn.LogSoftmax,
)
"""Module types counted as activation layers (by ``depth_statistics`` and ``normalization``)."""

LEARNED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
"""Module types whose ``weight`` ``init_model`` initializes."""


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The gain that keeps ``E[f(y)^2] = Var[y]`` for ``f = nonlinearity``, as in torch.

    ========================= ===============================
    nonlinearity              gain
    ========================= ===============================
    linear, conv*, sigmoid    1
    tanh                      5/3
    relu                      sqrt(2)
    leaky_relu (slope ``a``)  sqrt(2 / (1 + a^2)), a = 0.01 by default
    selu                      3/4
    ========================= ===============================
    """
    if nonlinearity in LINEAR_GAINS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, int | float):
            raise CourseError("init.bad_slope", slope=param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    known = ", ".join(NONLINEARITIES)
    raise CourseError("init.unknown_nonlinearity", name=nonlinearity, known=known)


def fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *kernel)``.

    ``fan_in = in * prod(kernel)``, ``fan_out = out * prod(kernel)``: the number of inputs that
    reach one output unit, and of outputs that one input reaches. Needs at least 2 dimensions.
    """
    if tensor.dim() < 2:
        raise CourseError("init.too_few_dims", ndim=tensor.dim())
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.size(1) * receptive_field, tensor.size(0) * receptive_field


def _fan(tensor: Tensor, mode: str) -> int:
    if mode not in MODES:
        raise CourseError("init.unknown_mode", name=mode, known=", ".join(MODES))
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


@torch.no_grad()
def constant_(tensor: Tensor, val: float) -> Tensor:
    """Every entry equal to ``val``. All units of a layer then stay identical during training."""
    return tensor.fill_(val)


@torch.no_grad()
def uniform_(
    tensor: Tensor, a: float = 0.0, b: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """``w ~ U(a, b)``: mean ``(a + b) / 2``, variance ``(b - a)^2 / 12``."""
    return tensor.uniform_(a, b, generator=generator)


@torch.no_grad()
def normal_(
    tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """``w ~ N(mean, std^2)``."""
    return tensor.normal_(mean, std, generator=generator)


def _symmetric_uniform_(tensor: Tensor, bound: float, generator) -> Tensor:
    return uniform_(tensor, -bound, bound, generator)


def xavier_uniform_(
    tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Glorot uniform: ``w ~ U(-b, b)``, ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    Then ``Var[w] = b^2 / 3 = gain^2 * 2 / (fan_in + fan_out)``.
    """
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    return _symmetric_uniform_(tensor, gain * math.sqrt(6.0 / (fan_in + fan_out)), generator)


def xavier_normal_(
    tensor: Tensor, gain: float = 1.0, generator: torch.Generator | None = None
) -> Tensor:
    """Glorot normal: ``w ~ N(0, std^2)``, ``std^2 = Var[w] = gain^2 * 2 / (fan_in + fan_out)``."""
    fan_in, fan_out = fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """He uniform: ``w ~ U(-b, b)``, ``b = gain * sqrt(3 / fan)``, so ``Var[w] = gain^2 / fan``.

    ``fan`` is ``fan_in`` (keeps the forward variance) or ``fan_out`` (keeps the backward one);
    ``gain = calculate_gain(nonlinearity, a)``, ``a`` the negative slope of a leaky ReLU. The
    defaults give ``gain = sqrt(2)``, the ReLU case.
    """
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(tensor, mode))
    return _symmetric_uniform_(tensor, bound, generator)


def kaiming_normal_(
    tensor: Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: torch.Generator | None = None,
) -> Tensor:
    """He normal: ``w ~ N(0, std^2)``, ``std^2 = Var[w] = gain^2 / fan`` (see kaiming_uniform_)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return normal_(tensor, 0.0, std, generator)


SCHEMES: dict[str, Callable[..., Tensor]] = {
    "constant": lambda w, gain, value, g: constant_(w, value),
    "small": lambda w, gain, value, g: normal_(w, 0.0, 0.01, g),
    "large": lambda w, gain, value, g: normal_(w, 0.0, 1.0, g),
    "xavier": lambda w, gain, value, g: xavier_normal_(w, gain, g),
    "xavier_uniform": lambda w, gain, value, g: xavier_uniform_(w, gain, g),
    "he": lambda w, gain, value, g: normal_(w, 0.0, gain / math.sqrt(_fan(w, "fan_in")), g),
    "he_uniform": lambda w, gain, value, g: _symmetric_uniform_(
        w, gain * math.sqrt(3.0 / _fan(w, "fan_in")), g
    ),
}
"""``init_model`` schemes: name -> ``f(weight, gain, value, generator)``.

constant: ``w = value`` (symmetry is never broken); small: ``N(0, 0.01^2)`` (activations vanish
with depth); large: ``N(0, 1)`` (they explode, or saturate tanh); xavier, xavier_uniform: Glorot;
he, he_uniform: ``Var[w] = gain^2 / fan_in``, the same numbers as ``kaiming_*_``.
"""


def init_model(
    model: nn.Module,
    scheme: str,
    nonlinearity: str = "relu",
    param: float | None = None,
    value: float = 0.1,
    generator: torch.Generator | None = None,
) -> nn.Module:
    """Initialize the weight of every Linear and Conv layer of ``model`` by ``scheme``.

    Biases become 0. ``gain = calculate_gain(nonlinearity, param)`` for the activation that
    follows the layers (xavier and he use it); ``value`` is the weight of the ``constant``
    scheme. Returns ``model``.
    """
    if scheme not in SCHEMES:
        raise CourseError("init.unknown_scheme", name=scheme, known=", ".join(SCHEMES))
    gain = calculate_gain(nonlinearity, param)
    for module in model.modules():
        if isinstance(module, LEARNED):
            SCHEMES[scheme](module.weight, gain, value, generator)
            if module.bias is not None:
                constant_(module.bias, 0.0)
    return model


@dataclass
class LayerStats:
    """Statistics of one layer's output ``h`` and of ``dL/dh`` over a batch."""

    index: int
    name: str
    kind: str
    act_mean: float
    act_std: float
    grad_mean: float
    grad_std: float


def depth_statistics(
    model: nn.Module,
    x: Tensor,
    loss_fn: Callable[[Tensor], Tensor] | None = None,
    at: str = "activations",
) -> list[LayerStats]:
    """Mean and std of each layer's output and of the gradient of the loss with respect to it.

    ``at="activations"`` records every activation module (types in ``ACTIVATIONS``),
    ``at="linear"`` every Linear and Conv output. Forward hooks catch the outputs; their
    gradients come from ``torch.autograd.grad(loss_fn(model(x)), outputs)``, so the ``.grad`` of
    the parameters is left untouched. ``loss_fn(output)`` returns a scalar (close over targets:
    ``lambda out: F.cross_entropy(out, y)``); by default ``output.sum()``, an upstream gradient
    of ones. Activation modules must not work in place. One row per recorded call, in the order
    of the forward pass.
    """
    kinds = {"activations": ACTIVATIONS, "linear": LEARNED}
    if at not in kinds:
        raise CourseError("init.unknown_layers", name=at, known=", ".join(kinds))
    names, outputs = [], []

    def record(name):
        def hook(module, inputs, output):
            names.append((name, type(module).__name__))
            outputs.append(output)

        return hook

    handles = [
        module.register_forward_hook(record(name))
        for name, module in model.named_modules()
        if isinstance(module, kinds[at])
    ]
    try:
        with torch.enable_grad():
            out = model(x.detach().requires_grad_(True))
            loss = out.sum() if loss_fn is None else loss_fn(out)
            grads = torch.autograd.grad(loss, outputs, allow_unused=True, materialize_grads=True)
    finally:
        for handle in handles:
            handle.remove()
    return [
        LayerStats(
            index, name, kind, h.mean().item(), h.std().item(), g.mean().item(), g.std().item()
        )
        for index, ((name, kind), h, g) in enumerate(zip(names, outputs, grads, strict=True))
    ]
