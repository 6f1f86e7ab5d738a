"""The experiments of lecture 06 (batch norm, shift and scale layers), shared by the notebook and
its claim tests, so that both run the very same code::

    plain = deep_mlp(64, 10, norm=None)            # 10 x (Linear, ReLU), then Linear
    bn = deep_mlp(64, 10, norm="batchnorm")        # 10 x (Linear, BatchNorm1d, ReLU), then Linear
    losses = train_steps(bn, x, y, lr=0.3, steps=200, batch_size=64)

``train_steps`` is plain SGD with momentum 0.9 (as in the 2018 thesis) on shuffled mini-batches;
with ``batch_size=1`` it is online learning, one example per step. The batch-statistics helpers
(``batch_statistics``, ``running_mean_trace``) feed the lecture's explorer, and
``recompute_running_stats`` repairs running statistics that do not match the data.
``normalization_axes`` draws which values share one mean and variance in batch, layer and
group norm, and ``batch_dependence`` measures how much one example's output depends on the
other examples of its batch.
"""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .. import layers
from ..i18n import CourseError, t
from ..init import init_model
from ..normalization import BatchNorm1d, _BatchNorm, insert_shift_scale

NORMS = (None, "batchnorm")


def deep_mlp(in_features: int, num_classes: int, width: int = 64, depth: int = 10,
             norm: str | None = None, seed: int = 0) -> nn.Sequential:
    """A deep ReLU perceptron with He initialization, with or without batch norm::

        Flatten, depth x [Linear(n, width), (BatchNorm1d(width)), ReLU], Linear(width, classes)

    Batch norm sits between each hidden linear layer and its activation, as in Ioffe and
    Szegedy (2015). The weights come from ``seed`` alone: batch norm layers draw no random
    numbers, so ``norm=None`` and ``norm="batchnorm"`` start from the same linear layers.
    Input ``(N, in_features)`` or ``(N, *shape)`` flattening to it; output ``(N, classes)``.
    """
    if norm not in NORMS:
        raise CourseError("lecture06.unknown_norm", name=norm,
                          known=", ".join(repr(n) for n in NORMS))
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        layers: list[nn.Module] = [nn.Flatten()]
        n = in_features
        for _ in range(depth):
            layers.append(nn.Linear(n, width))
            if norm == "batchnorm":
                layers.append(BatchNorm1d(width))
            layers.append(nn.ReLU())
            n = width
        layers.append(nn.Linear(n, num_classes))
        model = init_model(nn.Sequential(*layers), "he")
    finally:
        torch.random.set_rng_state(generator_state)
    return model


def train_steps(model: nn.Module, x: Tensor, y: Tensor, lr: float, steps: int,
                batch_size: int, seed: int = 0, momentum: float = 0.9) -> list[float]:
    """Train ``model`` in place for ``steps`` steps of SGD with momentum; return the step losses.

    Mini-batches of ``batch_size`` examples are consecutive slices of a fresh random permutation
    of ``x`` in every epoch (a ``torch.Generator`` seeded with ``seed``, so a run is repeatable);
    ``batch_size=1`` is online learning. Cross-entropy loss on logits. ``x`` and ``y`` go to
    the device of the model. A run that diverges keeps going and reports ``nan`` or ``inf``.
    """
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    per_epoch = max(len(x) // batch_size, 1)
    order = torch.empty(0, dtype=torch.long)
    losses = []
    model.train()
    for step in range(steps):
        position = step % per_epoch
        if position == 0:
            order = torch.randperm(len(x), generator=generator).to(device)
        batch = order[position * batch_size:(position + 1) * batch_size]
        loss = F.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.detach())
    return torch.stack(losses).cpu().tolist() if losses else []


@torch.no_grad()
def accuracy(model: nn.Module, x: Tensor, y: Tensor, train_mode: bool = False,
             batch_size: int | None = None) -> float:
    """The fraction of ``x`` classified as ``y``, fed in batches of ``batch_size`` (default: all
    at once) in evaluation mode, or with ``train_mode=True`` in training mode, the pitfall of a
    forgotten ``model.eval()``. Training mode runs on a copy of the model, so its running
    statistics stay as they were; a last batch of one example joins the batch before it."""
    if train_mode:
        model = copy.deepcopy(model).train()
    was_training = model.training
    model.train(train_mode)
    device = next(model.parameters()).device
    starts = list(range(0, len(x), batch_size or len(x)))
    if len(starts) > 1 and len(x) - starts[-1] == 1:
        starts.pop()
    ends = [*starts[1:], len(x)]
    try:
        predicted = torch.cat([model(x[a:b].to(device)).argmax(dim=1).cpu()
                               for a, b in zip(starts, ends, strict=True)])
    finally:
        model.train(was_training)
    return (predicted == y.cpu()).double().mean().item()


def batch_statistics(population: Tensor, batch_size: int, draws: int,
                     seed: int = 0) -> tuple[Tensor, Tensor]:
    """The means and variances (``1/m``, as in batch norm) of ``draws`` random batches of
    ``batch_size`` values of the 1-D ``population``, drawn without replacement within a batch.
    Returns two tensors of shape ``(draws,)``."""
    generator = torch.Generator().manual_seed(seed)
    picks = torch.stack([torch.randperm(len(population), generator=generator)[:batch_size]
                         for _ in range(draws)])
    batches = population[picks]
    return batches.mean(dim=1), batches.var(dim=1, correction=0)


@torch.no_grad()
def running_mean_trace(population: Tensor, batch_size: int, momentum: float, steps: int,
                       seed: int = 0) -> Tensor:
    """The running mean of a ``BatchNorm1d(1, momentum)`` after each of ``steps`` training
    batches of ``batch_size`` values of ``population``: ``r <- (1 - momentum) r + momentum *
    mean(batch)``, starting at 0. Returns a tensor of shape ``(steps,)``."""
    layer = BatchNorm1d(1, momentum=momentum).to(population.dtype).train()
    generator = torch.Generator().manual_seed(seed)
    trace = []
    for _ in range(steps):
        batch = population[torch.randperm(len(population), generator=generator)[:batch_size]]
        layer(batch.unsqueeze(1))
        trace.append(layer.running_mean[0].clone())
    return torch.stack(trace)


def batchnorm_layers(model: nn.Module) -> list[_BatchNorm | nn.modules.batchnorm._BatchNorm]:
    """Every batch norm layer of ``model`` (course_lib's and torch's), in order."""
    kinds = (_BatchNorm, nn.modules.batchnorm._BatchNorm)
    return [m for m in model.modules() if isinstance(m, kinds)]


@torch.no_grad()
def recompute_running_stats(model: nn.Module, x: Tensor, batch_size: int = 256) -> nn.Module:
    """Re-estimate every batch norm's running statistics on ``x`` and return ``model``.

    The statistics are reset and the batches of ``x`` pass through the model in training mode
    with ``momentum=None``, which makes each running value the plain average over the batches
    (the variance unbiased, as in torch). Weights are unchanged; momentum and mode are restored.
    """
    layers = batchnorm_layers(model)
    saved = [(layer.momentum, layer.training) for layer in layers]
    was_training = model.training
    device = next(model.parameters()).device
    for layer in layers:
        _reset(layer)
        layer.momentum = None
    model.train()
    try:
        for start in range(0, len(x), batch_size):
            model(x[start:start + batch_size].to(device))
    finally:
        for layer, (momentum, _) in zip(layers, saved, strict=True):
            layer.momentum = momentum
        model.train(was_training)
    return model


def _reset(layer) -> None:
    layer.running_mean.zero_()
    layer.running_var.fill_(1.0)
    layer.num_batches_tracked.zero_()


def reset_running_stats(model: nn.Module) -> nn.Module:
    """Running statistics back to their start (mean 0, variance 1), as in a model whose learned
    parameters were copied over but whose buffers were not. Returns ``model``."""
    with torch.no_grad():
        for layer in batchnorm_layers(model):
            _reset(layer)
    return model


DEPTH, WIDTH, BATCH_SIZE = 8, 64, 64
"""The deep perceptron of the lecture: 8 hidden layers of 64 units, mini-batches of 64."""
RATES = (0.03, 0.3)
"""A usual learning rate and ten times more."""
ONLINE_DEPTH, ONLINE_LR = 4, 0.01
"""Online learning: 4 hidden layers, plain SGD (no momentum) with one example per step."""


def compare_training(x: Tensor, y: Tensor, steps: int, rates=RATES, num_classes: int = 10,
                     device=None, seed: int = 0) -> dict:
    """``{(norm, lr): (model, losses)}``: ``deep_mlp`` without and with batch norm (the same
    starting weights), each trained by ``train_steps`` for ``steps`` mini-batches of
    ``BATCH_SIZE`` at every learning rate of ``rates``."""
    runs = {}
    for lr in rates:
        for norm in NORMS:
            model = deep_mlp(x[0].numel(), num_classes, WIDTH, DEPTH, norm, seed).to(device)
            runs[norm, lr] = (model, train_steps(model, x, y, lr, steps, BATCH_SIZE, seed))
    return runs


def online_comparison(x: Tensor, y: Tensor, steps: int, granularity: str = "layer",
                      num_classes: int = 10, device=None, seed: int = 0) -> dict:
    """``{name: (model, losses)}`` for online learning (batch size 1, ``ONLINE_LR``, no
    momentum): ``"plain"``, the ``deep_mlp`` of depth ``ONLINE_DEPTH``, and ``"shift_scale"``,
    the same net and weights with ``Scale`` and ``Shift`` layers of ``granularity`` inserted
    after the input and after every activation but the last (``insert_shift_scale``)."""
    plain = deep_mlp(x[0].numel(), num_classes, WIDTH, ONLINE_DEPTH, None, seed).to(device)
    example = x[:2].to(device)
    models = {"plain": plain,
              "shift_scale": insert_shift_scale(plain, granularity, granularity,
                                                example_input=example)}
    return {name: (model, train_steps(model, x, y, ONLINE_LR, steps, 1, seed, momentum=0.0))
            for name, model in models.items()}


NORM_AXES = ("batchnorm", "layernorm", "groupnorm")


def _normalize(kind: str, x: Tensor, groups: int) -> Tensor:
    """x normalized by the from-scratch layer ``kind`` with gamma = 1, beta = 0 (training)."""
    c = x.shape[1]
    ones, zeros = torch.ones(c, dtype=x.dtype), torch.zeros(c, dtype=x.dtype)
    if kind == "batchnorm":
        return layers.batchnorm_forward(x, ones, zeros, None, None, train=True)[0]
    if kind == "layernorm":
        shape = x.shape[1:]
        return layers.layernorm_forward(x, torch.ones(shape, dtype=x.dtype),
                                        torch.zeros(shape, dtype=x.dtype))[0]
    return layers.groupnorm_forward(x, ones, zeros, groups)[0]


def batch_dependence(x: Tensor, groups: int = 2) -> dict[str, float]:
    """For each of batch, layer and group norm: max |y_0 alone - y_0 in the batch x|, the change
    of example 0's output when it is normalized alone (N = 1) instead of together with x[1:].
    0 means the layer treats each example on its own. x: (N, C, H, W), N >= 2."""
    return {kind: (_normalize(kind, x[:1], groups) - _normalize(kind, x, groups)[:1])
            .abs().max().item() for kind in NORM_AXES}


def normalization_axes(num_examples: int = 4, channels: int = 6, groups: int = 2):
    """Three panels, rows = examples n, columns = channels c, each cell = all H x W positions of
    one channel of one example; shaded: the cells that share one mean and variance with the
    first cell (batch norm: a column; layer norm: a row; group norm: one group of a row)."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    size = channels // groups
    shaded = {"batchnorm": lambda n, c: c == 0, "layernorm": lambda n, c: n == 0,
              "groupnorm": lambda n, c: n == 0 and c < size}
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.6))
    for ax, kind in zip(axes, NORM_AXES, strict=True):
        for n in range(num_examples):
            for c in range(channels):
                color = "tab:orange" if shaded[kind](n, c) else "white"
                ax.add_patch(Rectangle((c, n), 1, 1, facecolor=color, edgecolor="0.3"))
        ax.set_xlim(0, channels)
        ax.set_ylim(num_examples, 0)
        ax.set_aspect("equal")
        ax.set_xticks([c + 0.5 for c in range(channels)], range(1, channels + 1))
        ax.set_yticks([n + 0.5 for n in range(num_examples)], range(1, num_examples + 1))
        ax.grid(False)
        name, _, axes_text = t(f"lecture06.axes_{kind}", groups=groups).partition(": ")
        ax.set_title(f"{name}:\n{axes_text}", fontsize=9)
        ax.set_xlabel(t("lecture06.axes_channels"))
    axes[0].set_ylabel(t("lecture06.axes_examples"))
    fig.tight_layout()
    return fig
