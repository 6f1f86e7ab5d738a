"""The runs of one group trained together: seeds and learning rates stacked into one model.

Runs that differ only in learning rate and seed (``RunConfig.group()``) share an architecture
and data, so ``course_lib.stacked.Stack`` can hold their ``R`` models as one, with every
parameter and buffer stacked on a leading run dimension; one step computes all ``R`` forward
and backward passes (``torch.vmap``) and ``stacked.StackedSGD`` updates each run with its own
learning rate. Per run, exactly what ``runner.train`` does:

* the same initial weights (``build_model(config)``, He initialization drawn from its seed),
* the same mini-batches (a permutation per epoch from a generator seeded by its seed),
* SGD with momentum 0.9 at its learning rate; batch norm with its own batch statistics and
  running averages (vmap normalizes every run over its own batch),
* the same records: per-step EMA curves, per-epoch validation and training error, the test
  error at the end, the learned shift and scale values.

So a run without dropout gives the numbers ``runner.train`` gives, up to rounding (float64
tests: 1e-9). Dropout draws its masks for all runs at once (``randomness="different"``: each
run its own masks) from the global generator, seeded by the group's first seed, so a run with
dropout is an equally valid run, but not the same numbers as alone. A run whose loss becomes
inf or NaN is recorded up to there (``diverged``); it cannot harm the others, whose gradients
do not depend on it.

On CUDA, after ``WARMUP`` ordinary steps, one training step (forward, backward, optimizer) is
captured as a CUDA graph and replayed: a step of these small nets is a few hundred tiny
kernels, and replaying them costs one launch instead of hundreds of Python calls.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor
from torch.nn import functional as F

from ...i18n import CourseError
from ...stacked import Stack, StackedSGD, evaluate_stacked
from .runner import (
    MOMENTUM,
    RunConfig,
    build_model,
    data_of,
    learned_parameters,
    make_record,
    on_device,
)

WARMUP = 3
"""Ordinary steps before a CUDA graph is captured (as PyTorch's documentation advises)."""
EVAL_BATCH = 1000


def _check_group(configs: list[RunConfig]) -> None:
    if not configs:
        raise CourseError("stacked.no_models")
    for config in configs:
        if config.group() != configs[0].group():
            raise CourseError("experiments.mixed_group", first=configs[0].file_name(),
                              other=config.file_name())


class _Step:
    """One training step of all runs on the batch indices in ``self.idx`` ``(R, B)``: returns
    the per-run loss and error ``(R,)``. ``graphed()`` captures it as a CUDA graph."""

    def __init__(self, stack: Stack, optimizer: StackedSGD, x: Tensor, y: Tensor, idx: Tensor,
                 warm_up_aside: bool = False):
        self.stack, self.optimizer, self.x, self.y, self.idx = stack, optimizer, x, y, idx
        self.loss_fn = torch.vmap(F.cross_entropy)
        self.graph, self.out, self.warm_up_aside = None, None, warm_up_aside

    def _compute(self) -> tuple[Tensor, Tensor]:
        out = self.stack(self.x[self.idx])
        target = self.y[self.idx]
        loss = self.loss_fn(out, target)
        loss.sum().backward()
        self.optimizer.step()
        return loss.detach(), (out.detach().argmax(-1) != target).double().mean(1)

    def __call__(self) -> tuple[Tensor, Tensor]:
        if self.graph is not None:
            self.graph.replay()
            return self.out
        self.optimizer.zero_grad(set_to_none=True)
        if not self.warm_up_aside:
            return self._compute()
        side = torch.cuda.Stream()  # warm-up steps before a capture run on a side stream
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = self._compute()
        torch.cuda.current_stream().wait_stream(side)
        return out

    def capture(self) -> bool:
        """Record one step as a CUDA graph, which later calls replay; False (and ordinary steps
        from then on) if PyTorch cannot capture it."""
        torch.cuda.synchronize()
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                self.out = self._compute()
        except RuntimeError:
            self.warm_up_aside = False
            return False
        self.graph = graph
        return True


def _evaluate(stack: Stack, x: Tensor, y: Tensor) -> tuple[list[float], list[float]]:
    """Per run: error and mean cross-entropy on ``(x, y)`` in evaluation mode."""
    losses, accuracies = evaluate_stacked(stack, (x, y), F.cross_entropy, EVAL_BATCH)
    return [1.0 - a for a in accuracies], losses


def train_group(configs, device=None, dtype=torch.float32, graphs: bool | None = None
                ) -> list[dict]:
    """Train the runs ``configs`` of one group (``RunConfig.group()``) together on ``device``
    (default: the CPU) in ``dtype``; return their records, in order, as ``runner.train`` would.

    ``graphs``: capture the training step as a CUDA graph (default: on CUDA)."""
    configs = list(configs)
    _check_group(configs)
    device = torch.device(device or "cpu")
    graphs = device.type == "cuda" if graphs is None else graphs
    first, runs = configs[0], len(configs)
    task = on_device(data_of(first), device, dtype)
    models = [build_model(c).to(device, dtype) for c in configs]
    stack = Stack(models)
    optimizer = StackedSGD(stack.parameters(), lr=[c.lr for c in configs], momentum=MOMENTUM,
                           weight_decay=first.weight_decay)
    optimizer.param_groups[0]["lr"] = optimizer.param_groups[0]["lr"].to(device, dtype)
    per_epoch, batch = first.n_train // first.batch_size, first.batch_size
    shuffles = [torch.Generator().manual_seed(c.seed) for c in configs]
    idx = torch.zeros(runs, batch, dtype=torch.long, device=device)
    step = _Step(stack, optimizer, task.x_train, task.y_train, idx, warm_up_aside=graphs)
    errors, losses = [[] for _ in configs], [[] for _ in configs]
    epoch_steps = [[] for _ in configs]
    curves = [{"val_error": [], "val_loss": [], "train_error": []} for _ in configs]
    alive, done, graphed = [True] * runs, 0, False
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(first.seed)
        stack.train()
        for _ in range(first.epochs):
            order = torch.stack([torch.randperm(first.n_train, generator=g)
                                 for g in shuffles]).to(device)
            step_losses = torch.empty(per_epoch, runs, dtype=dtype, device=device)
            step_errors = torch.empty(per_epoch, runs, dtype=torch.float64, device=device)
            for i in range(per_epoch):
                idx.copy_(order[:, i * batch:(i + 1) * batch])
                loss, error = step()
                step_losses[i].copy_(loss)
                step_errors[i].copy_(error)
                done += 1
                if graphs and done == WARMUP:
                    graphed = step.capture()
            kept = torch.isfinite(step_losses).cumprod(0).sum(0).tolist()
            step_losses, step_errors = step_losses.T.tolist(), step_errors.T.tolist()
            for r in (r for r in range(runs) if alive[r]):
                losses[r] += step_losses[r][:kept[r]]
                errors[r] += step_errors[r][:kept[r]]
                alive[r] = kept[r] == per_epoch
                if alive[r]:
                    epoch_steps[r].append(len(errors[r]))
            if not any(alive):
                break
            evaluations = (_evaluate(stack, task.x_val, task.y_val),
                           _evaluate(stack, task.x_train[:first.n_val],
                                     task.y_train[:first.n_val]))
            for r in (r for r in range(runs) if alive[r]):
                curves[r]["val_error"].append(evaluations[0][0][r])
                curves[r]["val_loss"].append(evaluations[0][1][r])
                curves[r]["train_error"].append(evaluations[1][0][r])
        test = _evaluate(stack, task.x_test, task.y_test)
    stack.write_to(models)
    seconds = time.perf_counter() - start
    return [make_record(c, errors[r], losses[r], epoch_steps[r], curves[r],
                        (test[0][r], test[1][r]) if alive[r] else None,
                        learned_parameters(models[r]), seconds, stacked=runs,
                        cuda_graph=graphed)
            for r, c in enumerate(configs)]
