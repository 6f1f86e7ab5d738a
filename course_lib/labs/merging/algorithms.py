"""Merging two trained teachers into one student of the same architecture (the merging talk:
Martin Pašen, supervised by Vladimír Boža, "Spájanie neurónových sietí").

Both algorithms start from ``join(a, b)``, the two teachers side by side in one model twice as
wide with an L0 gate after every activation (``course_lib.labs.merging.joined``,
``course_lib.labs.merging.resnet``), and end with ``prune``: a model of exactly the teachers'
architecture, whose state dict loads into a fresh ``course_lib.models`` network.

The talk gives the steps of each algorithm and the penalty ``P[g > 0]``; it says that the joined
model is trained "to use only half", not how. Ours: one gate per unit (neuron or channel), a
penalty that asks every gate layer for exactly half of its units, and pruning to exactly half
of every layer; the schedule of ``alpha``, the learning rates and the ranking by ``log_alpha``
are ours too.

**Error-driven**, ``error_driven_merge``:

1. join the teachers; the off-diagonal blocks (connections between A's and B's units) start at
   zero and are trained like every other weight;
2. train the joined model on ``task loss + alpha_e * sum_l (mean_c P[g_lc > 0] - 0.5)^2``, where
   the sum runs over the gate layers and ``alpha_e = alpha * alpha_growth^e`` grows with the
   epoch ``e``, so that every layer ends up using about half of its units (Adam; the gates'
   ``log_alpha`` with their own, larger learning rate ``gate_lr``);
3. prune every layer to the teacher's width, keeping the units with the largest ``log_alpha``;
4. fine-tune the student on the task.

**Greedy**, ``greedy_merge``:

1. join the teachers and train only the gates (the teachers stay fixed, batch norm in eval mode)
   on the same loss: this ranks the units of both teachers by importance;
2. the student starts as the pruned joined model: each kept unit with its teacher's weights
   from the kept units of the layer below (connections between A's and B's units are zero);
3. layer by layer, the student learns to imitate the selected teacher features: at the ``p``-th
   activation (forward order), the parameters that first influence it minimize
   ``mean (f_p(x) - t_p(x)[:, keep_p])^2``, where ``t_p`` are the teachers' features side by
   side; a last step fits the output to the teachers' average;
4. fine-tune the student on the task.

Every function takes a ``course_lib.data.Splits`` (train, validation, test TensorDatasets), sizes
and epochs as arguments and trains on ``device``. The loss is the mean squared error for float
targets (regression, e.g. the noisy sines) and cross-entropy for class labels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from ...i18n import CourseError
from ...models import ACTIVATION_BY_NAME, LeNet, ResNet
from ...stacked import train_stacked
from ...training import device_of, evaluate, fit
from .joined import (
    GatedModel,
    JoinedLeNet,
    JoinedMLP,
    check_non_negative,
    check_positive_int,
    check_positive_number,
    keep_indices,
)
from .resnet import JoinedResNet

ACTIVATIONS = tuple(ACTIVATION_BY_NAME.values())

GATE_LR = 0.1
"""Default Adam learning rate of the gates' ``log_alpha``: Adam moves a parameter by about its
learning rate per step, and ``log_alpha`` has to travel from 3 (open) to about -1.6 (the
``P[g > 0] = 0.5`` of the penalty) and beyond within the merging epochs, while the weights need
the small steps of fine-tuning."""


def join(a: nn.Module, b: nn.Module) -> GatedModel:
    """The joined, gated model of two teachers: ``JoinedMLP`` for ``models.mlp`` nets,
    ``JoinedLeNet``, ``JoinedResNet`` for ResNet-20 and ResNet-18. In eval mode it computes
    ``(a(x) + b(x)) / 2`` exactly until trained. The teachers are not changed."""
    if isinstance(a, ResNet):
        return JoinedResNet(a, b)
    if isinstance(a, LeNet):
        return JoinedLeNet(a, b)
    if isinstance(a, nn.Sequential):
        return JoinedMLP(a, b)
    raise CourseError("merging.unsupported_model", name=type(a).__name__)


def is_regression(splits) -> bool:
    """Whether the targets are floats (regression) rather than class labels; works for any
    map-style dataset of ``(x, y)`` pairs (TensorDataset, image folders, subsets)."""
    y = splits.train[0][1]
    return torch.is_tensor(y) and y.is_floating_point()


def task_loss(splits) -> nn.Module:
    """MSE for float targets (regression), cross-entropy for integer class labels."""
    return nn.MSELoss() if is_regression(splits) else nn.CrossEntropyLoss()


class _Batches(Dataset):
    """A TensorDataset's tensors indexed a whole batch at a time (``__getitems__``): the
    DataLoader then skips collating ``batch_size`` single examples, which for tiny models costs
    more than the training step."""

    def __init__(self, part: TensorDataset):
        self.tensors = part.tensors

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitems__(self, indices: list[int]) -> tuple[Tensor, ...]:
        index = torch.as_tensor(indices)
        return tuple(t[index] for t in self.tensors)


def _as_is(batch):
    return batch


def loaders(splits, batch_size: int, seed: int = 0, eval_batch_size: int = 256):
    """``splits.loaders(batch_size, seed)`` (train shuffled by ``seed``; validation and test in
    order, in batches of ``eval_batch_size``): the same batches in the same order, built faster
    when the parts are TensorDatasets."""
    check_positive_int("batch_size", batch_size)
    parts = (splits.train, splits.val, splits.test)
    if not all(isinstance(p, TensorDataset) for p in parts):
        return splits.loaders(batch_size, seed=seed, eval_batch_size=eval_batch_size)
    splits.loaders(batch_size, seed=seed)  # its checks of the batch size
    train = DataLoader(_Batches(splits.train), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed), collate_fn=_as_is)
    return (train, *(DataLoader(_Batches(p), batch_size=eval_batch_size, collate_fn=_as_is)
                     for p in parts[1:]))


def _loaders(splits, batch_size: int, seed: int):
    train, val, _ = loaders(splits, batch_size, seed)
    return train, val


def _check_common(epochs: dict[str, int], lr: float, alpha: float, alpha_growth: float) -> None:
    for name, value in epochs.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise CourseError("merging.bad_epochs", name=name, value=value)
    check_positive_number("lr", lr)
    check_non_negative("alpha", alpha)
    if not (isinstance(alpha_growth, int | float) and alpha_growth >= 1):
        raise CourseError("merging.bad_growth", value=alpha_growth)


@dataclass
class MergeResult:
    """What a merging run returns.

    ``student``: the merged model (the teachers' architecture). ``joined``: the gated joined
    model at the end of the merging phase (``use_gates`` restored to True). ``history``: per
    epoch of the merging phase ``alpha``, ``train_loss`` (task loss + penalty), ``val_loss``
    (task loss of the gated joined model, eval mode), ``keep`` (mean ``P[g > 0]`` per gate
    layer), ``open`` (fraction of test-time gates above 0 per gate layer) and ``log_alpha`` (a
    CPU copy of every gate layer's ``(C,)`` parameters); the greedy algorithm adds
    ``layer_loss`` (final regression loss of every layer step). ``kept``: the kept unit
    indices of every gate layer (``< width``: teacher A's unit, ``>= width``: teacher B's).
    ``epochs``: ``merge`` and ``finetune`` epochs spent (the student is fine-tuned by
    ``train_runs``, shuffled by ``seed + 1``).
    """

    student: nn.Module
    joined: GatedModel
    history: dict[str, list] = field(default_factory=dict)
    kept: list[Tensor] = field(default_factory=list)
    epochs: dict[str, int] = field(default_factory=dict)

    def from_a(self) -> list[float]:
        """Per gate layer, the fraction of kept units that come from teacher A."""
        return [(k < len(k)).float().mean().item() for k in self.kept]


def _freeze_batchnorm(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def train_gated(joined: GatedModel, splits, epochs: int, *, alpha: float = 1.0,
                alpha_growth: float = 1.5, lr: float = 1e-3, gate_lr: float = GATE_LR,
                batch_size: int = 32, weights: bool = True, seed: int = 0,
                device=None) -> dict[str, list]:
    """Train ``joined`` for ``epochs`` epochs with Adam on ``task + alpha_e * gate_penalty()``,
    ``alpha_e = alpha * alpha_growth^e`` in epoch ``e = 0, 1, ...``: the weights with learning
    rate ``lr``, the gates' ``log_alpha`` with ``gate_lr``; ``weights=False`` trains only the
    gates (weights fixed, batch norm in eval mode). Returns the history described in
    ``MergeResult`` (``alpha``, ``train_loss``, ``val_loss``, ``keep``, ``open``,
    ``log_alpha``)."""
    _check_common({"epochs": epochs}, lr, alpha, alpha_growth)
    device = device_of(joined, device)
    joined.to(device)
    train, val = _loaders(splits, batch_size, seed)
    loss_fn = task_loss(splits)
    check_positive_number("gate_lr", gate_lr)
    gate_params = [g.log_alpha for g in joined.gates]
    others = [p for p in joined.parameters() if not any(p is q for q in gate_params)]
    groups = [{"params": gate_params, "lr": gate_lr}]
    if weights:
        groups.append({"params": others, "lr": lr})
    frozen = [] if weights else [p for p in others if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    optimizer = torch.optim.Adam(groups)
    history = {"alpha": [], "train_loss": [], "val_loss": [], "keep": [], "open": [],
               "log_alpha": []}
    try:
        for epoch in range(epochs):
            alpha_e = alpha * alpha_growth**epoch
            joined.train()
            if not weights:
                _freeze_batchnorm(joined)
            total, count = 0.0, 0
            for x, y in train:
                x, y = x.to(device), y.to(device)
                loss = loss_fn(joined(x), y) + alpha_e * joined.gate_penalty()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, count = total + loss.item() * len(y), count + len(y)
            history["alpha"].append(alpha_e)
            history["train_loss"].append(total / max(count, 1))
            history["val_loss"].append(evaluate(joined, val, loss_fn, device).loss)
            history["keep"].append(joined.keep_probabilities())
            history["open"].append(joined.open_fractions())
            history["log_alpha"].append([g.log_alpha.detach().cpu().clone()
                                         for g in joined.gates])
    finally:
        for p in frozen:
            p.requires_grad_(True)
    return history


def train_task(model: nn.Module, splits, epochs: int, *, lr: float = 1e-3, batch_size: int = 32,
               seed: int = 0, device=None, loss=None) -> dict[str, list]:
    """Train ``model`` for ``epochs`` epochs with Adam on the task loss (or on ``loss(model, x,
    y)`` if given, e.g. distillation) by ``training.fit``. Returns ``train_loss`` and
    ``val_loss`` (task loss, eval mode) per epoch (empty lists for ``epochs=0``). The batch
    order comes from ``seed``."""
    _check_common({"epochs": epochs}, lr, 0.0, 1.0)
    device = device_of(model, device)
    if epochs == 0:
        model.to(device)
        return {"train_loss": [], "val_loss": []}
    train, val = _loaders(splits, batch_size, seed)
    optimizer = torch.optim.Adam(model.to(device).parameters(), lr=lr)
    history = fit(model, train, optimizer, task_loss(splits), epochs=epochs, val_data=val,
                  device=device, grad_norms=False, progress=False, objective=loss)
    return {"train_loss": history.train_loss, "val_loss": history.val_loss}


def runs_device(models: Sequence[nn.Module], device) -> torch.device:
    """``device``, or where the first model's parameters are."""
    return torch.device(device) if device is not None else next(models[0].parameters()).device


def can_stack(model: nn.Module, splits, device) -> bool:
    """Whether runs of ``model`` train stacked (``course_lib.stacked``): the data must be
    TensorDatasets, and on CUDA the model must have no batch norm (under ``torch.vmap`` the
    cuDNN batch norm asks for a memory format that vmap does not support: "NYI: querying
    is_contiguous inside of vmap", torch 2.11)."""
    batch_norm = any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return isinstance(splits.train, TensorDataset) and not (
        batch_norm and torch.device(device).type == "cuda")


def train_runs(models: Sequence[nn.Module], splits, epochs: int, *, seeds: Sequence[int],
               lr: float = 1e-3, batch_size: int = 32, device=None) -> list[nn.Module]:
    """Train ``models`` (one architecture) ``epochs`` epochs with Adam on the task loss, all at
    once (``stacked.train_stacked``; run ``r`` shuffles with ``seeds[r]``), on ``device``;
    the models keep the trained weights. Where ``can_stack`` says no, they train one after
    another by ``train_task`` (``training.fit``)."""
    models = list(models)
    if not models:
        return models
    device = runs_device(models, device)
    if epochs == 0:
        return [model.to(device) for model in models]
    if not can_stack(models[0], splits, device):
        for model, seed in zip(models, seeds, strict=True):
            train_task(model, splits, epochs, lr=lr, batch_size=batch_size, seed=seed,
                       device=device)
        return models
    for model in models:
        model.to(device)
    train_stacked(models, splits.train.tensors, seeds=list(seeds), epochs=epochs,
                  batch_size=batch_size, optimizer="adam", lr=lr, loss_fn=task_loss(splits),
                  device=device)
    return models


def error_driven_merge(a: nn.Module, b: nn.Module, splits, *, merge_epochs: int,
                       finetune_epochs: int, alpha: float = 1.0, alpha_growth: float = 1.5,
                       lr: float = 1e-3, gate_lr: float = GATE_LR,
                       finetune_lr: float | None = None, batch_size: int = 32, seed: int = 0,
                       device=None) -> MergeResult:
    """The error-driven merge of teachers ``a`` and ``b`` (module docstring, steps 1-4).

    ``merge_epochs`` of gated training of the joined model (Adam, ``lr`` for the weights,
    ``gate_lr`` for the gates), then
    ``finetune_epochs`` of the pruned student (Adam, ``finetune_lr``, default ``lr``)."""
    _check_common({"merge_epochs": merge_epochs, "finetune_epochs": finetune_epochs}, lr,
                  alpha, alpha_growth)
    joined = join(a, b)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        history = train_gated(joined, splits, merge_epochs, alpha=alpha,
                              alpha_growth=alpha_growth, lr=lr, gate_lr=gate_lr,
                              batch_size=batch_size,
                              seed=seed, device=device)
        student = joined.prune()
        train_runs([student], splits, finetune_epochs, seeds=[seed + 1], lr=finetune_lr or lr,
                   batch_size=batch_size, device=device)
    kept = [keep_indices(g, g.num_features // 2) for g in joined.gates]
    return MergeResult(student, joined, history, kept,
                       {"merge": merge_epochs, "finetune": finetune_epochs})


class _Stop(Exception):
    """Ends a forward pass once the wanted activation is recorded."""


class _Recorder:
    """Collects the outputs of every activation call of a model, in forward order."""

    def __init__(self, model: nn.Module):
        self.outputs: list[Tensor] = []
        self.stop_at: int | None = None
        self.handles = [m.register_forward_hook(self._hook) for m in model.modules()
                        if isinstance(m, ACTIVATIONS)]

    def _hook(self, module, inputs, output) -> None:
        self.outputs.append(output)
        if self.stop_at is not None and len(self.outputs) > self.stop_at:
            raise _Stop

    def __call__(self, model: nn.Module, x: Tensor) -> tuple[list[Tensor], Tensor]:
        """All activations and the output."""
        self.outputs, self.stop_at = [], None
        out = model(x)
        return self.outputs, out

    def point(self, model: nn.Module, x: Tensor, index: int) -> Tensor:
        """The ``index``-th activation, computing no further; the output if ``index`` is the
        number of activations."""
        self.outputs, self.stop_at = [], index
        try:
            return model(x)
        except _Stop:
            return self.outputs[index]

    def remove(self) -> None:
        for handle in self.handles:
            handle.remove()


def _cycle(loader, steps: int):
    """The inputs of ``steps`` batches of ``loader``, starting a new epoch when one ends."""
    done = 0
    while done < steps:
        for x, _ in loader:
            if done == steps:
                return
            yield x
            done += 1


def _parameters_per_point(student: nn.Module, recorder: _Recorder, x: Tensor) -> list[list]:
    """For every activation call, and last for the output, the student's parameters that first
    influence it (a parameter that feeds several points belongs to the earliest)."""
    params = list(student.parameters())
    features, out = recorder(student, x)
    assigned: set[int] = set()
    groups = []
    for value in [*features, out]:
        grads = torch.autograd.grad(value.sum(), params, allow_unused=True, retain_graph=True)
        group = [p for p, g in zip(params, grads, strict=True)
                 if g is not None and id(p) not in assigned]
        assigned.update(id(p) for p in group)
        groups.append(group)
    return groups


def imitate_layers(student: nn.Module, joined: GatedModel, splits, epochs_per_layer: float, *,
                   lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
                   device=None) -> list[float]:
    """Step 3 of the greedy merge: layer by layer, fit the student's activations to the
    teachers' features selected by the gates of ``joined`` (kept units of ``point_gates()``),
    then its output to the teachers' average. Each step takes ``max(1, round(epochs_per_layer
    * n))`` Adam steps, ``n`` batches per epoch, so a fraction of an epoch works too (the
    budget of a deep net spread over many layers). Returns the mean squared error of every
    step over its last ``n`` batches (or all of them if fewer)."""
    device = device_of(student, device)
    student.to(device)
    joined.to(device).eval()
    joined.use_gates = False
    keeps = [keep_indices(g, g.num_features // 2) for g in joined.point_gates()]
    train, _ = _loaders(splits, batch_size, seed)
    student_rec, joined_rec = _Recorder(student), _Recorder(joined)
    student.train()
    groups = _parameters_per_point(student, student_rec, next(iter(train))[0].to(device))
    if len(groups) != len(keeps) + 1:
        raise CourseError("merging.points_mismatch", student=len(groups) - 1, joined=len(keeps))
    steps = max(1, round(epochs_per_layer * len(train)))
    losses = []
    for point, group in enumerate(groups):
        optimizer = torch.optim.Adam(group, lr=lr) if group else None
        recent: list[tuple[float, int]] = []
        for x in _cycle(train, steps if optimizer else 0):
            x = x.to(device)
            with torch.no_grad():
                target = joined_rec.point(joined, x, point)
            if point < len(keeps):
                target = target[:, keeps[point]]
            value = student_rec.point(student, x, point)
            loss = ((value - target) ** 2).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            recent = [*recent[-(len(train) - 1):], (loss.item(), len(x))]
        losses.append(sum(v * n for v, n in recent) / max(sum(n for _, n in recent), 1))
    student_rec.remove()
    joined_rec.remove()
    joined.use_gates = True
    return losses


def greedy_split(merge_epochs: int, points: int) -> tuple[int, float]:
    """``(gate_epochs, layer_epochs)`` spending exactly ``merge_epochs`` on the greedy merge of
    a net with ``points`` regression steps (activations and the output): ``ceil(M / 2)``
    epochs on the gates, the rest shared equally by the steps (a fraction of an epoch each
    for a deep net)."""
    check_positive_int("points", points)
    gate = math.ceil(merge_epochs / 2)
    return gate, (merge_epochs - gate) / points


def greedy_merge(a: nn.Module, b: nn.Module, splits, *, gate_epochs: int, layer_epochs: float,
                 finetune_epochs: int, alpha: float = 1.0, alpha_growth: float = 1.5,
                 lr: float = 1e-3, gate_lr: float = GATE_LR,
                 finetune_lr: float | None = None, batch_size: int = 32, seed: int = 0,
                 device=None) -> MergeResult:
    """The greedy merge of teachers ``a`` and ``b`` (module docstring, steps 1-4):
    ``gate_epochs`` of training the gates alone, ``layer_epochs`` (a number >= 0, see
    ``imitate_layers``) of regression for every activation and for the output,
    ``finetune_epochs`` on the task. ``epochs["merge"]`` counts ``gate_epochs + layer_epochs *
    (activations + 1)`` (``greedy_split`` chooses the two for a given total)."""
    _check_common({"gate_epochs": gate_epochs, "finetune_epochs": finetune_epochs}, lr, alpha,
                  alpha_growth)
    if isinstance(layer_epochs, bool) or not isinstance(layer_epochs, int | float) or not (
            math.isfinite(layer_epochs) and layer_epochs >= 0):
        raise CourseError("merging.bad_epochs", name="layer_epochs", value=layer_epochs)
    joined = join(a, b)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        history = train_gated(joined, splits, gate_epochs, alpha=alpha,
                              alpha_growth=alpha_growth, lr=lr, gate_lr=gate_lr,
                              batch_size=batch_size,
                              weights=False, seed=seed, device=device)
        student = joined.prune()
        history["layer_loss"] = imitate_layers(student, joined, splits, layer_epochs, lr=lr,
                                               batch_size=batch_size, seed=seed, device=device)
        train_runs([student], splits, finetune_epochs, seeds=[seed + 1], lr=finetune_lr or lr,
                   batch_size=batch_size, device=device)
    kept = [keep_indices(g, g.num_features // 2) for g in joined.gates]
    merge = round(gate_epochs + layer_epochs * len(history["layer_loss"]), 6)
    return MergeResult(student, joined, history, kept,
                       {"merge": merge, "finetune": finetune_epochs})
