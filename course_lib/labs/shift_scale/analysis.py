"""Research lab 09: the experiments of the 2018 thesis on shift and scale layers, and their
analysis (the runs themselves: ``course_lib.labs.shift_scale.runner``).

The six experiments of the thesis (``EXPERIMENTS``), each over the learning rates 0.02, 0.04,
0.08 and the seeds of the profile (``SIZES[profile]["seeds"]``):

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

The 10- and 100-class tasks (``tasks.DATASETS``) are CIFAR-10 and CIFAR-100 in the full
profile when they are in the data folder; without them the full profile trains on the offline
stand-ins at full resolution (the MNIST sample at 28 x 28 and pairs of its digits, with a
visible message), and the quick profile on the same stand-ins at 14 x 14 with tiny nets and a
few epochs, so that the whole quick grid trains in about ten minutes on one CPU core.
``SIZES`` lists them; every size there is our choice, not the thesis'.

Honest selection: each variant's learning rate is the one with the lowest validation error
(``best_lr``); the error we report for it is the test error of those runs (``summary``), data
that played no part in any choice. The curves show validation error.

    records = runner.run_grid(experiment_configs(1))         # cached: no training
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
from dataclasses import dataclass, replace

import torch
from torch.nn import functional as F

from ... import datasets
from ...i18n import CourseError, t
from ...models import RESNET_VARIANTS, thesis_net
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
LEARNED_SEEDS = tuple(range(2, 10))
"""Extra seeds of ``shift_scale_layer`` (experiment 1, lr 0.04) for the examiners' question."""
ORDER_EXPERIMENT = 5
"""The experiment whose layerwise shift+scale runs are repeated in the other order
(``"scale_shift"``, ``a * x + b``): our extension, the thesis used shift then scale."""
REGULARIZED_EXPERIMENT = 5
"""The experiment whose layerwise shift+scale runs are repeated with weight decay: there the
thesis' variant overfits most (the examiner's question: how to impose stronger
regularization)."""
WEIGHT_DECAYS = (0.0003, 0.001, 0.003, 0.01)
"""The weight decay coefficients tried (our choice, about half a decade apart; with momentum
0.9 and the quick profile's 720 steps at lr 0.04, ``lambda`` shrinks a weight that gets no
gradient by a factor of about ``exp(-lambda * 0.04 / (1 - 0.9) * 720)``: 0.92 for 0.0003,
0.06 for 0.01)."""

SIZES = {
    "quick": {
        10: {"dataset": "mnist14", "n_train": 3000, "n_val": 750, "n_test": 750, "epochs": 5,
             "batch_size": 50},
        100: {"dataset": "mnist14_pairs", "n_train": 6000, "n_val": 1000, "n_test": 1000,
              "epochs": 6, "batch_size": 50},
        "widths": {("fcn", 10): (8, 16), ("fcn", 100): (16, 32), ("mlp", 10): (128, 64)},
        "dropout": 0.2, "seeds": (0, 1),
    },
    "full": {
        10: {"dataset": "cifar10", "n_train": 45000, "n_val": 5000, "n_test": 10000,
             "epochs": 20, "batch_size": 128},
        100: {"dataset": "cifar100", "n_train": 45000, "n_val": 5000, "n_test": 10000,
              "epochs": 20, "batch_size": 128},
        "widths": {("fcn", 10): (32, 64, 128), ("fcn", 100): (32, 64, 128),
                   ("mlp", 10): (512, 256)},
        "dropout": 0.5, "seeds": (0, 1),
    },
    "full_offline": {
        10: {"dataset": "mnist28", "n_train": 3500, "n_val": 750, "n_test": 750, "epochs": 20,
             "batch_size": 64},
        100: {"dataset": "mnist28_pairs", "n_train": 16000, "n_val": 2000, "n_test": 2000,
              "epochs": 8, "batch_size": 64},
        "widths": {("fcn", 10): (32, 64, 128), ("fcn", 100): (32, 64, 128),
                   ("mlp", 10): (512, 256)},
        "dropout": 0.2, "seeds": (0, 1),
    },
}
"""Sizes per profile; ``full_offline`` is the full profile without CIFAR in the data folder.
The thesis gives none of these: not its widths, epochs, batch size, dropout rate, data split
or number of seeds. All are our choices: tiny nets and a few epochs in the quick profile (one
CPU core), in the full profile sizes that train the whole grid in minutes on one GPU."""

RESNET_SIZES = {
    "quick": {"dataset": "mnist14", "n_train": 3000, "n_val": 750, "n_test": 750, "epochs": 3,
              "batch_size": 50, "widths": (8, 16, 32)},
    "full": {**SIZES["full"][10], "widths": (16, 32, 64)},
    "full_offline": {**SIZES["full_offline"][10], "widths": (16, 32, 64)},
}
"""ResNet-20 against the thesis' question (its further work: larger architectures), on the
10-class task: in the full profile ResNet-20 itself (stage widths 16, 32, 64) with the sizes
of experiments 1-4; in the quick profile a small run, our choice: half the widths and three
epochs on experiment 1's data."""

ONLINE_LR, ONLINE_STEPS = 0.002, 1500
"""Online learning: one example per step needs a smaller step than the thesis' 0.02, at which
every variant stays near chance (our choice: 0.002 and 1500 steps)."""
ONLINE_VARIANTS = ("none", "shift_scale_layer", "batch_norm")


_FALLBACK_SAID: set[str] = set()


def _profile(profile: str | None) -> str:
    name = profile or current_profile().name
    if name not in PROFILES:
        raise CourseError("course.unknown_profile", name=name, known=", ".join(PROFILES))
    return name


def sizes_name(profile: str | None = None) -> str:
    """The key of ``SIZES`` that ``profile`` (default: the current one) trains with: ``quick``,
    ``full`` (CIFAR-10 and CIFAR-100 in the data folder) or ``full_offline`` (either missing)."""
    name = _profile(profile)
    if name == "full" and not all(datasets.available(SIZES["full"][c]["dataset"])
                                  for c in (10, 100)):
        return "full_offline"
    return name


def task_sizes(classes: int, profile: str | None = None, lang: str | None = None,
               echo: Callable[[str], None] = print) -> dict:
    """Dataset and sizes of the ``classes``-class task, and ``"sizes"``, the key of ``SIZES``
    used. In the full profile without CIFAR in the data folder: the offline stand-in of
    ``full_offline``, after a visible message (once per session and dataset)."""
    name = sizes_name(profile)
    if name == "full_offline":
        wanted = SIZES["full"][classes]["dataset"]
        if wanted not in _FALLBACK_SAID:
            _FALLBACK_SAID.add(wanted)
            echo(t("datasets.fallback", lang=lang, name=wanted, folder=datasets.folder(wanted),
                   fallback=SIZES[name][classes]["dataset"]))
    return {**SIZES[name][classes], "sizes": name}


def experiment_configs(number: int, profile: str | None = None, seeds=None,
                       lrs=LEARNING_RATES, lang: str | None = None,
                       order: str = "shift_scale",
                       echo: Callable[[str], None] = print) -> list[RunConfig]:
    """The runs of experiment ``number`` (1-6): every variant x learning rate x seed (default:
    the profile's seeds), shift and scale layers in ``order``; ``echo`` receives the message
    of ``task_sizes`` when the full profile falls back to the offline stand-ins."""
    if number not in EXPERIMENTS:
        raise CourseError("experiments.unknown_experiment", number=number,
                          known=", ".join(map(str, EXPERIMENTS)))
    e = EXPERIMENTS[number]
    sizes = task_sizes(e.classes, profile, lang, echo)
    used = SIZES[sizes.pop("sizes")]
    dropout = used["dropout"] if e.dropout else 0.0
    widths = used["widths"][e.arch, e.classes]
    seeds = used["seeds"] if seeds is None else seeds
    return [RunConfig(e.arch, variant, dropout=dropout, lr=lr, seed=seed, widths=widths,
                      order=order, **sizes)
            for variant in e.variants for lr in lrs for seed in seeds]


def learned_value_configs(profile: str | None = None, variant: str = "shift_scale_layer",
                          lr: float = 0.04, seeds=None) -> list[RunConfig]:
    """Experiment 1's ``variant`` at ``lr`` over many seeds (default: the profile's and
    ``LEARNED_SEEDS``): where do the values converge?"""
    if seeds is None:
        seeds = SIZES[sizes_name(profile)]["seeds"] + LEARNED_SEEDS
    return [c for c in experiment_configs(1, profile, seeds, (lr,)) if c.variant == variant]


def order_configs(profile: str | None = None, lang: str | None = None) -> list[RunConfig]:
    """Experiment ``ORDER_EXPERIMENT``'s layerwise shift+scale in the other order,
    ``"scale_shift"`` (``a * x + b``), every learning rate and seed: our extension."""
    return [c for c in experiment_configs(ORDER_EXPERIMENT, profile, lang=lang,
                                          order="scale_shift")
            if c.variant == "shift_scale_layer"]


def weight_decay_configs(profile: str | None = None, lang: str | None = None,
                         echo: Callable[[str], None] = print) -> list[RunConfig]:
    """Experiment ``REGULARIZED_EXPERIMENT``'s layerwise shift+scale with SGD's weight decay
    ``lambda`` in ``WEIGHT_DECAYS``, every learning rate and seed: our answer to the examiner's
    question on stronger regularization (``lambda = 0`` is the experiment itself)."""
    base = [c for c in experiment_configs(REGULARIZED_EXPERIMENT, profile, lang=lang, echo=echo)
            if c.variant == "shift_scale_layer"]
    return [replace(c, weight_decay=decay) for decay in WEIGHT_DECAYS for c in base]


def shown_profile(found: Callable[[str], bool], profile: str | None = None,
                  lang: str | None = None, echo: Callable[[str], None] = print) -> str:
    """The profile whose results a section shows: ``profile`` (default: the current one) when
    ``found(profile)`` says its runs are cached or shipped; else, after a message saying so,
    ``"quick"`` (whose runs ship with the package). For sections added after the full
    profile's runs were shipped: the notebook never trains their full runs itself."""
    name = _profile(profile)
    if name == "quick" or found(name):
        return name
    echo(t("experiments.not_shipped", lang=lang))
    return "quick"


def runs_found(configs: Callable[[str], list[RunConfig]],
               file_name: Callable[[RunConfig], str] = RunConfig.file_name
               ) -> Callable[[str], bool]:
    """For ``shown_profile``: whether every file ``file_name(c)`` of ``configs(profile)`` is
    cached or shipped (``runner.find_file``)."""
    return lambda profile: all(runner.find_file(file_name(c)) is not None
                               for c in configs(profile))


def resnet_configs(profile: str | None = None, lang: str | None = None,
                   echo: Callable[[str], None] = print) -> list[RunConfig]:
    """ResNet-20 with each of ``models.RESNET_VARIANTS`` in place of its batch norms, every
    learning rate and seed of the profile, sizes ``RESNET_SIZES`` (the 10-class task; in the
    full profile CIFAR-10, or its stand-in after ``task_sizes``' message)."""
    name = task_sizes(10, profile, lang, echo)["sizes"]
    return [RunConfig("resnet20", variant, lr=lr, seed=seed, **RESNET_SIZES[name])
            for variant in RESNET_VARIANTS for lr in LEARNING_RATES
            for seed in SIZES[name]["seeds"]]


def grid_configs(profile: str | None = None) -> list[RunConfig]:
    """Every run of the notebook: experiments 1-6, the extra seeds, the other order, the
    weight decays and ResNet-20, without repeats."""
    configs = [c for n in EXPERIMENTS for c in experiment_configs(n, profile)]
    return list(dict.fromkeys([*configs, *learned_value_configs(profile),
                               *order_configs(profile), *weight_decay_configs(profile),
                               *resnet_configs(profile)]))


def final_val_error(record: dict) -> float:
    """Validation error after the last epoch; 1 for a run that diverged."""
    return 1.0 if record["diverged"] else record["val_error"][-1]


def final_test_error(record: dict) -> float:
    """Test error after the last epoch; 1 for a run that diverged."""
    return 1.0 if record["diverged"] else record["test_error"]


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

    Per variant at its best lr, chosen on validation (means over seeds): ``lr``,
    ``val_error``, ``test_error`` (the reported number), ``train_error`` (evaluation mode, last
    epoch), ``gap`` = test - train error (overfitting), ``steps_to`` (steps until the EMA
    training error reaches ``threshold``, the final EMA training error of ``none``), ``runs``
    and ``diverged`` (runs at that lr, and how many of them diverged). ``best_new``: the new
    variant with the lowest test error. ``n_test``: test examples. ``conclusions``: the four
    claims of the thesis, checked on these records (None where a baseline is missing).
    """
    runs = best_runs(records)
    none = runs.get("none")
    threshold = mean_curve(none, "train_error_ema")[-1] if none else None
    rows = {}
    for variant, rs in runs.items():
        test = statistics.mean(map(final_test_error, rs))
        train = statistics.mean(r["train_error"][-1] if r["train_error"] else 1.0 for r in rs)
        rows[variant] = {"lr": rs[0]["lr"], "val_error": statistics.mean(map(final_val_error, rs)),
                         "test_error": test, "train_error": train, "gap": test - train,
                         "steps_to": None if threshold is None else steps_to(rs, threshold),
                         "runs": len(rs), "diverged": sum(r["diverged"] for r in rs)}
    new = [v for v in best_new_from if v in rows]
    best_new = min(new, key=lambda v: rows[v]["test_error"]) if new else None
    return {"variants": rows, "best_new": best_new, "threshold": threshold,
            "n_test": records[0]["n_test"] if records else 0,
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
        bn["test_error"] < rows[best_new]["test_error"],
    }


THESIS_CONCLUSIONS = {"layer_best": True, "faster_than_none": True, "overfits": True,
                      "batch_norm_better": True}
"""What the thesis concluded: layerwise shift+scale is the best new combination, learns faster
than no improvement but tends to overfit, and batch norm is still better."""


def learned_values(records) -> dict[str, list[list[float]]]:
    """The learned layerwise values across runs: ``{"scale": [[a at place 0 of run 1, a at
    place 1, ...], ...], "shift": [...]}``, one inner list per run (seed), in network order
    (place 0 = after the input). Only layers with a single value (layer granularity), and only
    runs that did not diverge (their values are inf or NaN)."""
    out = {"scale": [], "shift": []}
    for r in records:
        if r["diverged"]:
            continue
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
                    seed: int = 0, cache=None, lang: str | None = None,
                    order: str = "shift_scale") -> dict[str, dict]:
    """Online learning (batch size 1, SGD with momentum 0.9) on the 10-class quick task, for
    ``none``, ``shift_scale_layer`` (its layers in ``order``) and ``batch_norm``; cached like
    the runs (file ``online_<arch>_<order>_n<steps>_lr<lr>_s<seed>.json``, see
    ``runner.search_dirs``).

    ``{variant: {"steps": [...], "train_error_ema": [...], "test_error": float, "error":
    None}}`` (the EMA curve thinned as in a run record; the error on the test part after the
    last step), or for a variant that cannot train,
    ``{"error": message in lang}``: our batch norm raises a ``CourseError`` on a batch of one vector
    (one value per channel). After a convolution batch norm still runs, normalizing each image
    over its own positions, and learns little.
    """
    name = f"online_{arch}_{order}_n{steps}_lr{lr:g}_s{seed}.json"
    found = runner.find_file(name, cache)
    if found is not None:
        return _localized(json.loads(found.read_text(encoding="utf-8")), lang)
    folder = runner.writable_cache(cache, lang)
    sizes = SIZES["quick"][10]
    x, y, _, _, x_test, y_test = runner.task_data(sizes["dataset"], sizes["n_train"],
                                                  sizes["n_val"], sizes["n_test"])
    results = {}
    for variant in ONLINE_VARIANTS:
        model = thesis_net(arch, variant, in_shape=tuple(x.shape[1:]),
                           widths=SIZES["quick"]["widths"][arch, 10], seed=seed, order=order)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=MOMENTUM)
        picks = torch.randint(len(x), (steps,), generator=torch.Generator().manual_seed(seed))
        errors = []
        try:
            for i in picks.tolist():
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
            test_error = (model(x_test).argmax(1) != y_test).double().mean().item()
        ema = ema_curve(errors, runner.EMA)
        kept = runner.curve_indices(steps)
        results[variant] = {"steps": [i + 1 for i in kept],
                            "train_error_ema": [round(ema[i], 5) for i in kept],
                            "test_error": round(test_error, 5), "error": None}
    runner.write_or_warn(folder / name, results, lang)
    return _localized(results, lang)


def _localized(results: dict, lang: str | None) -> dict:
    """The stored error (catalog key and fields) as a message in ``lang``."""
    return {variant: {**r, "error": t(r["error"]["key"], lang=lang, **r["error"]["fields"])}
            if r["error"] else r for variant, r in results.items()}


def shift_input_means(model, x: torch.Tensor, chunk: int = 1000) -> list[dict]:
    """For every Shift layer of ``model``, in network order: ``position`` (its insertion place,
    as in ``runner.learned_parameters``), ``granularity``, ``shift`` (the learned ``b``, one
    number per unit) and ``input_mean`` (the mean of the layer's input ``x_in`` over the
    examples ``x`` in evaluation mode, over the same units: per element ``mean_n x_in``, per
    channel ``mean_{n,i,j} x_in``, per layer the mean of everything). A shift that centres its
    input has ``b = -input_mean``."""
    shifts = [m for m in model if isinstance(m, Shift)]
    sums: list[torch.Tensor | float] = [0.0] * len(shifts)

    def reduce(layer, x_in):
        """The batch's sum over examples of each example's mean over a unit's positions."""
        x_in = x_in.double()
        per_example = {"element": x_in, "layer": x_in.flatten(1).mean(1),
                       "channel": x_in.flatten(2).mean(2) if x_in.dim() > 2 else x_in}
        return per_example[layer.granularity].sum(0)

    def hook(index):
        def keep(layer, inputs, output):
            sums[index] = sums[index] + reduce(layer, inputs[0])
        return keep

    handles = [layer.register_forward_hook(hook(i)) for i, layer in enumerate(shifts)]
    model.eval()
    try:
        with torch.no_grad():
            for i in range(0, len(x), chunk):
                model(x[i:i + chunk])
    finally:
        for handle in handles:
            handle.remove()
    places = [e["position"] for e in runner.learned_parameters(model) if e["kind"] == "shift"]
    return [{"position": place, "granularity": layer.granularity,
             "shift": [round(v, 5) for v in layer.b.detach().double().flatten().tolist()],
             "input_mean": [round(v, 5) for v in (total / len(x)).flatten().tolist()]}
            for place, layer, total in zip(places, shifts, sums, strict=True)]


def shift_mean_configs(profile: str | None = None) -> dict[str, list[RunConfig]]:
    """The runs whose learned shifts are compared with their inputs' means: layerwise
    shift+scale over the seeds of ``learned_value_configs`` (one shift per place), and
    channelwise shift+scale of experiment 1 at the same learning rate over the profile's
    seeds (one shift per channel)."""
    seeds = SIZES[sizes_name(profile)]["seeds"]
    return {"shift_scale_layer": learned_value_configs(profile),
            "shift_scale_channel": learned_value_configs(profile, "shift_scale_channel",
                                                         seeds=seeds)}


def shift_means_name(config: RunConfig) -> str:
    """The file of ``shift_means(config)``: ``shift_means_<file name of the run>``."""
    return f"shift_means_{config.file_name()}"


def shift_means(config: RunConfig, cache=None, device=None) -> dict:
    """``{"key", "test_error", "diverged", "layers": shift_input_means(...)}`` of the run
    ``config``, trained again on ``device`` (``runner.train_model``; on the CPU the same
    numbers as its cached record) and measured on its training part; cached as
    ``shift_means_name(config)`` (see ``runner.search_dirs``). As with the runs, a cache that
    cannot be written is refused before training, and a file that fails to write is only
    warned about (the result is returned)."""
    name = shift_means_name(config)
    found = runner.find_file(name, cache)
    if found is not None:
        return json.loads(found.read_text(encoding="utf-8"))
    folder = runner.writable_cache(cache, None)
    record, model = runner.train_model(config, device)
    x_train = runner.on_device(runner.data_of(config), torch.device(device or "cpu")).x_train
    result = {"key": config.key(), "test_error": record["test_error"],
              "diverged": record["diverged"], "layers": shift_input_means(model, x_train)}
    runner.write_or_warn(folder / name, result)
    return result


def shift_mean_pairs(results) -> dict[str, list[float]]:
    """All units of ``results`` (``shift_means`` of several runs) pooled: ``shift`` (b),
    ``minus_mean`` (minus the input's mean) and ``position`` (the place), one entry per unit;
    runs that diverged (their values are inf or NaN) are left out."""
    pairs = {"shift": [], "minus_mean": [], "position": []}
    for result in (r for r in results if not r.get("diverged", False)):
        for layer in result["layers"]:
            pairs["shift"] += layer["shift"]
            pairs["minus_mean"] += [-m for m in layer["input_mean"]]
            pairs["position"] += [layer["position"]] * len(layer["shift"])
    return pairs


def centring(results, after_input: bool = False) -> dict[str, float]:
    """How well the learned shifts match minus their inputs' means, pooled over all units
    (without place 0, the input, unless ``after_input``): ``r`` (Pearson correlation of b and
    -mean), ``slope`` (least-squares slope of b on -mean; 1 = b centres its input exactly),
    ``removed`` (the share of the summed input mean that the shifts cancel, ``-sum b / sum
    mean``) and ``units``."""
    pairs = shift_mean_pairs(results)
    keep = [i for i, p in enumerate(pairs["position"]) if after_input or p > 0]
    b = torch.tensor([pairs["shift"][i] for i in keep], dtype=torch.float64)
    m = torch.tensor([pairs["minus_mean"][i] for i in keep], dtype=torch.float64)
    bc, mc = b - b.mean(), m - m.mean()
    return {"r": float((bc * mc).sum() / (bc.norm() * mc.norm())),
            "slope": float((bc * mc).sum() / (mc * mc).sum()),
            "removed": float(b.sum() / m.sum()), "units": len(keep)}


def plot_shift_means(results_by_variant: dict[str, list[dict]], lang: str | None = None):
    """One panel per variant: every unit's learned shift ``b`` against minus the mean of its
    input, coloured by place, with the line ``b = -mean`` (a shift that centres its input)."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results_by_variant), figsize=(4.8 * len(results_by_variant),
                                                                   3.8), squeeze=False)
    for ax, (variant, results) in zip(axes[0], results_by_variant.items(), strict=True):
        pairs = shift_mean_pairs(results)
        for place in sorted(set(pairs["position"])):
            keep = [i for i, p in enumerate(pairs["position"]) if p == place]
            ax.plot([pairs["minus_mean"][i] for i in keep], [pairs["shift"][i] for i in keep],
                    "o", alpha=0.6, label=f"{t('lecture09.place', lang=lang)} {place}")
        values = pairs["minus_mean"] + pairs["shift"]
        ends = [min(values), max(values)]
        ax.plot(ends, ends, color="grey", linestyle="--",
                label=t("experiments.full_centring", lang=lang))
        ax.set(title=variant_label(variant, lang), xlabel=t("experiments.minus_mean", lang=lang),
               ylabel=t("experiments.learned_shift", lang=lang))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def shift_means_found(profile: str) -> bool:
    """For ``shown_profile``: whether every ``shift_means`` file of ``profile`` is cached or
    shipped."""
    def configs(name):
        return [c for group in shift_mean_configs(name).values() for c in group]

    return runs_found(configs, shift_means_name)(profile)
