"""Research lab 09: the experiments of the 2018 thesis on shift and scale layers, and their
analysis (the runs themselves: ``course_lib.labs.shift_scale.runner``).

The six experiments of the thesis (``EXPERIMENTS``), each over the learning rates 0.02, 0.04,
0.08 and ``SEEDS``:

===  =====  ===========  =======  ======================================================
 #   net    task         dropout  variants
===  =====  ===========  =======  ======================================================
 1   fcn    10 classes   no       all eleven (``normalization.VARIANTS``)
 2   fcn    10 classes   yes      layerwise ones, none, batch norm (``LAYERWISE``)
 3   mlp    10 classes   no       layerwise
 4   mlp    10 classes   yes      layerwise
 5   fcn    100 classes  no       layerwise
 6   fcn    100 classes  yes      layerwise
===  =====  ===========  =======  ======================================================

The 10- and 100-class tasks are CIFAR-10 and CIFAR-100 in the full profile (when present in
the data folder, else the quick tasks with a visible message) and MNIST digits / pairs of
digits in the quick profile (``runner.DATASETS``), with tiny nets and a few epochs so
that the whole quick grid trains in a few minutes on one CPU core. ``SIZES`` lists them.

    records = runner.run_grid(experiment_configs(1))    # cached: no training
    fig = plot_experiment(records, lang="sk")                # best lr of every variant
    summary(records)["conclusions"]                          # the thesis' claims, ours
    learned_values(runner.run_grid(learned_value_configs()))
    online_learning("mlp")                                   # batch size 1
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ... import datasets
from ...i18n import CourseError, t
from ...models import thesis_net
from ...normalization import LAYERWISE, VARIANTS, Scale, Shift
from ...profile import PROFILES, current_profile
from ...training import ema_curve
from . import runner
from .runner import LEARNING_RATES, MOMENTUM, RunConfig


@dataclass(frozen=True)
class Experiment:
    """One experiment of the thesis: architecture, 10 or 100 classes, dropout or not."""

    number: int
    arch: str
    classes: int
    dropout: bool
    variants: tuple[str, ...]


EXPERIMENTS = {
    1: Experiment(1, "fcn", 10, False, tuple(VARIANTS)),
    2: Experiment(2, "fcn", 10, True, LAYERWISE),
    3: Experiment(3, "mlp", 10, False, LAYERWISE),
    4: Experiment(4, "mlp", 10, True, LAYERWISE),
    5: Experiment(5, "fcn", 100, False, LAYERWISE),
    6: Experiment(6, "fcn", 100, True, LAYERWISE),
}
NEW_VARIANTS = tuple(v for v in VARIANTS if v not in ("none", "batch_norm"))
SEEDS = (0, 1)
LEARNED_SEEDS = tuple(range(2, 10))
"""Extra seeds of ``shift_scale_layer`` (experiment 1, lr 0.04) for the examiners' question."""

SIZES = {
    "quick": {
        10: {"dataset": "mnist", "n_train": 3000, "n_val": 750, "epochs": 5, "batch_size": 50},
        100: {"dataset": "mnist_pairs", "n_train": 6000, "n_val": 1000, "epochs": 6,
              "batch_size": 50},
        "widths": {("fcn", 10): (8, 16), ("fcn", 100): (16, 32), ("mlp", 10): (128, 64)},
        "dropout": 0.2,
    },
    "full": {
        10: {"dataset": "cifar10", "n_train": 45000, "n_val": 5000, "epochs": 30,
             "batch_size": 128},
        100: {"dataset": "cifar100", "n_train": 45000, "n_val": 5000, "epochs": 30,
              "batch_size": 128},
        "widths": {("fcn", 10): (32, 64, 128), ("fcn", 100): (32, 64, 128),
                   ("mlp", 10): (512, 256)},
        "dropout": 0.5,
    },
}
"""Sizes per profile. The thesis does not give its dropout rate; 0.5 (full) and 0.2 (quick,
where the nets are tiny and train for a few epochs) are our choice."""

ONLINE_LR, ONLINE_STEPS = 0.002, 1500
"""Online learning: one example per step needs a smaller step than 0.02 (which diverges)."""
ONLINE_VARIANTS = ("none", "shift_scale_layer", "batch_norm")


_FALLBACK_SAID: set[str] = set()


def _profile(profile: str | None) -> str:
    name = profile or current_profile().name
    if name not in PROFILES:
        raise CourseError("course.unknown_profile", name=name, known=", ".join(PROFILES))
    return name


def task_sizes(classes: int, profile: str | None = None, lang: str | None = None,
               echo: Callable[[str], None] = print) -> dict:
    """Dataset and sizes of the ``classes``-class task; in the full profile without CIFAR in
    the data folder, the quick task (the same cached runs) after a visible message (once per
    session and dataset)."""
    name = _profile(profile)
    sizes = dict(SIZES[name][classes])
    if name == "full" and not datasets.available(sizes["dataset"]):
        quick = SIZES["quick"][classes]
        if sizes["dataset"] not in _FALLBACK_SAID:
            _FALLBACK_SAID.add(sizes["dataset"])
            echo(t("datasets.fallback", lang=lang, name=sizes["dataset"],
                   folder=datasets.folder(sizes["dataset"]), fallback=quick["dataset"]))
        return {**quick, "profile": "quick"}
    return {**sizes, "profile": name}


def experiment_configs(number: int, profile: str | None = None, seeds=SEEDS,
                       lrs=LEARNING_RATES, lang: str | None = None) -> list[RunConfig]:
    """The runs of experiment ``number`` (1-6): every variant x learning rate x seed."""
    if number not in EXPERIMENTS:
        raise CourseError("experiments.unknown_experiment", number=number,
                          known=", ".join(map(str, EXPERIMENTS)))
    e = EXPERIMENTS[number]
    sizes = task_sizes(e.classes, profile, lang)
    used = SIZES[sizes.pop("profile")]
    dropout = used["dropout"] if e.dropout else 0.0
    widths = used["widths"][e.arch, e.classes]
    return [RunConfig(e.arch, variant, dropout=dropout, lr=lr, seed=seed, widths=widths, **sizes)
            for variant in e.variants for lr in lrs for seed in seeds]


def learned_value_configs(profile: str | None = None, variant: str = "shift_scale_layer",
                          lr: float = 0.04, seeds=SEEDS + LEARNED_SEEDS) -> list[RunConfig]:
    """Experiment 1's ``variant`` at ``lr`` over many seeds: where do the values converge?"""
    return [c for c in experiment_configs(1, profile, seeds, (lr,)) if c.variant == variant]


def grid_configs(profile: str | None = None) -> list[RunConfig]:
    """Every run of the notebook: experiments 1-6 and the extra seeds, without repeats."""
    configs = [c for n in EXPERIMENTS for c in experiment_configs(n, profile)]
    return list(dict.fromkeys([*configs, *learned_value_configs(profile)]))


def final_val_error(record: dict) -> float:
    """Validation error after the last epoch; 1 for a run that diverged."""
    return 1.0 if record["diverged"] else record["val_error"][-1]


def _by_setting(records) -> dict[tuple, list[dict]]:
    """Records grouped by (variant, lr): the seeds of one setting together."""
    groups = defaultdict(list)
    for r in records:
        groups[r["variant"], r["lr"]].append(r)
    return groups


def best_lr(records) -> dict[str, float]:
    """For every variant, the learning rate with the lowest validation error after the last
    epoch, averaged over seeds: chosen on validation data, never on the test set."""
    scores = {key: statistics.mean(map(final_val_error, rs))
              for key, rs in _by_setting(records).items()}
    best = {}
    for (variant, lr), score in sorted(scores.items()):
        if variant not in best or score < scores[variant, best[variant]]:
            best[variant] = lr
    return best


def best_runs(records) -> dict[str, list[dict]]:
    """``{variant: the records (one per seed) at its best learning rate}``, variants in the
    order of ``normalization.VARIANTS``."""
    lrs, groups = best_lr(records), _by_setting(records)
    return {v: groups[v, lrs[v]] for v in VARIANTS if v in lrs}


def mean_curve(records, key: str) -> list[float]:
    """The point-wise mean over seeds of the curve ``key`` (cut to the shortest run)."""
    curves = [r[key] for r in records]
    return [statistics.mean(values) for values in zip(*curves, strict=False)]


def steps_to(record_or_records, threshold: float) -> int | None:
    """The first kept step at which the (seed-averaged) EMA training error is at most
    ``threshold``; None if it never gets there."""
    records = record_or_records if isinstance(record_or_records, list) else [record_or_records]
    for step, error in zip(records[0]["steps"], mean_curve(records, "train_error_ema"),
                           strict=False):
        if error <= threshold:
            return step
    return None


def variant_label(variant: str, lang: str | None = None) -> str:
    return t(f"experiments.variant.{variant}", lang=lang)


def plot_experiment(records, variants=None, lang: str | None = None):
    """Two panels as in the thesis: the EMA training error per step and the validation error
    per epoch, one line per variant at its best learning rate (mean over seeds). Returns the
    matplotlib Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs = best_runs(records)
    palette = [c for i, c in enumerate(plt.get_cmap("tab10").colors) if i != 7]  # 7 is grey
    colours = dict(zip(NEW_VARIANTS, palette, strict=True))
    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(10, 3.6))
    for variant, rs in runs.items():
        if variants is not None and variant not in variants:
            continue
        style = {"color": colours.get(variant, "black")}
        if variant in ("none", "batch_norm"):
            style = {"color": "black" if variant == "none" else "grey", "linestyle": "--"}
        label = f"{variant_label(variant, lang)} (lr {rs[0]['lr']:g})"
        train = mean_curve(rs, "train_error_ema")
        ax_train.plot(rs[0]["steps"][:len(train)], train, label=label, **style)
        val = mean_curve(rs, "val_error")
        ax_val.plot(range(1, len(val) + 1), val, marker="o", label=label, **style)
    ax_val.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_train.set(xlabel=t("experiments.step", lang=lang),
                 ylabel=t("experiments.train_error_ema", lang=lang, beta=runner.EMA))
    ax_val.set(xlabel=t("experiments.epoch", lang=lang),
               ylabel=t("experiments.val_error", lang=lang))
    ax_val.legend(fontsize=7)
    fig.tight_layout()
    return fig


def summary(records, best_new_from=NEW_VARIANTS) -> dict:
    """The numbers behind the thesis' conclusions for one experiment's records.

    Per variant at its best lr (means over seeds): ``lr``, ``val_error``, ``train_error``
    (evaluation mode, last epoch), ``gap`` = val - train error (overfitting), ``steps_to``
    (steps until the EMA training error reaches ``threshold``, the final EMA training error of
    ``none``). ``best_new``: the new variant with the lowest validation error. ``conclusions``:
    the four claims of the thesis, checked on these records (None where a baseline is missing).
    """
    runs = best_runs(records)
    none = runs.get("none")
    threshold = mean_curve(none, "train_error_ema")[-1] if none else None
    rows = {}
    for variant, rs in runs.items():
        val = statistics.mean(map(final_val_error, rs))
        train = statistics.mean(r["train_error"][-1] if r["train_error"] else 1.0 for r in rs)
        rows[variant] = {"lr": rs[0]["lr"], "val_error": val, "train_error": train,
                         "gap": val - train,
                         "steps_to": None if threshold is None else steps_to(rs, threshold)}
    new = [v for v in best_new_from if v in rows]
    best_new = min(new, key=lambda v: rows[v]["val_error"]) if new else None
    return {"variants": rows, "best_new": best_new, "threshold": threshold,
            "conclusions": _conclusions(rows, best_new)}


def _conclusions(rows: dict, best_new: str | None) -> dict:
    layer, none, bn = (rows.get(v) for v in ("shift_scale_layer", "none", "batch_norm"))
    faster = None
    if layer and none:
        faster = layer["steps_to"] is not None and (
            none["steps_to"] is None or layer["steps_to"] < none["steps_to"])
    return {
        "layer_best": None if best_new is None else best_new == "shift_scale_layer",
        "faster_than_none": faster,
        "overfits": None if not (layer and none) else layer["gap"] > none["gap"],
        "batch_norm_better": None if not (bn and best_new) else
        bn["val_error"] < rows[best_new]["val_error"],
    }


THESIS_CONCLUSIONS = {"layer_best": True, "faster_than_none": True, "overfits": True,
                      "batch_norm_better": True}
"""What the thesis concluded: layerwise shift+scale is the best new combination, learns faster
than no improvement but tends to overfit, and batch norm is still better."""


def conclusions_table(summaries: dict[int, dict], lang: str | None = None) -> str:
    """A text table: one row per claim of the thesis, one column per experiment, each cell
    ``yes`` / ``no`` (``-`` where the experiment cannot tell)."""
    head = [t("experiments.claim", lang=lang), t("experiments.thesis", lang=lang),
            *(f"{t('experiments.experiment', lang=lang)} {n}" for n in summaries)]

    def word(value):
        return "-" if value is None else t(f"experiments.{'yes' if value else 'no'}", lang=lang)

    rows = [[t(f"experiments.claims.{claim}", lang=lang), word(thesis),
             *(word(s["conclusions"][claim]) for s in summaries.values())]
            for claim, thesis in THESIS_CONCLUSIONS.items()]
    widths = [max(len(str(row[i])) for row in [head, *rows]) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in [head, *rows])


def learned_values(records) -> dict[str, list[list[float]]]:
    """The learned layerwise values across runs: ``{"scale": [[a at place 0 of run 1, a at
    place 1, ...], ...], "shift": [...]}``, one inner list per run (seed), in network order
    (place 0 = after the input). Only layers with a single value (layer granularity)."""
    out = {"scale": [], "shift": []}
    for r in records:
        for kind in out:
            values = [e["values"][0] for e in r["learned"] if e["kind"] == kind
                      and e["values"] is not None and len(e["values"]) == 1]
            if values:
                out[kind].append(values)
    return out


def plot_learned_values(records, lang: str | None = None):
    """Scale ``a`` and shift ``b`` learned at each insertion place, one dot per seed."""
    import matplotlib.pyplot as plt

    values = learned_values(records)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for ax, (kind, runs) in zip(axes, values.items(), strict=True):
        for run_values in runs:
            ax.plot(range(len(run_values)), run_values, "o", alpha=0.6)
        ax.axhline(1.0 if kind == "scale" else 0.0, color="grey", linestyle=":")
        ax.set(xlabel=t("experiments.place", lang=lang),
               ylabel=t(f"experiments.learned_{kind}", lang=lang))
    fig.tight_layout()
    return fig


def gradient_step(model, x, y, lr: float = 0.04) -> list[dict]:
    """One SGD step (momentum 0.9; the first step is ``p <- p - lr * grad``) on a batch; for
    every Shift / Scale parameter of ``model``: ``kind``, ``before``, ``grad`` and ``after``
    (tensors). Shift and scale values are parameters like the weights: backpropagation gives
    them a gradient and the same optimizer updates them."""
    layers = [m for m in model if isinstance(m, Scale | Shift)]
    params = [m.a if isinstance(m, Scale) else m.b for m in layers]
    before = [p.detach().clone() for p in params]
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
    optimizer.zero_grad()
    F.cross_entropy(model(x), y).backward()
    grads = [p.grad.detach().clone() for p in params]
    optimizer.step()
    return [{"kind": "scale" if isinstance(m, Scale) else "shift", "before": b, "grad": g,
             "after": p.detach().clone()}
            for m, p, b, g in zip(layers, params, before, grads, strict=True)]


def online_learning(arch: str = "mlp", steps: int = ONLINE_STEPS, lr: float = ONLINE_LR,
                    seed: int = 0, cache=None, lang: str | None = None) -> dict[str, dict]:
    """Online learning (batch size 1, SGD with momentum 0.9) on the 10-class quick task, for
    ``none``, ``shift_scale_layer`` and ``batch_norm``; cached like the runs (file
    ``online_<arch>_n<steps>_lr<lr>_s<seed>.json``, see ``runner.search_dirs``).

    ``{variant: {"steps": [...], "train_error_ema": [...], "val_error": float, "error": None}}``
    (the EMA curve thinned as in a run record), or for a variant that cannot train,
    ``{"error": message in lang}``: our batch norm raises a ``CourseError`` on a batch of one vector
    (one value per channel). After a convolution batch norm still runs, normalizing each image
    over its own positions, and learns little.
    """
    name = f"online_{arch}_n{steps}_lr{lr:g}_s{seed}.json"
    found = runner.find_file(name, cache)
    if found is not None:
        return _localized(json.loads(found.read_text(encoding="utf-8")), lang)
    sizes = SIZES["quick"][10]
    x, y, x_val, y_val = runner.task_data(sizes["dataset"], sizes["n_train"],
                                               sizes["n_val"])
    results = {}
    for variant in ONLINE_VARIANTS:
        model = thesis_net(arch, variant, in_shape=tuple(x.shape[1:]),
                           widths=SIZES["quick"]["widths"][arch, 10], seed=seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
        order = torch.randint(len(x), (steps,), generator=torch.Generator().manual_seed(seed))
        errors = []
        try:
            for i in order.tolist():
                out = model(x[i:i + 1])
                optimizer.zero_grad()
                F.cross_entropy(out, y[i:i + 1]).backward()
                optimizer.step()
                errors.append(float(out.argmax(1).item() != y[i].item()))
        except CourseError as error:
            fields = {key: str(value) for key, value in error.fields.items()}
            results[variant] = {"error": {"key": error.key, "fields": fields}}
            continue
        model.eval()
        with torch.no_grad():
            val_error = (model(x_val).argmax(1) != y_val).double().mean().item()
        ema = ema_curve(errors, runner.EMA)
        kept = runner.curve_indices(steps)
        results[variant] = {"steps": [i + 1 for i in kept],
                            "train_error_ema": [round(ema[i], 5) for i in kept],
                            "val_error": round(val_error, 5), "error": None}
    runner.write_json(
        (cache if cache is not None else runner.cache_dir()) / name, results)
    return _localized(results, lang)


def _localized(results: dict, lang: str | None) -> dict:
    """The stored error (catalog key and fields) as a message in ``lang``."""
    return {variant: {**r, "error": t(r["error"]["key"], lang=lang, **r["error"]["fields"])}
            if r["error"] else r for variant, r in results.items()}
