"""The experiment runner of research lab 09: one cached training run per configuration.

A ``RunConfig`` (architecture, normalization variant and the order of its two layers, dataset,
dropout, learning rate, seed, sizes) names one training run of the 2018 thesis' kind: a
``models.thesis_net`` trained by SGD with momentum 0.9 on softmax cross-entropy. ``run(config)``
trains it, or reads it from the cache when it was trained before; ``run_grid(configs)`` does
that for a list, with a progress bar, so an interrupted grid resumes where it stopped::

    config = RunConfig("fcn", "shift_scale_layer", lr=0.04)
    record = run(config)           # a plain dict: the config's fields and the curves
    records = run_grid([config, replace(config, variant="none")])

``run_grid(..., stacked=True)`` trains the missing runs that differ only in learning rate and
seed together, as one stacked model (``course_lib.labs.shift_scale.batched``): the way the full
profile fills a GPU.

What a run records (``record`` keys besides the config's fields):

====================  ==============================================================
``steps``             step numbers (1-based) at which the step curves are kept
``train_error_ema``   misclassification rate of each training batch, bias-corrected
                      EMA with beta = 0.99 as in the thesis (``training.ema_curve``)
``train_loss_ema``    the same for the cross-entropy of each batch
``epoch_steps``       step number at the end of each epoch
``val_error``         validation error after each epoch (evaluation mode): the curves and
                      the choice of the learning rate
``val_loss``          validation cross-entropy after each epoch
``train_error``       error on the first ``n_val`` training examples after each epoch,
                      in evaluation mode (no dropout), for the overfitting gap
``test_error``        test error after the last epoch, the reported number (None if the
                      run diverged)
``test_loss``         test cross-entropy after the last epoch (likewise)
``learned``           the Shift / Scale parameters after training, one entry per layer:
                      ``{"kind", "position", "shape", "mean", "std", "values"}``
                      (``values`` only for at most 64 numbers)
``diverged``          whether the loss became inf or NaN (training stopped there)
``seconds``           wall-clock time of the training
====================  ==============================================================

The step curves are thinned to at most ``CURVE_POINTS`` points and all numbers are rounded to
five decimals, so one run is a JSON file of a few KB.

Cache. A run is the file ``<arch>_<variant>_<dataset>_p<dropout>_lr<lr>_s<seed>_<hash>.json``
(``..._p<dropout>_wd<weight decay>_lr...`` with weight decay), where ``<hash>`` is the start of
the SHA-256 of the canonical JSON of the whole config (every field, sorted keys; a field added
later is left out at its default, ``ADDED_FIELDS``), so a change of any size gives a new file.
It is looked up in

1. the writable cache ``$COURSE_RUNS/shift_scale`` (default ``<repo>/runs/shift_scale``,
   ignored by git; where that cannot be written, as in a shared read-only install, the
   per-user ``~/.cache/course_lib/runs/shift_scale``, said in one line), where new runs are
   written, atomically (a temporary file, then ``os.replace``): an interrupted grid leaves
   whole files only. A cache that cannot be written is reported before anything trains; a
   run whose file cannot be written (a full disk) is kept in memory with a warning; a damaged
   file (say cut by a full disk) is trained again, with a warning;
2. the results shipped with the package, ``course_lib/labs/shift_scale/runs/<profile>/``
   (the quick profile's grid is committed there, so the notebook re-plots without training).

Data (``DATASETS``, training / validation / test): ``course_lib.labs.shift_scale.tasks``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F
from tqdm.auto import tqdm

from ...i18n import CourseError, t
from ...models import RESNET_VARIANTS, THESIS_ARCHS, resnet20_variant, thesis_net
from ...normalization import VARIANTS, Scale, Shift, check_order
from ...training import ema_curve, evaluate, progress_enabled, write_json
from .tasks import CLASSES, DATASETS, Task, task_data

ARCHS = (*THESIS_ARCHS, "resnet20")
"""The thesis' fcn and mlp, and ResNet-20 (``models.resnet20_variant``, the thesis' further
work: a larger architecture; variants ``models.RESNET_VARIANTS``, no dropout)."""
LEARNING_RATES = (0.02, 0.04, 0.08)
"""The three learning rates of the thesis (the supervisor's question 1: their ratio matters)."""
MOMENTUM, EMA = 0.9, 0.99
CURVE_POINTS = 40
FORMAT = 2

PACKAGE_RUNS = Path(__file__).resolve().parent / "runs"
REPO_RUNS = Path(__file__).resolve().parents[3] / "runs" / "shift_scale"


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``widths``: stage widths of the fcn or hidden sizes of the mlp;
    ``n_train`` / ``n_val`` / ``n_test``: training, validation and test examples used;
    ``order``: ``"shift_scale"`` (the thesis, ``a * (x + b)``) or ``"scale_shift"``
    (``a * x + b``), see ``normalization.ORDERS``; ``weight_decay``: the coefficient
    ``lambda`` of SGD's weight decay, ``g = grad + lambda * p`` on every parameter (0: none, the
    thesis). Bad values raise a localized ``CourseError`` (a ValueError), a learning rate
    outside ``LEARNING_RATES`` too."""

    arch: str
    variant: str
    dataset: str = "mnist14"
    dropout: float = 0.0
    lr: float = 0.04
    seed: int = 0
    epochs: int = 4
    batch_size: int = 50
    widths: tuple[int, ...] = (8, 16)
    n_train: int = 2000
    n_val: int = 500
    n_test: int = 500
    order: str = "shift_scale"
    weight_decay: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(self.widths))
        variants = RESNET_VARIANTS if self.arch == "resnet20" else tuple(VARIANTS)
        choices = (("arch", ARCHS), ("variant", variants), ("dataset", DATASETS))
        for name, known in choices:
            if getattr(self, name) not in known:
                raise CourseError(f"experiments.unknown_{name}", name=getattr(self, name),
                                  known=", ".join(known))
        check_order(self.order)
        if self.lr not in LEARNING_RATES:
            raise CourseError("experiments.bad_lr", lr=self.lr,
                              known=", ".join(map(str, LEARNING_RATES)))
        number = isinstance(self.dropout, int | float) and not isinstance(self.dropout, bool)
        if not number or not 0.0 <= self.dropout < 1.0:
            raise CourseError("models.bad_dropout", p=self.dropout)
        if self.arch == "resnet20" and self.dropout:
            raise CourseError("experiments.no_dropout", arch=self.arch, p=self.dropout)
        object.__setattr__(self, "lr", float(self.lr))  # 0 and 0.0 give the same key
        object.__setattr__(self, "dropout", float(self.dropout))
        decay = self.weight_decay
        if isinstance(decay, bool) or not isinstance(decay, int | float) or not 0 <= decay < 1:
            raise CourseError("experiments.bad_weight_decay", value=decay)
        object.__setattr__(self, "weight_decay", float(decay))
        counts = [(name, getattr(self, name)) for name in ("epochs", "batch_size", "n_train",
                                                          "n_val", "n_test", "seed")]
        for name, value in [*counts, *(("widths", w) for w in self.widths)]:
            minimum = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise CourseError("experiments.not_positive", name=name, value=value)

    def canonical(self) -> str:
        """The config as JSON with sorted keys and no spaces: what the cache key hashes. A
        field added later (``ADDED_FIELDS``) is left out at its default, so that the keys of
        the runs recorded before it existed stay the same."""
        config = {name: value for name, value in asdict(self).items()
                  if not (name in ADDED_FIELDS and value == ADDED_FIELDS[name])}
        return json.dumps(config, sort_keys=True, separators=(",", ":"))

    def key(self) -> str:
        """The first 10 hex digits of the SHA-256 of ``canonical()``."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:10]

    def file_name(self) -> str:
        decay = f"_wd{self.weight_decay:g}" if self.weight_decay else ""
        return (f"{self.arch}_{self.variant}_{self.dataset}_p{self.dropout:g}{decay}"
                f"_lr{self.lr:g}_s{self.seed}_{self.key()}.json")

    def group(self) -> RunConfig:
        """The config with ``lr`` and ``seed`` set to their defaults: runs with the same group
        share one architecture and data, so they can be trained stacked together."""
        return RunConfig(**{**asdict(self), "lr": 0.04, "seed": 0})


ADDED_FIELDS = {"weight_decay": 0.0}
"""Fields added to ``RunConfig`` after runs were shipped, with their defaults: a record
without the field was trained at the default, and the cache key leaves it out there."""


def config_of(record: dict) -> RunConfig:
    """The RunConfig a record was trained from (an ``ADDED_FIELDS`` field it lacks: its
    default)."""
    return RunConfig(**{f.name: record.get(f.name, ADDED_FIELDS[f.name])
                        if f.name in ADDED_FIELDS else record[f.name] for f in fields(RunConfig)})


def cache_dir(environ=None) -> Path:
    """Where new runs go: ``$COURSE_RUNS/shift_scale``; else ``<repo>/runs/shift_scale`` if it
    can be written; else (a shared install, read-only) the per-user folder
    ``$XDG_CACHE_HOME/course_lib/runs/shift_scale`` (default ``~/.cache``), said once."""
    environ = os.environ if environ is None else environ
    root = environ.get("COURSE_RUNS")
    if root:
        return Path(root) / "shift_scale"
    user = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return _default_cache(REPO_RUNS, user / "course_lib" / "runs" / "shift_scale")


@functools.cache
def _default_cache(repo: Path, user: Path) -> Path:
    if can_write(repo):
        return repo
    warnings.warn(t("experiments.runs_fallback", folder=repo, user=user), stacklevel=4)
    return user


def can_write(folder: Path) -> bool:
    """Whether new files can go into ``folder``: it, or the nearest folder above it that
    exists, is a folder this user may write to. Nothing is created."""
    for place in (folder, *folder.parents):
        if place.exists():
            return place.is_dir() and os.access(place, os.W_OK | os.X_OK)
    return False


def writable_cache(cache: Path | None, lang: str | None) -> Path:
    """The cache folder new runs go to, checked before any training starts."""
    folder = Path(cache) if cache is not None else cache_dir()
    if not can_write(folder):
        raise CourseError("experiments.cache_unwritable", lang=lang, folder=folder,
                          variable="COURSE_RUNS")
    return folder


def write_or_warn(path: Path, obj, lang: str | None = None, stacklevel: int = 2) -> None:
    """``write_json(path, obj)``; a file that cannot be written only gives a warning that names
    it (the result stays in memory). ``stacklevel`` as in ``warnings.warn``, counted from the
    caller of this function (2: where that caller was called)."""
    try:
        write_json(path, obj)
    except OSError as error:
        warnings.warn(t("experiments.run_not_saved", lang=lang, path=path,
                        reason=error.strerror or str(error)), stacklevel=stacklevel + 1)


def _save_or_keep(record: dict, cache: Path, lang: str | None) -> dict:
    """Write ``record`` into ``cache`` under its config's file name (``write_or_warn``: when
    the file cannot be written the trained run is kept in memory, and a warning names the file);
    return it with ``widths`` as a tuple, as ``load`` gives it."""
    write_or_warn(cache / config_of(record).file_name(), record, lang, stacklevel=3)
    return {**record, "widths": tuple(record["widths"])}


def search_dirs(cache: Path | None = None) -> list[Path]:
    """The folders a run is looked up in: ``cache`` (default ``cache_dir()``), then the
    package's ``course_lib/labs/shift_scale/runs/<profile>/`` folders."""
    shipped = sorted(p for p in PACKAGE_RUNS.glob("*") if p.is_dir())
    return [Path(cache) if cache is not None else cache_dir(), *shipped]


def find_file(name: str, cache: Path | None = None) -> Path | None:
    """The file ``name`` in the first of ``search_dirs(cache)`` that has it, or None."""
    for folder in search_dirs(cache):
        if (folder / name).is_file():
            return folder / name
    return None


def find(config: RunConfig, cache: Path | None = None) -> Path | None:
    """The cached file of ``config``, or None."""
    return find_file(config.file_name(), cache)


def data_of(config: RunConfig) -> Task:
    """The training / validation / test data of ``config`` (``tasks.task_data``)."""
    return task_data(config.dataset, config.n_train, config.n_val, config.n_test)


def build_model(config: RunConfig) -> torch.nn.Module:
    """The ``thesis_net`` (or ``resnet20_variant``) of ``config`` for its dataset's input shape
    and classes."""
    if config.arch == "resnet20":
        return resnet20_variant(config.variant, num_classes=CLASSES[config.dataset],
                                in_channels=data_of(config).x_train.shape[1],
                                widths=config.widths, seed=config.seed, order=config.order)
    return thesis_net(config.arch, config.variant, dropout=config.dropout,
                      in_shape=tuple(data_of(config).x_train.shape[1:]),
                      num_classes=CLASSES[config.dataset], widths=config.widths,
                      seed=config.seed, order=config.order)


def _evaluate(model, x: Tensor, y: Tensor, chunk: int = 1000) -> tuple[float, float]:
    """Error and mean cross-entropy of ``model`` on ``x``, ``y`` (``training.evaluate`` in
    evaluation mode and float32, ``chunk`` examples at a time)."""
    batches = [(x[i:i + chunk], y[i:i + chunk]) for i in range(0, len(x), chunk)]
    loss, accuracy = evaluate(model, batches, device=x.device, amp=False, channels_last=False)
    return 1.0 - accuracy, loss


def learned_parameters(model) -> list[dict]:
    """The Shift / Scale parameters of ``model``, one dict per layer in network order:
    ``kind`` (``"scale"`` / ``"shift"``), ``position`` (index of the insertion place, 0 = after
    the input; in ResNet-20 0 = after the first convolution), ``shape``, ``mean``, ``std``
    and ``values`` (all of them if at most 64)."""
    found, position, previous = [], -1, None
    for module in model.modules():
        if isinstance(module, Scale | Shift):
            if not isinstance(previous, Scale | Shift):
                position += 1
            param = module.a if isinstance(module, Scale) else module.b
            values = param.detach().double().flatten()
            found.append({
                "kind": "scale" if isinstance(module, Scale) else "shift",
                "position": position, "shape": list(param.shape),
                "mean": _round(values.mean().item()),
                "std": _round(values.std(correction=0).item()),
                "values": [_round(v) for v in values.tolist()] if len(values) <= 64 else None,
            })
        previous = module
    return found


def curve_indices(n: int) -> list[int]:
    """Indices of the at most ``CURVE_POINTS`` steps of an ``n``-step curve that a record keeps:
    every ``ceil(n / CURVE_POINTS)``-th step and the last one."""
    stride = max(1, math.ceil(n / CURVE_POINTS))
    return sorted({*range(stride - 1, n, stride), n - 1} - {-1})


def _round(x: float) -> float:
    return round(float(x), 5)


def on_device(task: Task, device, dtype=torch.float32) -> Task:
    """``task`` on ``device``, its images in ``dtype``."""
    return Task(*(part.to(device, dtype) if part.is_floating_point() else part.to(device)
                  for part in task))


def make_record(config: RunConfig, errors: list[float], losses: list[float],
                epoch_steps: list[int], curves: dict, test: tuple[float, float] | None,
                learned: list[dict], seconds: float, **extra) -> dict:
    """The record of a finished run (see the module) from its per-step ``errors`` and
    ``losses`` (up to the first non-finite loss), the per-epoch ``curves`` and the ``test``
    error and loss (None: the run diverged)."""
    kept = curve_indices(len(errors))
    error_ema, loss_ema = ema_curve(errors, EMA), ema_curve(losses, EMA)
    return {
        "format": FORMAT, **asdict(config), "key": config.key(),
        "steps": [i + 1 for i in kept],
        "train_error_ema": [_round(error_ema[i]) for i in kept],
        "train_loss_ema": [_round(loss_ema[i]) for i in kept],
        "epoch_steps": epoch_steps, **{k: [_round(v) for v in c] for k, c in curves.items()},
        "test_error": None if test is None else _round(test[0]),
        "test_loss": None if test is None else _round(test[1]),
        "learned": learned, "diverged": test is None, "seconds": round(seconds, 2), **extra,
    }


def train(config: RunConfig, device=None, dtype=torch.float32) -> dict:
    """Train the run ``config`` from scratch on ``device`` (default: the CPU) in ``dtype``;
    return its record (see the module). ``train_model`` gives the trained model too."""
    return train_model(config, device, dtype)[0]


def train_model(config: RunConfig, device=None, dtype=torch.float32
                ) -> tuple[dict, torch.nn.Module]:
    """Train the run ``config`` from scratch on ``device`` (default: the CPU) in ``dtype``;
    return its record (see the module) and the trained model (in evaluation mode).

    Mini-batches are consecutive slices of a new permutation in every epoch, drawn from a
    generator seeded by ``config.seed``; dropout masks come from the global generator seeded
    the same way inside ``torch.random.fork_rng``, so the global random state is untouched.
    Step numbers stay on the device until the end of each epoch. A run whose loss becomes
    inf or NaN stops there (``diverged``). The test part is evaluated once, at the end.
    """
    device = torch.device(device or "cpu")
    task = on_device(data_of(config), device, dtype)
    model = build_model(config).to(device, dtype)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=MOMENTUM,
                                weight_decay=config.weight_decay)
    per_epoch = config.n_train // config.batch_size
    errors, losses, epoch_steps = [], [], []
    curves = {"val_error": [], "val_loss": [], "train_error": []}
    diverged, start = False, time.perf_counter()
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(config.seed)
        shuffle = torch.Generator().manual_seed(config.seed)
        model.train()
        for _ in range(config.epochs):
            order = torch.randperm(config.n_train, generator=shuffle).to(device)
            step_losses, step_errors = [], []
            for i in range(per_epoch):
                batch = order[i * config.batch_size:(i + 1) * config.batch_size]
                out = model(task.x_train[batch])
                loss = F.cross_entropy(out, task.y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step_losses.append(loss.detach())
                step_errors.append((out.argmax(1) != task.y_train[batch]).double().mean())
            epoch_losses = torch.stack(step_losses)
            kept_steps = int(torch.isfinite(epoch_losses).cumprod(0).sum())
            losses += epoch_losses[:kept_steps].tolist()
            errors += torch.stack(step_errors)[:kept_steps].tolist()
            if kept_steps < per_epoch:
                diverged = True
                break
            epoch_steps.append(len(errors))
            val_error, val_loss = _evaluate(model, task.x_val, task.y_val)
            curves["val_error"].append(val_error)
            curves["val_loss"].append(val_loss)
            curves["train_error"].append(_evaluate(model, task.x_train[:config.n_val],
                                                   task.y_train[:config.n_val])[0])
        test = None if diverged else _evaluate(model, task.x_test, task.y_test)
    record = make_record(config, errors, losses, epoch_steps, curves, test,
                         learned_parameters(model), time.perf_counter() - start)
    return record, model.eval()


def load(config: RunConfig, cache: Path | None = None) -> dict | None:
    """The cached record of ``config`` (see ``search_dirs``), or None. A damaged file (cut
    JSON, say) counts as missing, with a warning, so that the run is trained again."""
    for folder in search_dirs(cache):
        path = folder / config.file_name()
        if not path.is_file():
            continue
        try:
            with path.open(encoding="utf-8") as f:
                record = json.load(f)
            record["widths"] = tuple(record["widths"])
            return record
        except (OSError, ValueError, KeyError, TypeError) as error:
            warnings.warn(t("experiments.damaged_run", path=path,
                            reason=str(error).splitlines()[0][:120]), stacklevel=2)
    return None


def run(config: RunConfig, cache: Path | None = None, retrain: bool = False,
        device=None) -> dict:
    """The record of ``config``: from the cache, else trained on ``device`` and written to
    ``cache`` (default ``cache_dir()``); ``retrain=True`` trains even when a cached run
    exists."""
    record = None if retrain else load(config, cache)
    if record is not None:
        return record
    folder = writable_cache(cache, None)
    return _save_or_keep(train(config, device), folder, None)


def groups(configs) -> list[list[RunConfig]]:
    """``configs`` grouped by ``RunConfig.group()`` (the runs that can be stacked), groups and
    runs in their first order."""
    found: dict[RunConfig, list[RunConfig]] = {}
    for config in configs:
        found.setdefault(config.group(), []).append(config)
    return list(found.values())


def run_grid(configs, cache: Path | None = None, progress: bool = True,
             lang: str | None = None, device=None, stacked: bool = False,
             echo: Callable[[str], None] | None = None) -> list[dict]:
    """The records of ``configs``, in order: read from the cache, or trained and written
    there, with a progress bar counting trained and cached runs. Finished runs are read, not
    trained again, so an interrupted grid resumes.

    ``stacked=False``: the missing runs are trained one by one (``train``); ``stacked=True``:
    the missing runs of each group (same config but for ``lr`` and ``seed``) are trained
    together (``batched.train_group``), each group written as soon as it is done. ``echo``
    (e.g. ``print``) receives one line per trained group or run with its seconds.
    """
    configs = list(configs)
    records = {c: load(c, cache) for c in configs}
    missing = [c for c in configs if records[c] is None]
    if missing:
        cache = writable_cache(cache, lang)
    bar = tqdm(total=len(configs), desc=t("experiments.grid_bar", lang=lang),
               disable=not progress_enabled(progress))
    bar.update(len(configs) - len(missing))
    trained = 0
    for batch in groups(missing) if stacked else [[c] for c in missing]:
        start = time.perf_counter()
        if stacked:
            from .batched import train_group  # batched builds on this module

            new = train_group(batch, device)
        else:
            new = [train(batch[0], device)]
        for config, record in zip(batch, new, strict=True):
            records[config] = _save_or_keep(record, cache, lang)
        trained += len(batch)
        if echo is not None:
            c = batch[0]
            echo(t("experiments.group_done", lang=lang, arch=c.arch, variant=c.variant,
                   dataset=c.dataset, dropout=c.dropout, runs=len(batch),
                   seconds=time.perf_counter() - start))
        bar.update(len(batch))
        bar.set_postfix_str(t("experiments.grid_postfix", lang=lang, trained=trained,
                              cached=len(configs) - len(missing)))
    bar.close()
    return [records[c] for c in configs]


def load_runs(configs, cache: Path | None = None) -> list[dict]:
    """The cached records of ``configs`` that exist (no training)."""
    return [r for r in (load(c, cache) for c in configs) if r is not None]
