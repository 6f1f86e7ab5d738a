"""Many small models trained at once: the runs of a comparison stacked into one batched model.

A comparison trains one architecture several times (seeds, learning rates, methods). Trained
one after another, a tiny network such as the 1-100-1 regressor of lab 10 leaves a GPU idle:
each step is a handful of small kernels and their launch latency dominates. Stacked, the ``R``
runs' parameters and buffers share a leading run dimension (torch.func's "model ensembling";
not the ensemble method called stacking),

    theta[name]: (R, *shape of the parameter),    x: (R, B, ...)  ->  out: (R, B, ...),

and ``torch.vmap`` over ``torch.func.functional_call`` computes all ``R`` forward passes as one
(a Linear layer becomes a batched matrix product, a convolution a grouped one). The runs are
independent, so the gradient of ``sum_r loss_r`` with respect to run ``r``'s slice is run
``r``'s own gradient, and one optimizer step on the stacked tensors updates every run:
``StackedSGD`` and ``StackedAdam`` are torch.optim's update rules with a learning rate and a
weight decay per run (a number for all, or ``R`` numbers).

    models = seeded(make_model, seeds)                      # R models, initialized by seed
    histories = train_stacked(models, (x, y), seeds=seeds, epochs=20, batch_size=64,
                              optimizer="adam", lr=1e-3, loss_fn=nn.MSELoss(), val=(xv, yv))

Afterwards ``models`` hold the trained weights, as after ``fit``. Run ``r`` sees the batches of
``DataLoader(TensorDataset(x, y), batch_size, shuffle=True,
generator=torch.Generator().manual_seed(seeds[r]))``, i.e. of ``Splits.loaders(batch_size,
seed)``, so each run equals training its model alone with torch.optim in the ordinary loop, up
to rounding (float64 tests: 1e-10). Not equal: dropout (vmap draws the runs' masks from one
generator, ``randomness="different"``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state
from torch.utils.data import DataLoader, Dataset, TensorDataset

from . import validation
from .i18n import CourseError
from .training import History


def seeded(make_model: Callable[[], nn.Module], seeds: Sequence[int]) -> list[nn.Module]:
    """``[make_model() initialized after torch.manual_seed(s) for s in seeds]``; the global
    generator is restored afterwards."""
    models = []
    for seed in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            models.append(make_model())
    return models


def _tensors(module: nn.Module) -> dict[str, Tensor]:
    return {**dict(module.named_parameters()), **dict(module.named_buffers())}


def _check_same_architecture(models: Sequence[nn.Module]) -> None:
    if not models:
        raise CourseError("stacked.no_models")
    first = {name: (tuple(v.shape), v.dtype, v.device) for name, v in _tensors(models[0]).items()}
    for index, model in enumerate(models[1:], start=1):
        other = {name: (tuple(v.shape), v.dtype, v.device) for name, v in _tensors(model).items()}
        if other != first:
            differ = sorted(set(first) ^ set(other)) or [
                name for name in first if first[name] != other[name]]
            raise CourseError("stacked.different_models", index=index, names=", ".join(differ[:4]))


class Stack:
    """``R`` models of one architecture as one: each parameter and buffer stacked on dim 0.

    ``stack(x)`` maps ``x: (R, B, ...)`` (run ``r``'s batch in ``x[r]``) to ``(R, B, ...)``.
    ``params`` are leaf tensors ``(R, *shape)`` for an optimizer (``stack.parameters()``);
    ``buffers`` (batch norm's running statistics) are updated in place in training mode.
    """

    def __init__(self, models: Sequence[nn.Module]):
        models = list(models)
        _check_same_architecture(models)
        self.params, self.buffers = stack_module_state(models)
        self.runs = len(models)
        self._base = copy.deepcopy(models[0]).to("meta")  # the architecture without weights

    def parameters(self) -> list[Tensor]:
        return list(self.params.values())

    @property
    def device(self) -> torch.device:
        return next(iter({**self.params, **self.buffers}.values())).device

    def to(self, device) -> Stack:
        """Move the stacked tensors to ``device`` (parameters stay leaves for an optimizer)."""
        self.params = {name: p.detach().to(device).requires_grad_(p.requires_grad)
                       for name, p in self.params.items()}
        self.buffers = {name: b.to(device) for name, b in self.buffers.items()}
        return self

    def train(self, mode: bool = True) -> Stack:
        self._base.train(mode)
        return self

    def eval(self) -> Stack:
        return self.train(False)

    def _one(self, params: dict, buffers: dict, x: Tensor) -> Tensor:
        return functional_call(self._base, (params, buffers), (x,))

    def __call__(self, x: Tensor) -> Tensor:
        return torch.vmap(self._one, randomness="different")(self.params, self.buffers, x)

    @torch.no_grad()
    def write_to(self, models: Sequence[nn.Module]) -> None:
        """Copy run ``r``'s weights and buffers into ``models[r]`` (same architecture)."""
        for r, model in enumerate(models):
            own = _tensors(model)
            for name, stacked in {**self.params, **self.buffers}.items():
                own[name].copy_(stacked[r])

    def unstack(self) -> list[nn.Module]:
        """``R`` ordinary modules holding the runs' weights, on the stack's device."""
        models = [copy.deepcopy(self._base).to_empty(device=self.device) for _ in range(self.runs)]
        self.write_to(models)
        return models


class _Indices(Dataset):
    """The indices ``0 .. n-1``; a DataLoader over it yields its order of the examples."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitems__(self, indices: list[int]) -> Tensor:
        return torch.tensor(indices)


def _as_is(batch: Tensor) -> Tensor:
    return batch


class Orders:
    """Each run's order of ``n`` examples for one epoch per ``epoch()`` call: row ``r`` is the
    order in which ``DataLoader(dataset, batch_size, shuffle=True,
    generator=torch.Generator().manual_seed(seeds[r]))`` visits them (``shuffle=False``: in
    order). The loaders are real DataLoaders over the indices, so their generators advance
    exactly as the data's would (whatever the batch size)."""

    def __init__(self, seeds: Sequence[int], n: int, shuffle: bool = True):
        self.n, self.runs, self.shuffle = n, len(seeds), shuffle
        self.loaders = [DataLoader(_Indices(n), batch_size=n, shuffle=True, collate_fn=_as_is,
                                   generator=torch.Generator().manual_seed(seed))
                        for seed in seeds]

    def epoch(self) -> Tensor:
        """``(R, n)`` int64 indices."""
        if not self.shuffle:
            return torch.arange(self.n).expand(self.runs, self.n)
        return torch.stack([torch.cat(list(loader)) for loader in self.loaders])


def per_run(value, runs: int, name: str) -> float | Tensor:
    """A hyper-parameter as one float for all runs, or a float64 tensor of ``runs`` values."""
    values = torch.as_tensor(value, dtype=torch.float64)
    if values.ndim == 0:
        return float(values)
    if values.shape != (runs,):
        raise CourseError("stacked.bad_runs", name=name, got=tuple(values.shape), runs=runs)
    return values


def _along_runs(value: float | Tensor, p: Tensor) -> float | Tensor:
    """A per-run value shaped ``(R, 1, ..., 1)`` to broadcast over ``p: (R, ...)``."""
    if isinstance(value, float):
        return value
    return value.to(p.device, p.dtype).view(-1, *[1] * (p.ndim - 1))


def _with_weight_decay(grad: Tensor, p: Tensor, weight_decay) -> Tensor:
    """``grad + weight_decay * p`` (L2 penalty ``weight_decay / 2 * ||p||^2``), as torch.optim."""
    if isinstance(weight_decay, float):
        return grad.add(p, alpha=weight_decay) if weight_decay != 0 else grad
    return grad + p * _along_runs(weight_decay, p)


class _StackedOptimizer(torch.optim.Optimizer):
    """A torch.optim.Optimizer over stacked parameters ``(R, ...)`` with per-run ``lr`` and
    ``weight_decay`` (a float for all runs or a tensor of ``R`` values)."""

    def __init__(self, params, defaults: dict):
        params = list(params)
        runs = params[0].shape[0] if params else 0
        for key in ("lr", "weight_decay"):
            value = per_run(defaults[key], runs, key)
            # Per-run values live beside the parameters: no copy to the GPU at every step.
            defaults[key] = value if isinstance(value, float) else value.to(params[0])
        super().__init__(params, defaults)


class StackedSGD(_StackedOptimizer):
    """``torch.optim.SGD`` for every run at once (``maximize=False``)::

        g = grad + weight_decay * p
        b = g (first step),   b = momentum * b + (1 - dampening) * g (later steps)
        g = g + momentum * b (nesterov) or b (momentum > 0)
        p = p - lr * g
    """

    def __init__(self, params, lr=1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay=0.0, nesterov: bool = False):
        super().__init__(params, {"lr": lr, "momentum": momentum, "dampening": dampening,
                                  "weight_decay": weight_decay, "nesterov": nesterov})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            momentum, dampening = group["momentum"], group["dampening"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = _with_weight_decay(p.grad, p, group["weight_decay"])
                if momentum != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()
                    else:
                        state["momentum_buffer"].mul_(momentum).add_(g, alpha=1 - dampening)
                    b = state["momentum_buffer"]
                    g = g.add(b, alpha=momentum) if group["nesterov"] else b
                lr = _along_runs(group["lr"], p)
                if isinstance(lr, float):
                    p.add_(g, alpha=-lr)
                else:
                    p.sub_(g * lr)


class StackedAdam(_StackedOptimizer):
    """``torch.optim.Adam`` (``decoupled=False``) or ``torch.optim.AdamW`` (``decoupled=True``)
    for every run at once (``amsgrad=False``, ``maximize=False``); step ``t = 1, 2, ...``::

        p = p (1 - lr * weight_decay)   (decoupled)  or  g = grad + weight_decay * p
        m = beta1 m + (1 - beta1) g,    v = beta2 v + (1 - beta2) g^2
        p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
    """

    def __init__(self, params, lr=1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay=0.0, decoupled: bool = False):
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps,
                                  "weight_decay": weight_decay, "decoupled": decoupled})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state.update(step=0, exp_avg=torch.zeros_like(p),
                                 exp_avg_sq=torch.zeros_like(p))
                state["step"] += 1
                lr, wd = _along_runs(group["lr"], p), _along_runs(group["weight_decay"], p)
                g = p.grad
                if group["decoupled"]:
                    if not isinstance(wd, float) or wd != 0:
                        p.mul_(1 - lr * wd)
                else:
                    g = _with_weight_decay(g, p, group["weight_decay"])
                m, v, t = state["exp_avg"], state["exp_avg_sq"], state["step"]
                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                denom = (v.sqrt() / (1 - beta2**t) ** 0.5).add_(group["eps"])
                if isinstance(lr, float):
                    p.addcdiv_(m, denom, value=-lr / (1 - beta1**t))
                else:
                    p.addcdiv_(m * (lr / -(1 - beta1**t)), denom)


class StackedAdamW(StackedAdam):
    """``torch.optim.AdamW`` for every run at once: ``StackedAdam`` with decoupled weight decay,
    by default ``1e-2`` as in torch."""

    def __init__(self, params, lr=1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay, decoupled=True)


OPTIMIZERS = {"sgd": StackedSGD, "adam": StackedAdam, "adamw": StackedAdamW}


def _pair(data) -> tuple[Tensor, Tensor]:
    x, y = data.tensors if isinstance(data, TensorDataset) else data
    return x, y


def _correct(out: Tensor, y: Tensor) -> Tensor | None:
    """Correct predictions per run ``(R,)`` for class scores ``out: (R, B, C, ...)`` and integer
    targets ``y: (R, B, ...)``; None when the task is not classification."""
    if y.is_floating_point() or out.ndim != y.ndim + 1:
        return None
    return (out.argmax(dim=2) == y).flatten(1).sum(1)


@torch.no_grad()
def evaluate_stacked(stack: Stack, data, loss_fn: Callable | None = None,
                     batch_size: int = 256) -> tuple[list[float], list[float] | None]:
    """Per run: the mean loss over ``data = (x, y)`` (shared by all runs) and the accuracy
    (None unless classification), in eval mode, in batches of ``batch_size`` as ``evaluate``
    with ``DataLoader(data, batch_size)``. The stack's mode is restored afterwards."""
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    x, y = _pair(data)
    was_training = stack._base.training
    stack.eval()
    total, correct, classification = 0.0, 0.0, True
    for start in range(0, len(y), batch_size):
        xb = x[start: start + batch_size].to(stack.device)
        yb = y[start: start + batch_size].to(stack.device).expand(stack.runs, -1, *y.shape[1:])
        out = stack(xb.expand(stack.runs, *xb.shape))
        total = total + torch.vmap(loss_fn)(out, yb) * len(xb)
        hits = _correct(out, yb)
        classification = classification and hits is not None
        correct = correct + hits if classification else correct
    stack.train(was_training)
    n = max(len(y), 1)
    losses = [loss / n for loss in total.tolist()]
    return losses, [c / n for c in correct.tolist()] if classification else None


def fit_stacked(stack: Stack, train, optimizer: torch.optim.Optimizer, *, seeds: Sequence[int],
                epochs: int, batch_size: int, loss_fn: Callable | None = None, val=None,
                shuffle: bool = True, ema: float = 0.99) -> list[History]:
    """Train the ``R`` runs of ``stack`` together; return one ``History`` per run.

    ``train`` and ``val`` are ``(x, y)`` tensors (or TensorDatasets) shared by all runs; run
    ``r`` draws its batches in the order of ``Orders(seeds)`` (``seeds[r]``, see the module
    docstring). One step: ``out = stack(x[idx])``, ``loss_r = loss_fn(out[r], y[idx[r]])``
    (default cross-entropy, a mean over the batch), ``sum_r loss_r`` backward, then
    ``optimizer.step()`` (a stacked optimizer, ``StackedSGD`` or ``StackedAdam``). The
    histories hold what ``fit`` records except the gradient norms: per step ``step_loss``,
    its EMA and ``step_lr``; per epoch ``train_loss`` (and ``train_acc``), ``val_loss`` (and
    ``val_acc``) with ``val``.
    """
    validation.positive_int("epochs", epochs)
    validation.positive_int("batch_size", batch_size)
    if len(seeds) != stack.runs:
        raise CourseError("stacked.bad_runs", name="seeds", got=(len(seeds),), runs=stack.runs)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    batched_loss = torch.vmap(loss_fn)
    x, y = (t.to(stack.device) for t in _pair(train))
    orders = Orders(seeds, len(y), shuffle)
    histories = [History(ema=ema) for _ in range(stack.runs)]
    for _ in range(epochs):
        stack.train()
        order = orders.epoch().to(stack.device)
        losses, sizes, correct, classification = [], [], 0, True
        for start in range(0, len(y), batch_size):
            idx = order[:, start: start + batch_size]
            xb, yb = x[idx], y[idx]
            out = stack(xb)
            loss = batched_loss(out, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.sum().backward()
            optimizer.step()
            losses.append(loss.detach())
            sizes.append(idx.shape[1])
            hits = _correct(out.detach(), yb)
            classification = classification and hits is not None
            correct = correct + hits if classification else correct
        lr = optimizer.param_groups[0]["lr"]
        lrs = lr.tolist() if isinstance(lr, Tensor) else [lr] * stack.runs
        steps = torch.stack(losses).T.tolist()  # (R, steps)
        accuracy = [c / len(y) for c in correct.tolist()] if classification else None
        val_losses, val_accs = (evaluate_stacked(stack, val, loss_fn, max(batch_size, 256))
                                if val is not None else (None, None))
        for r, history in enumerate(histories):
            history.add_steps(steps[r], [lrs[r]] * len(sizes), [])
            history.train_loss.append(
                sum(loss * n for loss, n in zip(steps[r], sizes, strict=True)) / len(y))
            if accuracy is not None:
                history.train_acc.append(accuracy[r])
            if val_losses is not None:
                history.val_loss.append(val_losses[r])
            if val_accs is not None:
                history.val_acc.append(val_accs[r])
            history.epochs += 1
    return histories


def train_stacked(models: Sequence[nn.Module], train, *, seeds: Sequence[int], epochs: int,
                  batch_size: int, optimizer: str = "adam", lr=1e-3,
                  loss_fn: Callable | None = None, val=None, device=None,
                  **hyper) -> list[History]:
    """Train ``models`` (one architecture) together on ``device`` (default: theirs) and write
    the trained weights back into them; returns one ``History`` per model (``fit_stacked``).

    ``optimizer`` is ``"sgd"``, ``"adam"`` or ``"adamw"`` (``StackedSGD``, ``StackedAdam``,
    ``StackedAdamW``, with torch.optim's defaults);
    ``lr`` and ``weight_decay`` are one number for all runs or one per run; other keyword
    arguments (``momentum``, ``betas``, ...) go to the optimizer as in torch.optim.
    """
    if optimizer not in OPTIMIZERS:
        raise CourseError("stacked.unknown_optimizer", name=optimizer,
                          known=", ".join(OPTIMIZERS))
    stack = Stack(models)
    if device is not None:
        stack.to(device)
    opt = OPTIMIZERS[optimizer](stack.parameters(), lr=lr, **hyper)
    histories = fit_stacked(stack, train, opt, seeds=seeds, epochs=epochs,
                            batch_size=batch_size, loss_fn=loss_fn, val=val)
    stack.write_to(models)
    return histories
