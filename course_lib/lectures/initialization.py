"""Experiments of lecture 03 (initialization): deep plain nets seen layer by layer.

    model = deep_net("tanh", "xavier", depth=10, width=256)
    rows = depth_profile(model, x)              # std of activations and gradients per layer
    acts, grads = layer_values(model, x)        # the values themselves, for histograms
    history = train_digits("relu", "he", depth=10, width=64, epochs=5)
    _, clipped = train_digits("relu", "he", lr=1.0, clip_grad_norm=0.1, grad_norms=True)

The nets are ``course_lib.models.mlp``: ``depth`` hidden layers ``Linear -> activation`` and a
linear output layer. ``init_model`` of ``course_lib.init`` sets their weights by a scheme of
the lecture (``SCHEMES``); biases start at 0. The loss of ``depth_profile`` and
``layer_values`` is ``L = sum(out * upstream)``: its gradient with respect to the output is a
fixed standard normal ``upstream``, so the gradients that reach the hidden layers show what the
net does to a gradient of standard deviation 1 on its way back.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import data
from ..i18n import CourseError, format_number, t
from ..init import ACTIVATIONS, LayerStats, depth_statistics, init_model
from ..models import mlp
from ..training import History, fit

SCHEMES: tuple[str, ...] = ("constant", "small", "large", "xavier", "he")
"""Initializations compared in the lecture: constant 0.1, N(0, 0.01^2), N(0, 1), Xavier
(Glorot) normal ``Var[w] = 2 / (fan_in + fan_out)`` and He normal ``Var[w] = 2 / fan_in``."""

NONLINEARITIES: tuple[str, ...] = ("tanh", "relu", "sigmoid")


def _check(name: str, value: str, known: Sequence[str]) -> None:
    if value not in known:
        raise CourseError("lecture03.unknown_choice", what=name, name=value,
                          known=", ".join(known))


def deep_net(activation: str, scheme: str, depth: int = 10, width: int = 256,
             n_in: int | None = None, n_out: int | None = None, xavier_gain: bool = False,
             seed: int = 0) -> nn.Sequential:
    """``Flatten``, then ``mlp([n_in, width x depth, n_out], activation)``, by ``scheme``.

    ``n_in`` and ``n_out`` default to ``width``. Xavier uses gain 1 (Glorot's derivation for a
    linear unit) unless ``xavier_gain``, then the activation's gain from ``calculate_gain``
    (5/3 for tanh, sqrt(2) for ReLU). He is always ``Var[w] = 2 / fan_in``. The weights come
    from a generator seeded with ``seed``, so the same call gives the same net everywhere.
    """
    _check("activation", activation, NONLINEARITIES)
    _check("scheme", scheme, SCHEMES)
    sizes = [n_in or width] + [width] * depth + [n_out or width]
    model = nn.Sequential(nn.Flatten(), *mlp(sizes, activation))
    nonlinearity = {"he": "relu", "xavier": activation if xavier_gain else "linear"}
    generator = torch.Generator().manual_seed(seed)
    return init_model(model, scheme, nonlinearity=nonlinearity.get(scheme, "linear"),
                      generator=generator)


def inputs(batch: int, width: int, seed: int = 101) -> Tensor:
    """A batch of standard normal inputs ``(batch, width)``, the same for every net.

    Its seed differs from the nets' (``deep_net`` uses 0): drawn from the same stream, the
    inputs would equal the first weight matrix up to scale and be far from independent.
    """
    return torch.randn(batch, width, generator=torch.Generator().manual_seed(seed))


def upstream_loss(out: Tensor, seed: int = 202) -> Tensor:
    """``sum(out * upstream)`` with a fixed standard normal ``upstream`` of ``out``'s shape."""
    upstream = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    return (out * upstream.to(out)).sum()


def depth_profile(model: nn.Module, x: Tensor) -> list[LayerStats]:
    """``depth_statistics`` of every activation layer under ``upstream_loss``."""
    return depth_statistics(model, x, loss_fn=upstream_loss)


def layer_values(model: nn.Module, x: Tensor) -> tuple[list[Tensor], list[Tensor]]:
    """The output ``h_l`` of every activation layer and ``dL/dh_l`` under ``upstream_loss``."""
    outputs: list[Tensor] = []
    handles = [m.register_forward_hook(lambda m, i, o: outputs.append(o))
               for m in model.modules() if isinstance(m, ACTIVATIONS)]
    try:
        with torch.enable_grad():
            loss = upstream_loss(model(x))
            grads = torch.autograd.grad(loss, outputs)
    finally:
        for handle in handles:
            handle.remove()
    return [h.detach() for h in outputs], [g.detach() for g in grads]


def distinct_units(layer: nn.Linear, rtol: float = 1e-5) -> int:
    """How many different units (rows of ``weight`` with their bias) a layer has.

    Two units count as the same when their rows differ by less than ``rtol`` times the largest
    weight: float rounding may differ in the last bits between machines.
    """
    rows = torch.cat([layer.weight, layer.bias[:, None]], dim=1).detach()
    tol = rtol * max(rows.abs().max().item(), 1e-30)
    representatives: list[Tensor] = []
    for row in rows:
        if not any((row - rep).abs().max() <= tol for rep in representatives):
            representatives.append(row)
    return len(representatives)


def hidden_layers(model: nn.Module) -> list[nn.Linear]:
    """The Linear layers of ``model`` but the last (the output layer)."""
    return [m for m in model.modules() if isinstance(m, nn.Linear)][:-1]


def train_digits(activation: str, scheme: str, depth: int = 10, width: int = 64,
                 epochs: int = 5, lr: float = 0.05, batch_size: int = 64, seed: int = 0,
                 xavier_gain: bool = False, device=None, clip_grad_norm: float | None = None,
                 grad_norms: bool = False) -> tuple[nn.Module, History]:
    """Train ``deep_net`` (64 inputs, 10 classes) on the digits with SGD, momentum 0.9.

    Returns the trained model and its ``History`` (training loss per epoch, validation
    accuracy). The same seed gives the same initial weights and the same mini-batches.
    ``clip_grad_norm`` clips the gradients by norm before every step (``fit``'s argument);
    ``grad_norms`` records the norm of every step (before clipping) in the history.
    """
    torch.manual_seed(seed)
    model = deep_net(activation, scheme, depth, width, n_in=64, n_out=10,
                     xavier_gain=xavier_gain, seed=seed)
    train_loader, val_loader, _ = data.load("digits").loaders(batch_size=batch_size, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    history = fit(model, train_loader, optimizer, epochs=epochs, val_data=val_loader,
                  device=device, progress=False, grad_norms=grad_norms,
                  clip_grad_norm=clip_grad_norm)
    return model, history


def largest_grad_norm(history: History) -> float:
    """The largest gradient norm of a run (before clipping); ``inf`` once any was inf or NaN."""
    norms = history.step_grad_norm
    return max(norms) if norms and all(map(math.isfinite, norms)) else math.inf


def clipping_row(label: str, history: History, lang: str | None = None) -> str:
    """One line about a run: its largest gradient norm, its last training loss and validation
    accuracy (``nan`` once the loss overflowed), in ``lang``."""
    return _tr("clip_run", lang, run=label, norm=largest_grad_norm(history),
               loss=history.train_loss[-1], accuracy=history.val_acc[-1],
               epochs=history.epochs)


def _tr(key: str, lang: str | None, **fields) -> str:
    return t(f"lecture03.{key}", lang=lang, **fields)


def scheme_label(scheme: str, lang: str | None = None) -> str:
    """The scheme's name in a legend, e.g. ``small (σ = 0.01)``, in ``lang``."""
    _check("scheme", scheme, SCHEMES)
    return _tr(f"scheme_{scheme}", lang)


def scheme_color(scheme: str) -> str:
    """One matplotlib colour per scheme, the same in every plot of the lecture."""
    _check("scheme", scheme, SCHEMES)
    return f"C{(SCHEMES.index(scheme) + 4) % 5}"


def _readable_log_axis(ax) -> None:
    """Plain tick labels (0.3, 0.5; 0,3 in sk, sr, ru) instead of 3x10^-1 over few decades."""
    from matplotlib.ticker import FuncFormatter

    def some(value, _):
        mantissa = value / 10 ** math.floor(math.log10(value))
        return format_number(value, ".2g") if round(mantissa) in (1, 2, 3, 5) else ""

    low, high = ax.get_ylim()
    if high / low < 100:
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, ".2g")))
        ax.yaxis.set_minor_formatter(FuncFormatter(some))


def _label_and_color(key: str, position: int, lang: str | None) -> tuple[str, str]:
    """A scheme name gets its localized label and its colour; any other key is a label."""
    if key in SCHEMES:
        return scheme_label(key, lang), scheme_color(key)
    return key, f"C{5 + position}"


def plot_std_by_depth(profiles: dict[str, list[LayerStats]], lang: str | None = None,
                      title: str = ""):
    """Two panels: std of the activations and of their gradients per layer, log scale.

    ``profiles`` maps a scheme name (labelled and coloured as everywhere in the lecture) or any
    other legend label to the rows of ``depth_statistics``.
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.5, 3.2))
    for i, (key, rows) in enumerate(profiles.items()):
        label, color = _label_and_color(key, i, lang)
        style = {"marker": ".", "label": label, "color": color}
        layers = [r.index + 1 for r in rows]
        axes[0].semilogy(layers, [max(r.act_std, 1e-30) for r in rows], **style)
        axes[1].semilogy(layers, [max(r.grad_std, 1e-30) for r in rows], **style)
    axes[0].set_ylabel(_tr("act_std", lang))
    axes[1].set_ylabel(_tr("grad_std", lang))
    for ax in axes:
        ax.set_xlabel(_tr("layer", lang))
        _readable_log_axis(ax)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_histograms(values: dict[str, list[Tensor]], layers: Sequence[int],
                    lang: str | None = None, magnitudes: bool = False, title: str = ""):
    """A grid of histograms: one row per entry of ``values``, one column per layer (from 1).

    Keys are scheme names or other row labels, as in ``plot_std_by_depth``.
    With ``magnitudes`` each histogram shows ``log10 |value|`` on one shared axis, so a
    gradient that vanishes or explodes moves left or right; otherwise the values, with the
    x-axis shared along a row.
    """
    import matplotlib.pyplot as plt

    rows = len(values)
    fig, axes = plt.subplots(rows, len(layers), figsize=(7.5, 1.25 * rows + 0.6),
                             sharex="all" if magnitudes else "row", squeeze=False)
    for r, (key, tensors) in enumerate(values.items()):
        label, color = _label_and_color(key, r, lang)
        for c, layer in enumerate(layers):
            ax = axes[r][c]
            v = tensors[layer - 1].flatten().float()
            if magnitudes:
                v = v.abs().clamp_min(1e-30).log10()
            ax.hist(v.cpu().numpy(), bins=40, color=color)
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
            ax.grid(False)
            if r == 0:
                ax.set_title(_tr("layer_n", lang, n=layer), fontsize=9)
        axes[r][0].set_ylabel(label, fontsize=8)
    axes[-1][len(layers) // 2].set_xlabel(_tr("log_magnitude" if magnitudes else "value", lang))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_clipping(histories: dict[str, History], lang: str | None = None):
    """Two panels over the steps of each run: the training loss and the gradient norm (before
    clipping), both on a log scale. A run that overflowed ends where its loss turned inf/NaN."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.8 + 0.25 * len(histories)))
    for i, (label, history) in enumerate(histories.items()):
        steps = range(1, len(history.step_loss) + 1)
        axes[0].semilogy(steps, history.step_loss, color=f"C{i}", label=label, lw=1)
        axes[1].semilogy(range(1, len(history.step_grad_norm) + 1), history.step_grad_norm,
                         color=f"C{i}", lw=1)
    axes[0].set_ylabel(t("plots.loss", lang=lang))
    axes[1].set_ylabel(_tr("grad_norm", lang))
    for ax in axes:
        ax.set_xlabel(t("plots.step", lang=lang))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", fontsize=8)
    fig.tight_layout(rect=(0, 0.07 * len(histories), 1, 1))
    return fig
