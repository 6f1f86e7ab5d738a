"""Fair comparison of merging with other ways of spending the same number of training epochs.

Budgets are counted in epochs, as in the talk's table: teacher + teacher / merging /
fine-tuning / total. With teachers trained ``T`` epochs each, ``M`` merging and ``F``
fine-tuning epochs, the total is ``B = 2 T + M + F`` and the methods are:

=====================  =======  ========  ============  ============
method                 teachers merging   fine-tuning   total
=====================  =======  ========  ============  ============
``teacher``            .        .         T             T
``ensemble``           T + T    .         .             2 T
``joined``             T + T    M         .             2 T + M
``error_driven``       T + T    M         F             B
``greedy``             T + T    M         F             B
``one_model``          .        .         B             B
``bo3``                .        .         3 x (B // 3)  3 (B // 3)
``teacher_finetuned``  T + T    .         M + F         B
``distillation``       T + T    .         M + F         B
=====================  =======  ========  ============  ============

``ensemble`` is the joined model before training (the teachers' average, twice the size);
``joined`` the gated joined model after merging, before pruning (twice as wide as a teacher);
``bo3`` trains three networks for a third of the budget each (rounded down, so it spends up to
two epochs less than ``B``) and keeps the best on validation;
``teacher_finetuned`` continues the teacher with the lower validation loss; ``distillation``
trains a fresh network on ``alpha * soft + (1 - alpha) * hard`` from the two-teacher ensemble.
``greedy`` spends ``ceil(M / 2)`` epochs on the gates and shares the rest among its regression
steps (``algorithms.greedy_split``). The last six rows spend the same budget ``B`` (bo3 up to
two epochs less, see above; ``EQUAL_BUDGET``); the first three are intermediate states.

All runs of one kind, over every seed, train together (``course_lib.stacked``: one step updates
every run; run ``r`` draws its batches from its own seed); only the merging phases (the gated
joined model, the greedy regressions) train seed by seed. Seed ``s`` initializes (and
shuffles) its networks from ``1000 s + k``: teachers ``k = 0, 1``, one model 2, bo3 3 to 5, the
better teacher's fine-tuning 6, distillation 7; the merges use seed ``s`` and fine-tune with
``s + 1``, as ``algorithms.error_driven_merge`` and ``greedy_merge`` do on their own. Adding a
seed does not change the runs of the others.
"""

from __future__ import annotations

import copy
import statistics
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...i18n import CourseError, format_number, format_percent, t
from ...models import count_parameters
from ...stacked import Orders, Stack, StackedAdam, seeded
from ...tables import Table
from ...training import evaluate
from .algorithms import (
    GATE_LR,
    can_stack,
    error_driven_merge,
    greedy_merge,
    greedy_split,
    is_regression,
    join,
    loaders,
    runs_device,
    task_loss,
    train_runs,
    train_task,
)
from .joined import check_positive_int

METHODS = ("teacher", "ensemble", "joined", "error_driven", "greedy", "one_model", "bo3",
           "teacher_finetuned", "distillation")
EQUAL_BUDGET = ("error_driven", "greedy", "one_model", "bo3", "teacher_finetuned",
                "distillation")
"""The methods that spend the whole budget ``B``."""
MERGING = ("error_driven", "greedy")

RESNET18_IMAGENET = [
    {"method": "one_model", "teachers": "-", "merging": "-", "finetuning": "90", "total": 90,
     "top1": 0.6976},
    {"method": "one_model", "teachers": "-", "merging": "-", "finetuning": "150", "total": 150,
     "top1": 0.7028},
    {"method": "merged_talk", "teachers": "20 + 20", "merging": "20", "finetuning": "90",
     "total": 150, "top1": 0.7047},
]
"""The talk's ResNet-18 / ImageNet-1k table: one value per row, no spread. The talk calls the
accuracy "test accuracy"; 69.76 % is the top-1 accuracy of torchvision's ResNet-18 on the
ImageNet validation set (50 000 images; the test set's labels are not public). The table does
not say which merging algorithm gave its third row."""

SEED_STRIDE = 1000


def fresh_runs(make_model: Callable[[], nn.Module], splits, epochs: int, *,
               seeds: Sequence[int], device=None, **kw) -> list[nn.Module]:
    """``make_model()`` initialized from each seed (``stacked.seeded``) and trained together
    (``train_runs``, batches shuffled by the same seed)."""
    models = [m.to(device or "cpu") for m in seeded(make_model, list(seeds))]
    return train_runs(models, splits, epochs, seeds=seeds, device=device, **kw)


def train_fresh(make_model: Callable[[], nn.Module], splits, epochs: int, *, seed: int,
                lr: float = 1e-3, batch_size: int = 32, device=None, loss=None) -> nn.Module:
    """One ``make_model()`` initialized from ``seed`` and trained ``epochs`` epochs by
    ``training.fit`` (``algorithms.train_task``), e.g. with a ``loss(model, x, y)``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
        train_task(model, splits, epochs, lr=lr, batch_size=batch_size, seed=seed,
                   device=device, loss=loss)
    return model


def scores(model: nn.Module, splits, device=None, batch_size: int = 256) -> dict:
    """``val_loss``, ``val_acc``, ``test_loss``, ``test_acc`` (accuracies ``None`` for
    regression) in float32; the loss is the MSE or the cross-entropy."""
    _, val, test = loaders(splits, 1, eval_batch_size=batch_size)
    loss_fn = task_loss(splits)
    v, te = (evaluate(model, part, loss_fn, device, amp=False, channels_last=False)
             for part in (val, test))
    return {"val_loss": v.loss, "val_acc": v.accuracy, "test_loss": te.loss,
            "test_acc": te.accuracy}


def _best(models: Sequence[nn.Module], splits, device) -> nn.Module:
    return min(models, key=lambda m: scores(m, splits, device)["val_loss"])


def best_of(make_model, splits, epochs_each: int, *, n: int = 3, seed: int, **kw) -> nn.Module:
    """``n`` networks trained ``epochs_each`` epochs (seeds ``seed, seed + 1, ...``); the one
    with the lowest validation loss."""
    check_positive_int("n", n)
    nets = fresh_runs(make_model, splits, epochs_each, seeds=range(seed, seed + n), **kw)
    return _best(nets, splits, kw.get("device"))


def finetune_best_teacher(teachers: Sequence[nn.Module], splits, epochs: int, *, seed: int,
                          **kw) -> nn.Module:
    """A copy of the teacher with the lower validation loss, trained ``epochs`` more."""
    model = copy.deepcopy(_best(teachers, splits, kw.get("device")))
    return train_runs([model], splits, epochs, seeds=[seed], **kw)[0]


@torch.no_grad()
def ensemble_targets(teachers: Sequence[nn.Module], x: Tensor, regression: bool,
                     temperature: float = 4.0, batch_size: int = 1024) -> Tensor:
    """What a student distils from the teachers' ensemble on the inputs ``x``: the mean output
    ``mean_k t_k(x)`` for regression, else ``log p`` with ``p = mean_k softmax(t_k(x) / T)``
    (shape of one teacher's output), in eval mode, on the teachers' device."""
    device = next(teachers[0].parameters()).device
    parts = []
    for start in range(0, len(x), batch_size):
        xb = x[start: start + batch_size].to(device)
        outs = []
        for m in teachers:
            m.eval()
            outs.append(m(xb))
        outs = torch.stack(outs)
        parts.append(outs.mean(0) if regression else
                     torch.log(torch.softmax(outs / temperature, dim=-1).mean(0)))
    return torch.cat(parts)


def ensemble_loss(teachers: Sequence[nn.Module], regression: bool, temperature: float = 4.0,
                  alpha: float = 0.9):
    """``loss(student, x, y)`` distilling the teachers' ensemble (for ``training.fit``'s
    ``objective``): ``distilled(student(x), ensemble_targets(teachers, x), y)``."""

    def loss(student, x, y):
        target = ensemble_targets(teachers, x, regression, temperature)
        return distilled(student(x), target, y, regression, temperature, alpha)

    return loss


def distilled(out: Tensor, target: Tensor, y: Tensor, regression: bool,
              temperature: float = 4.0, alpha: float = 0.9) -> Tensor:
    """The distillation loss of one run. Regression: ``alpha * MSE(out, target) + (1 - alpha) *
    MSE(out, y)``. Classification, ``target = log p`` of the ensemble: ``losses.distillation_loss``
    with the teacher logits ``T log p`` (whose softmax at temperature ``T`` is ``p``)::

        alpha * T^2 * KL(p || softmax(out / T)) + (1 - alpha) * CE(out, y)

    written without argument checks so that ``torch.vmap`` can batch it over runs."""
    if regression:
        return alpha * ((out - target) ** 2).mean() + (1 - alpha) * ((out - y) ** 2).mean()
    log_p_s = F.log_softmax(out / temperature, dim=-1)
    kl = (target.exp() * (target - log_p_s)).sum(-1).mean()
    return alpha * temperature**2 * kl + (1 - alpha) * F.cross_entropy(out, y)


def distill_runs(make_model, splits, teacher_pairs: Sequence[Sequence[nn.Module]], epochs: int,
                 *, seeds: Sequence[int], lr: float = 1e-3, batch_size: int = 32, device=None,
                 temperature: float = 4.0, alpha: float = 0.9) -> list[nn.Module]:
    """One fresh ``make_model()`` per teacher pair (initialized and shuffled by ``seeds[r]``),
    trained together ``epochs`` epochs with Adam on ``distilled`` against its own pair's
    ensemble (targets computed once: the teachers are fixed and in eval mode). Where
    ``algorithms.can_stack`` says no, one after another by ``train_task`` with the objective
    ``ensemble_loss``."""
    regression = is_regression(splits)
    models = [m.to(device or "cpu") for m in seeded(make_model, list(seeds))]
    device = runs_device(models, device)
    if not can_stack(models[0], splits, device):
        for model, pair, seed in zip(models, teacher_pairs, seeds, strict=True):
            train_task(model, splits, epochs, lr=lr, batch_size=batch_size, seed=seed,
                       device=device, loss=ensemble_loss(pair, regression, temperature, alpha))
        return models
    x, y = (v.to(device) for v in splits.train.tensors)
    targets = torch.stack([ensemble_targets([m.to(device) for m in pair], x, regression,
                                            temperature) for pair in teacher_pairs])
    stack = Stack(models)
    optimizer = StackedAdam(stack.parameters(), lr=lr)
    per_run = torch.vmap(lambda o, p, t: distilled(o, p, t, regression, temperature, alpha))
    runs = torch.arange(len(models), device=device).view(-1, 1)
    orders = Orders(list(seeds), len(y))
    for _ in range(epochs):
        stack.train()
        order = orders.epoch().to(device)
        for start in range(0, len(y), batch_size):
            idx = order[:, start: start + batch_size]
            loss = per_run(stack(x[idx]), targets[runs, idx], y[idx]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    stack.write_to(models)
    return models


def _row(method, seed, teachers, merging, finetuning, total, model, splits, device) -> dict:
    return {"method": method, "seed": seed, "teachers": teachers, "merging": merging,
            "finetuning": finetuning, "total": total, "model": model,
            "params": count_parameters(model), **scores(model, splits, device)}


def compare(make_model: Callable[[], nn.Module], splits, *, teacher_epochs: int,
            merge_epochs: int, finetune_epochs: int, seeds: Sequence[int] = (0,),
            methods: Sequence[str] = METHODS, lr: float = 1e-3, gate_lr: float = GATE_LR,
            alpha: float = 1.0, alpha_growth: float = 1.5, batch_size: int = 32,
            device=None) -> list[dict]:
    """Train two teachers per seed and every method of ``methods`` under the same budget.

    Returns one row per method and seed (seed by seed, in the order of ``METHODS``):
    ``method``, ``seed``, the epochs ``teachers``, ``merging``, ``finetuning`` (strings as in
    the table) and ``total`` (int), ``model`` (the trained network, on ``device``), its
    ``params`` and its ``val_loss``, ``val_acc``, ``test_loss``, ``test_acc``. Teacher rows are
    ``teacher`` (one per teacher)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CourseError("merging.unknown_method", name=unknown[0], known=", ".join(METHODS))
    for name, value in (("teacher_epochs", teacher_epochs), ("merge_epochs", merge_epochs),
                        ("finetune_epochs", finetune_epochs)):
        check_positive_int(name, value)
    T, M, F_ = teacher_epochs, merge_epochs, finetune_epochs
    budget, tt = 2 * T + M + F_, f"{T} + {T}"
    seeds, wanted = list(seeds), set(methods)
    kw = {"lr": lr, "batch_size": batch_size, "device": device}
    merge_kw = {**kw, "gate_lr": gate_lr, "alpha": alpha, "alpha_growth": alpha_growth}
    base = [SEED_STRIDE * s for s in seeds]

    def each(k: int) -> list[int]:
        return [b + k for b in base]

    teachers = fresh_runs(make_model, splits, T, seeds=[b + i for b in base for i in (0, 1)],
                          **kw)
    pairs = [teachers[2 * i: 2 * i + 2] for i in range(len(seeds))]
    found: dict[str, list[tuple[nn.Module, str, str, str, int]]] = {m: [] for m in METHODS}
    found["teacher"] = [(m, "-", "-", str(T), T) for m in teachers]
    found["ensemble"] = [(join(*pair), tt, "-", "-", 2 * T) for pair in pairs]
    if {"joined", "error_driven"} & wanted:
        merged = [error_driven_merge(*pair, splits, merge_epochs=M, finetune_epochs=0,
                                     seed=s, **merge_kw) for pair, s in zip(pairs, seeds,
                                                                             strict=True)]
        found["joined"] = [(r.joined, tt, str(M), "-", 2 * T + M) for r in merged]
        if "error_driven" in wanted:
            students = train_runs([r.student for r in merged], splits, F_,
                                  seeds=[s + 1 for s in seeds], **kw)
            found["error_driven"] = [(m, tt, str(M), str(F_), budget) for m in students]
    if "greedy" in wanted:
        points = len(join(*pairs[0]).point_gates()) + 1
        gate, layer = greedy_split(M, points)
        greedy = [greedy_merge(*pair, splits, gate_epochs=gate, layer_epochs=layer,
                               finetune_epochs=0, seed=s, **merge_kw)
                  for pair, s in zip(pairs, seeds, strict=True)]
        students = train_runs([r.student for r in greedy], splits, F_,
                              seeds=[s + 1 for s in seeds], **kw)
        found["greedy"] = [(m, tt, str(M), str(F_), budget) for m in students]
    if "one_model" in wanted:
        found["one_model"] = [(m, "-", "-", str(budget), budget)
                              for m in fresh_runs(make_model, splits, budget, seeds=each(2), **kw)]
    if "bo3" in wanted:
        nets = fresh_runs(make_model, splits, budget // 3,
                          seeds=[b + k for b in base for k in (3, 4, 5)], **kw)
        found["bo3"] = [(_best(nets[3 * i: 3 * i + 3], splits, device), "-", "-",
                         f"3 x {budget // 3}", 3 * (budget // 3)) for i in range(len(seeds))]
    if "teacher_finetuned" in wanted:
        best = [copy.deepcopy(_best(pair, splits, device)) for pair in pairs]
        found["teacher_finetuned"] = [(m, tt, "-", str(M + F_), budget)
                                      for m in train_runs(best, splits, M + F_, seeds=each(6),
                                                          **kw)]
    if "distillation" in wanted:
        found["distillation"] = [(m, tt, "-", str(M + F_), budget)
                                 for m in distill_runs(make_model, splits, pairs, M + F_,
                                                       seeds=each(7), **kw)]
    rows = []
    for i, seed in enumerate(seeds):
        for method in METHODS:
            if method not in wanted:
                continue
            entries = found[method][2 * i: 2 * i + 2] if method == "teacher" else \
                found[method][i: i + 1]
            rows += [_row(method, seed, *entry[1:], entry[0], splits, device)
                     for entry in entries]
    return rows


def summarize(rows: Sequence[dict], metric: str | None = None) -> list[dict]:
    """One row per method (in first-seen order) with the epochs, ``params`` and ``mean`` and
    ``std`` (sample standard deviation, 0 for one value) of ``metric`` over all its rows
    (seeds, and both teachers). ``metric`` defaults to ``test_acc`` for classification,
    ``test_loss`` else."""
    metric = metric or ("test_acc" if rows and rows[0].get("test_acc") is not None
                        else "test_loss")
    summary: dict[str, dict] = {}
    for row in rows:
        entry = summary.setdefault(row["method"], {
            key: row.get(key) for key in ("method", "teachers", "merging", "finetuning", "total",
                                          "params")
        } | {"values": []})
        entry["values"].append(row[metric])
    for entry in summary.values():
        values = entry.pop("values")
        entry.update(metric=metric, n=len(values), mean=statistics.fmean(values),
                     std=statistics.stdev(values) if len(values) > 1 else 0.0)
    return list(summary.values())


def _value(mean: float, std: float, spread: bool, metric: str, lang: str | None) -> str:
    if metric.endswith("acc") or metric == "top1":
        text = format_percent(mean, 2, lang)
        return text + (f" ± {format_number(100 * std, '.2f', lang)}" if spread else "")
    text = format_number(mean, ".4f", lang)
    return text + (f" ± {format_number(std, '.4f', lang)}" if spread else "")


def _times(budget: str) -> str:
    """The records write bo3's budget as ``"3 x 233"``; the table shows ``3 × 233``."""
    return budget.replace(" x ", " × ")


def table_cells(summary: Sequence[dict], lang: str | None = None) -> tuple[list, list]:
    """``(header, rows)`` of ``table``: the cells as strings, the total as an int."""
    metric = summary[0].get("metric", "top1") if summary else "top1"
    header = [t(f"merging.col_{key}", lang=lang)
              for key in ("method", "teachers", "merging", "finetuning", "total")]
    header.append(t(f"merging.col_{metric}", lang=lang))
    rows = []
    for row in summary:
        mean = row.get("mean", row.get(metric))
        value = _value(mean, row.get("std", 0.0), row.get("n", 1) > 1, metric, lang)
        rows.append([t(f"merging.method_{row['method']}", lang=lang), row["teachers"],
                     row["merging"], _times(row["finetuning"]), row["total"], value])
    return header, rows


def table(summary: Sequence[dict], lang: str | None = None) -> Table:
    """The table in the talk's format (a ``course_lib.tables.Table``: HTML in Jupyter, text
    by ``str``): method, epochs (teachers, merging, fine-tuning, total) and the metric as
    ``mean ± std`` over ``n > 1`` runs, else the single value (accuracies in percent, the ± in
    percentage points; losses as numbers), numbers in the course language. ``summary`` are
    rows of ``summarize`` or ``RESNET18_IMAGENET``."""
    header, rows = table_cells(summary, lang)
    return Table(rows, header, lang=lang)


def format_table(summary: Sequence[dict], lang: str | None = None) -> str:
    """``table(summary, lang)`` as aligned plain text."""
    return str(table(summary, lang))
