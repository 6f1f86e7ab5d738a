"""Joining two teachers into one model twice as wide, with L0 gates (the merging talk's first
step of the error-driven algorithm; the layer-by-layer layout below is ours).

Two teachers A and B of the same architecture become one network whose every hidden layer has
the units of both, A's first. For a layer with weight ``W_A, W_B`` of shape ``(out, in)`` (a
convolution: ``(out, in, k, k)``) and bias ``b_A, b_B``::

    first layer    W = [W_A; W_B]                (2 out, in)      both read the shared input
    hidden layer   W = [[W_A, 0], [0, W_B]]      (2 out, 2 in)    off-diagonal blocks start at
                                                                  zero and are trainable
    last layer     W = [W_A, W_B] / 2            (out, 2 in)      b = (b_A + b_B) / 2
    batch norm     gamma, beta, running mean and variance of A and B concatenated, (2 C,)

so before training the joined model computes ``(A(x) + B(x)) / 2`` exactly (batch norm in eval
mode). A ``HardConcreteGate`` multiplies the output of every activation (per neuron after a
Linear layer, per channel after a convolution); ``gate_penalty`` asks each gate layer to keep
half of its units, and ``prune`` keeps exactly the teacher's width of every layer, ranked by
``log_alpha``, and returns a model of the teacher's architecture.

This module joins MLPs (``models.mlp``) and ``models.LeNet``; ResNets are in
``course_lib.labs.merging.resnet``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import Tensor, nn

from ...i18n import CourseError
from ...l0 import HardConcreteGate

OPEN_KEEP = 0.99
"""Initial ``P[g > 0]`` of the gates of a joined model: ``log_alpha = 3.0``, whose test-time gate
is exactly 1, so the joined model starts as the teachers' average."""

POSITIONS = ("first", "hidden", "last")


def check_pair(a: nn.Module, b: nn.Module) -> None:
    """The teachers must be of one class with the same state-dict keys and shapes."""
    shapes_a = {k: tuple(v.shape) for k, v in a.state_dict().items()}
    shapes_b = {k: tuple(v.shape) for k, v in b.state_dict().items()}
    if type(a) is not type(b) or shapes_a != shapes_b:
        raise CourseError("merging.different_teachers", a=type(a).__name__, b=type(b).__name__)


@torch.no_grad()
def join_layer(a: nn.Linear | nn.Conv2d, b: nn.Linear | nn.Conv2d, position: str) -> nn.Module:
    """One layer of the joined model from the teachers' layers ``a`` and ``b`` (both Linear or
    both Conv2d of the same shape), by ``position`` ``"first"``, ``"hidden"`` or ``"last"`` as in
    the module docstring. A new module; the teachers are not changed."""
    if position not in POSITIONS:
        raise CourseError("merging.bad_position", value=position, known=", ".join(POSITIONS))
    out_f, in_f = a.weight.shape[:2]
    rows = out_f if position == "last" else 2 * out_f
    cols = in_f if position == "first" else 2 * in_f
    if isinstance(a, nn.Linear):
        joined = nn.Linear(cols, rows, bias=a.bias is not None)
    else:
        joined = nn.Conv2d(cols, rows, a.kernel_size, a.stride, a.padding, a.dilation,
                           bias=a.bias is not None)
    joined = joined.to(a.weight.device, a.weight.dtype)
    wa, wb = a.weight, b.weight
    if position == "first":
        joined.weight.copy_(torch.cat([wa, wb]))
    elif position == "hidden":
        joined.weight.zero_()
        joined.weight[:out_f, :in_f] = wa
        joined.weight[out_f:, in_f:] = wb
    else:
        joined.weight.copy_(torch.cat([wa, wb], dim=1) / 2)
    if a.bias is not None:
        joined.bias.copy_((a.bias + b.bias) / 2 if position == "last" else torch.cat([a.bias,
                                                                                     b.bias]))
    return joined


@torch.no_grad()
def join_batchnorm(a: nn.BatchNorm2d, b: nn.BatchNorm2d) -> nn.BatchNorm2d:
    """``BatchNorm2d(2 C)`` with the parameters and running statistics of ``a`` then ``b``."""
    joined = nn.BatchNorm2d(2 * a.num_features, a.eps, a.momentum).to(a.weight.device,
                                                                        a.weight.dtype)
    for name, value in a.state_dict().items():
        other = b.state_dict()[name]
        target = getattr(joined, name)
        target.copy_(torch.maximum(value, other) if value.dim() == 0 else torch.cat([value,
                                                                                     other]))
    return joined


def keep_indices(gate: HardConcreteGate, count: int) -> Tensor:
    """The ``count`` units with the largest ``log_alpha`` (ties: the lower index, so A's unit
    wins), in increasing order; a long tensor of shape ``(count,)``."""
    order = torch.argsort(gate.log_alpha.detach(), descending=True, stable=True)
    return order[:count].sort().values


@torch.no_grad()
def take(layer: nn.Linear | nn.Conv2d, rows: Tensor | None, cols: Tensor | None,
         col_scale: Tensor | None = None) -> dict[str, Tensor]:
    """``weight[rows][:, cols] * col_scale`` (and ``bias[rows]``) of a joined layer as a state
    dict for the student's layer; ``None`` keeps all rows or columns. ``col_scale`` of shape
    ``(len(cols),)`` folds the test-time gates of the inputs into the weights."""
    w = layer.weight if rows is None else layer.weight[rows]
    if cols is not None:
        w = w[:, cols]
    if col_scale is not None:
        w = w * col_scale.view(1, -1, *(1,) * (w.dim() - 2))
    state = {"weight": w.clone()}
    if layer.bias is not None:
        state["bias"] = (layer.bias if rows is None else layer.bias[rows]).clone()
    return state


@torch.no_grad()
def take_batchnorm(bn: nn.BatchNorm2d, rows: Tensor) -> dict[str, Tensor]:
    """The channels ``rows`` of a joined batch norm as a state dict."""
    return {name: value.clone() if value.dim() == 0 else value[rows].clone()
            for name, value in bn.state_dict().items()}


class GatedModel(nn.Module):
    """What every joined model shares: its gate layers and the "half of each layer" penalty.

    Subclasses list their gates in ``gates`` (one ``HardConcreteGate`` per gate layer) and
    define ``point_gates()``, the gate that selects the units of each activation output in
    forward order (one entry per call of a ReLU, as in the teacher), and ``prune()``.
    ``use_gates = False`` skips every gate: the model then computes the teachers' features
    side by side.
    """

    gates: nn.ModuleList
    use_gates: bool = True

    def _gate(self, gate: HardConcreteGate, x: Tensor) -> Tensor:
        return gate(x) if self.use_gates else x

    def gate_penalty(self) -> Tensor:
        """``sum over gate layers of (mean_c P[g_c > 0] - 0.5)^2``, a scalar."""
        return sum((g.keep_probability().mean() - 0.5) ** 2 for g in self.gates)

    def keep_probabilities(self) -> list[float]:
        """The mean ``P[g > 0]`` of every gate layer."""
        return [g.keep_probability().mean().item() for g in self.gates]

    def open_fractions(self) -> list[float]:
        """The fraction of units whose test-time gate is above 0, per gate layer."""
        return [g.active().float().mean().item() for g in self.gates]



def new_gate(width: int) -> HardConcreteGate:
    return HardConcreteGate(width, init_keep=OPEN_KEEP)


class JoinedMLP(GatedModel):
    """Two ``models.mlp`` teachers joined: ``Linear, act, gate, ..., Linear`` with every hidden
    width doubled; input ``(N, in)``, output ``(N, out)``. Dropout layers are kept."""

    def __init__(self, a: nn.Sequential, b: nn.Sequential):
        super().__init__()
        if not isinstance(a, nn.Sequential):
            raise CourseError("merging.unsupported_model", name=type(a).__name__)
        check_pair(a, b)
        linears = [m for m in a if isinstance(m, nn.Linear)]
        if len(linears) < 2:
            raise CourseError("merging.unsupported_model", name=type(a).__name__)
        self.template = copy.deepcopy(a)
        layers, gates, count = [], [], 0
        for ma, mb in zip(a, b, strict=True):
            if isinstance(ma, nn.Linear):
                position = ("first" if count == 0 else
                            "last" if count == len(linears) - 1 else "hidden")
                layers.append(join_layer(ma, mb, position))
                count += 1
            elif isinstance(ma, nn.Dropout):
                layers.append(copy.deepcopy(ma))
            else:
                gate = new_gate(2 * linears[count - 1].out_features)
                layers += [copy.deepcopy(ma), gate]
                gates.append(gate)
        self.body = nn.Sequential(*layers)
        self.gates = nn.ModuleList(gates)

    def forward(self, x: Tensor) -> Tensor:
        for module in self.body:
            x = self._gate(module, x) if isinstance(module, HardConcreteGate) else module(x)
        return x

    def point_gates(self) -> list[HardConcreteGate]:
        return list(self.gates)

    @torch.no_grad()
    def prune(self) -> nn.Sequential:
        """The teacher-shaped MLP keeping the top half of every hidden layer; the test-time
        gates of the kept units are folded into the next layer's weights."""
        student = copy.deepcopy(self.template)
        linears = [m for m in self.body if isinstance(m, nn.Linear)]
        targets = [m for m in student if isinstance(m, nn.Linear)]
        keeps = [keep_indices(g, g.num_features // 2) for g in self.gates]
        for i, (joined, target) in enumerate(zip(linears, targets, strict=True)):
            rows = keeps[i] if i < len(keeps) else None
            cols = keeps[i - 1] if i > 0 else None
            scale = self.gates[i - 1].gate()[cols] if i > 0 else None
            target.load_state_dict(take(joined, rows, cols, scale))
        return student


class JoinedLeNet(GatedModel):
    """Two ``models.LeNet`` teachers joined: 12 and 32 channels, 240 and 168 neurons, a gate
    after each of the four ReLUs (after the max pooling for the convolutions: a gate ``g >= 0``
    per channel commutes with it). Input and output as the teachers'."""

    def __init__(self, a: nn.Module, b: nn.Module):
        super().__init__()
        check_pair(a, b)
        self.template = copy.deepcopy(a)
        self.conv1 = join_layer(a.conv1, b.conv1, "first")
        self.conv2 = join_layer(a.conv2, b.conv2, "hidden")
        self.fc1 = join_layer(a.fc1, b.fc1, "hidden")
        self.fc2 = join_layer(a.fc2, b.fc2, "hidden")
        self.fc3 = join_layer(a.fc3, b.fc3, "last")
        self.relu, self.pool = nn.ReLU(), nn.MaxPool2d(2)
        self.gates = nn.ModuleList(
            new_gate(2 * n) for n in (a.conv1.out_channels, a.conv2.out_channels,
                                       a.fc1.out_features, a.fc2.out_features)
        )
        self.spatial = a.fc1.in_features // a.conv2.out_channels
        """``k * k``: positions per channel of conv2's output, columns per channel of fc1."""

    def forward(self, x: Tensor) -> Tensor:
        g1, g2, g3, g4 = self.gates
        x = self._gate(g1, self.pool(self.relu(self.conv1(x))))
        x = self._gate(g2, self.pool(self.relu(self.conv2(x))))
        x = self._gate(g3, self.relu(self.fc1(torch.flatten(x, 1))))
        x = self._gate(g4, self.relu(self.fc2(x)))
        return self.fc3(x)

    def point_gates(self) -> list[HardConcreteGate]:
        return list(self.gates)

    @torch.no_grad()
    def prune(self) -> nn.Module:
        """The teacher-shaped LeNet keeping the top half of every layer; fc1 keeps the
        ``k * k`` columns of every kept channel of conv2. Test-time gates are folded into the
        next layer's weights, so the student computes the gated joined model restricted to the
        kept units."""
        k1, k2, k3, k4 = (keep_indices(g, g.num_features // 2) for g in self.gates)
        v1, v2, v3, v4 = (g.gate() for g in self.gates)
        cols2 = (k2.view(-1, 1) * self.spatial + torch.arange(self.spatial,
                                                               device=k2.device)).flatten()
        scale2 = v2[k2].repeat_interleave(self.spatial)
        student = copy.deepcopy(self.template)
        student.conv1.load_state_dict(take(self.conv1, k1, None))
        student.conv2.load_state_dict(take(self.conv2, k2, k1, v1[k1]))
        student.fc1.load_state_dict(take(self.fc1, k3, cols2, scale2))
        student.fc2.load_state_dict(take(self.fc2, k4, k3, v3[k3]))
        student.fc3.load_state_dict(take(self.fc3, None, k4, v4[k4]))
        return student


def check_positive_int(name: str, value) -> None:
    """``value`` must be an int >= 1 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise CourseError("merging.not_positive", name=name, value=value)


def check_non_negative(name: str, value) -> None:
    """``value`` must be a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value >= 0
    ):
        raise CourseError("merging.not_non_negative", name=name, value=value)


def check_positive_number(name: str, value) -> None:
    """``value`` must be a finite number > 0 (a learning rate)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and value > 0
    ):
        raise CourseError("merging.bad_lr", name=name, value=value)
