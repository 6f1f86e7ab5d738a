"""The artificial neuron, why it needs a nonlinearity, and one hidden layer as an approximator.

A neuron weighs its inputs, adds a bias and applies an activation function ``f``::

    a = f(sum_j w_j x_j + b) = f(w^T x + b)          neuron(x, w, b, f)
    a = f(W x + b),  W of shape (m, n)                layer(x, W, b, f): m neurons at once

Experiments of lecture 01, shared by its notebook and its claim tests:

- ``merge_linear``: two Linear layers without an activation between them are one Linear layer.
- ``dead_fractions``: ReLU units whose pre-activation is negative on every example get no
  gradient at all; a strongly negative bias kills most of them.
- ``stacked_derivative``: the derivative of ``f(f(...f(x)))``; for the sigmoid each factor is at
  most 1/4, so L stacked sigmoids pass at most ``4^-L`` of the gradient.
- ``fit_one_hidden_layer`` / ``width_sweep``: Cybenko's theorem at work on a 1-D function. The
  hidden sigmoids start as soft steps spread evenly over [0, 1] (the picture behind the proof),
  the output layer is solved by least squares, then every weight is trained by Adam.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import activations


def neuron(x: Tensor, w: Tensor, b: float | Tensor, f: Callable[[Tensor], Tensor]) -> Tensor:
    """``f(x @ w + b)``: x (..., n), w (n,), b a scalar; returns (...)."""
    return f(x @ w + b)


def layer(x: Tensor, weight: Tensor, bias: Tensor, f: Callable[[Tensor], Tensor]) -> Tensor:
    """``f(x @ W^T + b)`` for a batch x (N, n), W (m, n), b (m,): m neurons, as ``nn.Linear``."""
    return f(x @ weight.T + bias)


def merge_linear(first: nn.Linear, second: nn.Linear) -> nn.Linear:
    """One Linear layer computing ``second(first(x))``.

    ``W2 (W1 x + b1) + b2 = (W2 W1) x + (W2 b1 + b2)``: the weight is ``W2 W1`` and the bias
    ``W2 b1 + b2``, so stacking linear layers adds no expressive power.
    """
    merged = nn.Linear(first.in_features, second.out_features,
                       dtype=first.weight.dtype, device=first.weight.device)
    with torch.no_grad():
        merged.weight.copy_(second.weight @ first.weight)
        bias = second.bias if second.bias is not None else torch.zeros_like(merged.bias)
        if first.bias is not None:
            bias = second.weight @ first.bias + bias
        merged.bias.copy_(bias)
    return merged


def dead_fraction(z: Tensor) -> float:
    """The fraction of units (columns of z, shape (N, m)) with ``z <= 0`` on every example.

    After a ReLU such a unit outputs 0 and has derivative 0 on all N examples: no gradient
    reaches its weights or its bias, so training cannot bring it back.
    """
    return (z <= 0).all(dim=0).float().mean().item()


def dead_fractions(x: Tensor, biases: Sequence[float], width: int = 128,
                   seed: int = 0) -> list[float]:
    """For each bias b: the dead fraction of ``nn.Linear(D, width)`` applied to x (N, D) with
    every bias set to b (the weights are PyTorch's default, the same for every b)."""
    torch.manual_seed(seed)
    linear = nn.Linear(x.shape[1], width, dtype=x.dtype)
    with torch.no_grad():
        z = x @ linear.weight.T
    return [dead_fraction(z + b) for b in biases]


def units_without_gradient(x: Tensor, y: Tensor, bias: float, f: Callable[[Tensor], Tensor],
                           width: int = 128, seed: int = 0) -> float:
    """The fraction of hidden units whose weights get an all-zero gradient.

    The hidden layer is the one of ``dead_fractions`` (same seed, every bias set to ``bias``),
    followed by the activation ``f`` and a Linear read-out trained with the cross-entropy on
    the class labels y (N,). With ReLU these are exactly the dead units.
    """
    torch.manual_seed(seed)
    hidden = nn.Linear(x.shape[1], width, dtype=x.dtype)
    readout = nn.Linear(width, int(y.max()) + 1, dtype=x.dtype)
    with torch.no_grad():
        hidden.bias.fill_(bias)
    nn.functional.cross_entropy(readout(f(hidden(x))), y).backward()
    return (hidden.weight.grad == 0).all(dim=1).float().mean().item()


def stacked_derivative(name: str, depth: int, x: Tensor) -> Tensor:
    """d/dx of ``f(f(...f(x)))`` with ``depth`` copies of the activation ``name``, elementwise.

    By the chain rule it is the product of ``f'`` at every step; ``name`` is a key of
    ``course_lib.activations.ACTIVATIONS``.
    """
    f, f_grad = activations.ACTIVATIONS[name]
    h, derivative = x, torch.ones_like(x)
    for _ in range(depth):
        derivative = derivative * f_grad(h)
        h = f(h)
    return derivative


def max_stacked_derivative(name: str, depths: Sequence[int],
                           x: Tensor | None = None) -> list[float]:
    """``max_x |d/dx f^(L)(x)|`` for each depth L, over x in [-6, 6] by default (float64)."""
    if x is None:
        x = torch.linspace(-6, 6, 1201, dtype=torch.float64)
    return [stacked_derivative(name, depth, x).abs().max().item() for depth in depths]


def step_network(width: int, slope: float | None = None) -> nn.Sequential:
    """``Linear(1, width) -> Sigmoid -> Linear(width, 1)`` whose hidden units are soft steps.

    Unit j is ``sigmoid(s (x - c_j))`` with centres ``c_j = (j + 1/2) / width`` spread evenly
    over [0, 1] and slope ``s = 4 width`` (by default), so neighbouring steps overlap a little.
    The output layer starts at zero.
    """
    slope = 4.0 * width if slope is None else slope
    centres = (torch.arange(width, dtype=torch.float32) + 0.5) / width
    net = nn.Sequential(nn.Linear(1, width), nn.Sigmoid(), nn.Linear(width, 1))
    with torch.no_grad():
        net[0].weight.fill_(slope)
        net[0].bias.copy_(-slope * centres)
        net[2].weight.zero_()
        net[2].bias.zero_()
    return net


def fit_output_layer(net: nn.Sequential, x: Tensor, y: Tensor) -> nn.Sequential:
    """Set the last Linear layer of ``net`` to the least-squares solution on (x, y), in place.

    With the hidden features ``H = net[:-1](x)`` fixed, the best output weights solve
    ``min ||[H, 1] v - y||^2`` in closed form (computed in float64).
    """
    with torch.no_grad():
        hidden = net[:-1](x).double()
        design = torch.cat([hidden, torch.ones(len(hidden), 1, dtype=torch.float64)], dim=1)
        solution = torch.linalg.lstsq(design, y.double(), driver="gelsd").solution
        out = net[-1]
        out.weight.copy_(solution[:-1].T.to(out.weight.dtype))
        out.bias.copy_(solution[-1].to(out.bias.dtype))
    return net


def train(net: nn.Module, x: Tensor, y: Tensor, steps: int, lr: float = 0.01) -> list[float]:
    """Full-batch Adam on the mean squared error; returns the loss before every step."""
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        loss = nn.functional.mse_loss(net(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def fit_one_hidden_layer(x: Tensor, y: Tensor, width: int, steps: int = 0,
                         lr: float = 0.01) -> nn.Sequential:
    """``step_network(width)``, its output layer by least squares, then ``steps`` of Adam."""
    net = fit_output_layer(step_network(width), x, y)
    train(net, x, y, steps, lr)
    return net


def sine_target(x: Tensor, waves: int = 5) -> Tensor:
    """The noiseless function behind ``course_lib.data.noisy_sines``: ``sin(2 pi waves x)``."""
    return torch.sin(2 * math.pi * waves * x)


def approximation_error(net: nn.Module, target: Callable[[Tensor], Tensor] = sine_target,
                        points: int = 1001) -> float:
    """Mean squared distance between ``net`` and ``target`` on an even grid over [0, 1]."""
    grid = torch.linspace(0, 1, points).unsqueeze(1)
    with torch.no_grad():
        return nn.functional.mse_loss(net(grid), target(grid)).item()


@dataclass
class Fit:
    """One width of ``width_sweep``: the trained net and its error before and after training."""

    width: int
    net: nn.Sequential
    error_least_squares: float
    error_trained: float


def width_sweep(x: Tensor, y: Tensor, widths: Sequence[int], steps: int, lr: float = 0.01,
                target: Callable[[Tensor], Tensor] = sine_target) -> list[Fit]:
    """Fit a one-hidden-layer sigmoid network of each width to (x, y); errors against target."""
    fits = []
    for width in widths:
        net = fit_output_layer(step_network(width), x, y)
        before = approximation_error(net, target)
        train(net, x, y, steps, lr)
        fits.append(Fit(width, net, before, approximation_error(net, target)))
    return fits


def line_error(x: Tensor, y: Tensor, target: Callable[[Tensor], Tensor] = sine_target) -> float:
    """The error of the best line ``a x + c`` fitted to (x, y) by least squares: what any stack
    of linear layers without an activation can reach on a 1-D input."""
    line = fit_output_layer(nn.Sequential(nn.Identity(), nn.Linear(1, 1)), x, y)
    return approximation_error(line, target)


class Markdown(str):
    """A string that a notebook shows as rendered markdown (tables, LaTeX formulas)."""

    def _repr_markdown_(self) -> str:
        return str(self)


def activation_table(lang: str | None = None) -> Markdown:
    """The lecture table of activations (``activations.properties_table``) for display, as two
    tables that fit a notebook's width: the mathematics (name, formula, derivative, range),
    then the behaviour (name, zero-centred, saturating, dead neurons, when to use)."""
    rows = activations.properties_table(lang)
    header = list(rows[0])
    return Markdown("\n\n".join(_markdown_table(rows, columns)
                                 for columns in (header[:4], header[:1] + header[4:])))


def _markdown_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(row[c].replace("|", r"\|") for c in columns) + " |"
              for row in rows]
    return "\n".join(lines)
