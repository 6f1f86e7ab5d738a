"""Fair comparison of merging with other ways of spending the same number of training epochs.

Budgets are counted in epochs, as in the table of Pasen and Boza (2022): teacher + teacher /
merging / fine-tuning / total. With teachers trained ``T`` epochs each, ``M`` merging and ``F``
fine-tuning epochs, the total is ``B = 2 T + M + F`` and the methods are:

=====================  =======  ========  ============  ============
method                 teachers merging   fine-tuning   total
=====================  =======  ========  ============  ============
``teacher``            .        .         T             T
``ensemble``           T + T    .         .             2 T
``joined``             T + T    M         .             2 T + M
``error_driven``       T + T    M         F             B
``greedy``             T + T    M'        F             2 T + M' + F
``one_model``          .        .         B             B
``bo3``                .        .         3 x (B // 3)  B
``teacher_finetuned``  T + T    .         M + F         B
``distillation``       T + T    .         M + F         B
=====================  =======  ========  ============  ============

``ensemble`` is the joined model before training (the teachers' average, twice the size);
``joined`` the gated joined model after merging, before pruning; ``bo3`` trains three networks
for a third of the budget each and keeps the best on validation; ``teacher_finetuned``
continues the teacher with the lower validation loss; ``distillation`` trains a fresh network
on ``alpha * soft + (1 - alpha) * hard`` from the two-teacher ensemble. ``greedy`` spends
``M' = ceil(M / 2)`` epochs on the gates and ``max(1, (M - ceil(M / 2)) // P)`` on each of its
``P`` regression steps, which may exceed ``M`` for deep nets; its row states what it spent.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ...i18n import CourseError, t
from ...losses import distillation_loss
from ...training import evaluate
from .algorithms import (
    GATE_LR,
    error_driven_merge,
    greedy_merge,
    is_regression,
    join,
    task_loss,
    train_task,
)
from .joined import check_positive_int

METHODS = ("teacher", "ensemble", "joined", "error_driven", "greedy", "one_model", "bo3",
           "teacher_finetuned", "distillation")

RESNET18_IMAGENET = [
    {"method": "one_model", "teachers": "-", "merging": "-", "finetuning": "90", "total": 90,
     "test_acc": 0.6976},
    {"method": "one_model", "teachers": "-", "merging": "-", "finetuning": "150", "total": 150,
     "test_acc": 0.7028},
    {"method": "error_driven", "teachers": "20 + 20", "merging": "20", "finetuning": "90",
     "total": 150, "test_acc": 0.7047},
]
"""The seed's ResNet-18 / ImageNet-1k rows (top-1 test accuracy), for quoting beside ours."""


def train_fresh(make_model: Callable[[], nn.Module], splits, epochs: int, *, seed: int,
                lr: float = 1e-3, batch_size: int = 32, device=None, loss=None) -> nn.Module:
    """``make_model()`` initialized from ``seed`` and trained ``epochs`` epochs (``train_task``)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = make_model()
        train_task(model, splits, epochs, lr=lr, batch_size=batch_size, seed=seed,
                   device=device, loss=loss)
    return model


def scores(model: nn.Module, splits, device=None, batch_size: int = 256) -> dict:
    """``val_loss``, ``val_acc``, ``test_loss``, ``test_acc`` (accuracies ``None`` for
    regression); the loss is the MSE or the cross-entropy."""
    _, val, test = splits.loaders(batch_size)
    loss_fn = task_loss(splits)
    v, te = evaluate(model, val, loss_fn, device), evaluate(model, test, loss_fn, device)
    return {"val_loss": v.loss, "val_acc": v.accuracy, "test_loss": te.loss,
            "test_acc": te.accuracy}


def best_of(make_model, splits, epochs_each: int, *, n: int = 3, seed: int, **kw) -> nn.Module:
    """``n`` networks trained ``epochs_each`` epochs (seeds ``seed, seed + 1, ...``); the one
    with the lowest validation loss."""
    check_positive_int("n", n)
    nets = [train_fresh(make_model, splits, epochs_each, seed=seed + i, **kw) for i in range(n)]
    return min(nets, key=lambda m: scores(m, splits, kw.get("device"))["val_loss"])


def finetune_best_teacher(teachers: Sequence[nn.Module], splits, epochs: int, *, seed: int,
                          **kw) -> nn.Module:
    """A copy of the teacher with the lowest validation loss, trained ``epochs`` more."""
    best = min(teachers, key=lambda m: scores(m, splits, kw.get("device"))["val_loss"])
    model = copy.deepcopy(best)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        train_task(model, splits, epochs, seed=seed, **kw)
    return model


def ensemble_loss(teachers: Sequence[nn.Module], regression: bool, temperature: float = 4.0,
                  alpha: float = 0.9):
    """``loss(student, x, y)`` distilling the teachers' ensemble. Regression: ``alpha *
    MSE(s, mean_k t_k) + (1 - alpha) * MSE(s, y)``. Classification: ``losses.distillation_loss``
    with the ensemble's soft targets ``p = mean_k softmax(t_k / T)``, passed as the logits
    ``T log p`` (whose softmax at temperature ``T`` is ``p``)."""
    for m in teachers:
        m.eval()

    def loss(student, x, y):
        out = student(x)
        with torch.no_grad():
            outs = torch.stack([m(x) for m in teachers])
        if regression:
            return alpha * ((out - outs.mean(0)) ** 2).mean() + (1 - alpha) * ((out - y) ** 2
                                                                                ).mean()
        p = torch.softmax(outs / temperature, dim=-1).mean(0)
        return distillation_loss(out, temperature * torch.log(p), y, temperature, alpha)

    return loss


def _row(method, seed, teachers, merging, finetuning, total, model, splits, device) -> dict:
    return {"method": method, "seed": seed, "teachers": teachers, "merging": merging,
            "finetuning": finetuning, "total": total, "model": model,
            **scores(model, splits, device)}


def compare(make_model: Callable[[], nn.Module], splits, *, teacher_epochs: int,
            merge_epochs: int, finetune_epochs: int, seeds: Sequence[int] = (0,),
            methods: Sequence[str] = METHODS, lr: float = 1e-3, gate_lr: float = GATE_LR,
            alpha: float = 1.0, alpha_growth: float = 1.5, batch_size: int = 32,
            device=None) -> list[dict]:
    """Train two teachers per seed and every method of ``methods`` under the same budget.

    Returns one row per method and seed: ``method``, ``seed``, the epochs ``teachers``,
    ``merging``, ``finetuning`` (strings as in the table) and ``total`` (int), ``model`` (the
    trained network), and its ``val_loss``, ``val_acc``, ``test_loss``, ``test_acc``. Teacher
    rows are ``teacher`` (one per teacher)."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise CourseError("merging.unknown_method", name=unknown[0], known=", ".join(METHODS))
    for name, value in (("teacher_epochs", teacher_epochs), ("merge_epochs", merge_epochs),
                        ("finetune_epochs", finetune_epochs)):
        check_positive_int(name, value)
    T, M, F = teacher_epochs, merge_epochs, finetune_epochs
    budget, tt = 2 * T + M + F, f"{T} + {T}"
    kw = {"lr": lr, "batch_size": batch_size, "device": device}
    merge_kw = {**kw, "gate_lr": gate_lr, "alpha": alpha, "alpha_growth": alpha_growth}
    regression = is_regression(splits)
    rows = []
    for seed in seeds:
        base = 1000 * seed
        a = train_fresh(make_model, splits, T, seed=base, **kw)
        b = train_fresh(make_model, splits, T, seed=base + 1, **kw)
        if "teacher" in methods:
            rows += [_row("teacher", seed, "-", "-", str(T), T, m, splits, device) for m in (a, b)]
        if "ensemble" in methods:
            rows.append(_row("ensemble", seed, tt, "-", "-", 2 * T, join(a, b), splits, device))
        if {"joined", "error_driven"} & set(methods):
            merged = error_driven_merge(a, b, splits, merge_epochs=M, finetune_epochs=F,
                                        seed=seed, **merge_kw)
            if "joined" in methods:
                rows.append(_row("joined", seed, tt, str(M), "-", 2 * T + M, merged.joined,
                                 splits, device))
            if "error_driven" in methods:
                rows.append(_row("error_driven", seed, tt, str(M), str(F), budget,
                                 merged.student, splits, device))
        if "greedy" in methods:
            gate = math.ceil(M / 2)
            points = len(join(a, b).point_gates()) + 1
            greedy = greedy_merge(a, b, splits, gate_epochs=gate,
                                  layer_epochs=max(1, (M - gate) // points),
                                  finetune_epochs=F, seed=seed, **merge_kw)
            spent = greedy.epochs["merge"]
            rows.append(_row("greedy", seed, tt, str(spent), str(F), 2 * T + spent + F,
                             greedy.student, splits, device))
        if "one_model" in methods:
            net = train_fresh(make_model, splits, budget, seed=base + 2, **kw)
            rows.append(_row("one_model", seed, "-", "-", str(budget), budget, net, splits,
                             device))
        if "bo3" in methods:
            net = best_of(make_model, splits, budget // 3, n=3, seed=base + 3, **kw)
            rows.append(_row("bo3", seed, "-", "-", f"3 x {budget // 3}", budget, net, splits,
                             device))
        if "teacher_finetuned" in methods:
            net = finetune_best_teacher((a, b), splits, M + F, seed=base + 6, **kw)
            rows.append(_row("teacher_finetuned", seed, tt, "-", str(M + F), budget, net,
                             splits, device))
        if "distillation" in methods:
            net = train_fresh(make_model, splits, M + F, seed=base + 7,
                              loss=ensemble_loss((a, b), regression), **kw)
            rows.append(_row("distillation", seed, tt, "-", str(M + F), budget, net, splits,
                             device))
    return rows


def summarize(rows: Sequence[dict], metric: str | None = None) -> list[dict]:
    """One row per method (in first-seen order) with the epochs and ``mean`` and ``std`` (sample
    standard deviation, 0 for one value) of ``metric`` over all its rows (seeds, and both
    teachers). ``metric`` defaults to ``test_acc`` for classification, ``test_loss`` else."""
    metric = metric or ("test_acc" if rows and rows[0].get("test_acc") is not None
                        else "test_loss")
    summary: dict[str, dict] = {}
    for row in rows:
        entry = summary.setdefault(row["method"], {
            key: row[key] for key in ("method", "teachers", "merging", "finetuning", "total")
        } | {"values": []})
        entry["values"].append(row[metric])
    for entry in summary.values():
        values = entry.pop("values")
        entry.update(metric=metric, n=len(values), mean=statistics.fmean(values),
                     std=statistics.stdev(values) if len(values) > 1 else 0.0)
    return list(summary.values())


def format_table(summary: Sequence[dict], lang: str | None = None) -> str:
    """A plain-text table in the seed's format: method, epochs (teachers, merging, fine-tuning,
    total) and the metric as ``mean ± std`` over ``n > 1`` runs, else the single value
    (accuracies in percent, losses as numbers).
    ``summary`` are rows of ``summarize`` or ``RESNET18_IMAGENET``."""
    metric = summary[0].get("metric", "test_acc") if summary else "test_acc"
    header = [t(f"merging.col_{key}", lang=lang)
              for key in ("method", "teachers", "merging", "finetuning", "total")]
    header.append(t(f"merging.col_{metric}", lang=lang))
    lines = []
    for row in summary:
        mean = row.get("mean", row.get(metric))
        std, spread = row.get("std", 0.0), row.get("n", 1) > 1
        if metric.endswith("acc"):
            value = f"{100 * mean:.2f} %" + (f" ± {100 * std:.2f}" if spread else "")
        else:
            value = f"{mean:.4f}" + (f" ± {std:.4f}" if spread else "")
        lines.append([t(f"merging.method_{row['method']}", lang=lang), row["teachers"],
                      row["merging"], row["finetuning"], str(row["total"]), value])
    widths = [max(len(r[i]) for r in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
           for r in [header, *lines]]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
