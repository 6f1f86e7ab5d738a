"""The experiment runner of research lab 09: one cached training run per configuration.

A ``RunConfig`` (architecture, normalization variant, dataset, dropout, learning rate, seed,
sizes) names one training run of the 2018 thesis' kind: a ``models.thesis_net`` trained by SGD
with momentum 0.9 on softmax cross-entropy. ``run(config)`` trains it, or reads it from the
cache when it was trained before; ``run_grid(configs)`` does that for a list, with a progress
bar, so an interrupted grid resumes where it stopped::

    config = RunConfig("fcn", "shift_scale_layer", lr=0.04)
    record = run(config)           # a plain dict: the config's fields and the curves
    records = run_grid([config, replace(config, variant="none")])

What a run records (``record`` keys besides the config's fields):

====================  ==============================================================
``steps``             step numbers (1-based) at which the step curves are kept
``train_error_ema``   misclassification rate of each training batch, bias-corrected
                      EMA with beta = 0.99 as in the thesis (``training.ema_curve``)
``train_loss_ema``    the same for the cross-entropy of each batch
``epoch_steps``       step number at the end of each epoch
``val_error``         validation error after each epoch (evaluation mode)
``val_loss``          validation cross-entropy after each epoch
``train_error``       error on the first ``n_val`` training examples after each epoch,
                      in evaluation mode (no dropout), for the overfitting gap
``learned``           the Shift / Scale parameters after training, one entry per layer:
                      ``{"kind", "position", "shape", "mean", "std", "values"}``
                      (``values`` only for at most 64 numbers)
``diverged``          whether the loss became inf or NaN (training stopped there)
``seconds``           wall-clock time of the training
====================  ==============================================================

The step curves are thinned to at most ``CURVE_POINTS`` points and all numbers are rounded to
five decimals, so one run is a JSON file of a few KB.

Cache. A run is the file ``<arch>_<variant>_<dataset>_p<dropout>_lr<lr>_s<seed>_<hash>.json``,
where ``<hash>`` is the start of the SHA-256 of the canonical JSON of the whole config (every
field, sorted keys), so a change of any size gives a new file. It is looked up in

1. the writable cache ``$COURSE_RUNS/shift_scale`` (default ``<repo>/runs/shift_scale``,
   ignored by git), where new runs are written, atomically (a temporary file, then
   ``os.replace``): an interrupted grid leaves whole files only;
2. the results shipped with the package, ``course_lib/labs/shift_scale/runs/<profile>/``
   (the quick profile's grid is committed there, so the notebook re-plots without training).

Data (``DATASETS``): ``mnist`` is the 5000-image MNIST sample averaged down to 14 x 14, the
stand-in for CIFAR-10; ``mnist_pairs`` stacks two such digits as the two channels of one
image, ``(2, 14, 14)``, labelled ``10 * first + second``: 100 classes, the stand-in for
CIFAR-100 (channels rather than side by side, so that a fully convolutional net with global
average pooling can tell the two digits apart); ``cifar10`` and ``cifar100`` are read by
``course_lib.datasets`` (full profile). Inputs are normalized with
the mean and standard deviation of the training part, per channel.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path

import torch
from torch import Tensor
from torch.nn import functional as F
from tqdm.auto import tqdm

from ... import data, datasets, preprocessing
from ...i18n import CourseError, t
from ...models import THESIS_ARCHS, thesis_net
from ...normalization import VARIANTS, Scale, Shift
from ...training import ema_curve, evaluate, progress_enabled, write_atomically

LEARNING_RATES = (0.02, 0.04, 0.08)
"""The three learning rates of the thesis (the supervisor's question 1: their ratio matters)."""
MOMENTUM, EMA = 0.9, 0.99
CLASSES = {"mnist": 10, "mnist_pairs": 100, "cifar10": 10, "cifar100": 100}
DATASETS = tuple(CLASSES)
CURVE_POINTS = 80
FORMAT = 1

PACKAGE_RUNS = Path(__file__).resolve().parent / "runs"
REPO_RUNS = Path(__file__).resolve().parents[3] / "runs" / "shift_scale"


@dataclass(frozen=True)
class RunConfig:
    """One training run. ``widths``: stage widths of the fcn or hidden sizes of the mlp;
    ``n_train`` / ``n_val``: training and validation examples used. Bad values raise a
    localized ``CourseError`` (a ValueError), a learning rate outside ``LEARNING_RATES`` too."""

    arch: str
    variant: str
    dataset: str = "mnist"
    dropout: float = 0.0
    lr: float = 0.04
    seed: int = 0
    epochs: int = 4
    batch_size: int = 50
    widths: tuple[int, ...] = (8, 16)
    n_train: int = 2000
    n_val: int = 500

    def __post_init__(self):
        object.__setattr__(self, "widths", tuple(self.widths))
        choices = (("arch", THESIS_ARCHS), ("variant", tuple(VARIANTS)), ("dataset", DATASETS))
        for name, known in choices:
            if getattr(self, name) not in known:
                raise CourseError(f"experiments.unknown_{name}", name=getattr(self, name),
                                  known=", ".join(known))
        if self.lr not in LEARNING_RATES:
            raise CourseError("experiments.bad_lr", lr=self.lr,
                              known=", ".join(map(str, LEARNING_RATES)))
        number = isinstance(self.dropout, int | float) and not isinstance(self.dropout, bool)
        if not number or not 0.0 <= self.dropout < 1.0:
            raise CourseError("models.bad_dropout", p=self.dropout)
        object.__setattr__(self, "lr", float(self.lr))  # 0 and 0.0 give the same key
        object.__setattr__(self, "dropout", float(self.dropout))
        counts = [(name, getattr(self, name)) for name in ("epochs", "batch_size", "n_train",
                                                          "n_val", "seed")]
        for name, value in [*counts, *(("widths", w) for w in self.widths)]:
            minimum = 0 if name == "seed" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise CourseError("experiments.not_positive", name=name, value=value)

    def canonical(self) -> str:
        """The config as JSON with sorted keys and no spaces: what the cache key hashes."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def key(self) -> str:
        """The first 10 hex digits of the SHA-256 of ``canonical()``."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:10]

    def file_name(self) -> str:
        return (f"{self.arch}_{self.variant}_{self.dataset}_p{self.dropout:g}_lr{self.lr:g}"
                f"_s{self.seed}_{self.key()}.json")


def config_of(record: dict) -> RunConfig:
    """The RunConfig a record was trained from."""
    return RunConfig(**{f.name: record[f.name] for f in fields(RunConfig)})


def cache_dir(environ=None) -> Path:
    """Where new runs go: ``$COURSE_RUNS/shift_scale``, else ``<repo>/runs/shift_scale``."""
    environ = os.environ if environ is None else environ
    root = environ.get("COURSE_RUNS")
    return Path(root) / "shift_scale" if root else REPO_RUNS


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


def write_json(path: Path, obj) -> None:
    """Write ``obj`` as UTF-8 JSON atomically (``training.write_atomically``), readable by all."""
    def dump(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8")
        json.dump(obj, text, separators=(",", ":"))
        text.flush()
        text.detach()

    write_atomically(path, dump, permissions=0o644)


def _halve(x: Tensor) -> Tensor:
    """28 x 28 images averaged over 2 x 2 blocks: (N, 1, 14, 14)."""
    return F.avg_pool2d(x, 2)


def _pairs(x: Tensor, y: Tensor, n: int, seed: int) -> tuple[Tensor, Tensor]:
    """``n`` random pairs of the one-channel images ``x`` as the two channels of one image,
    ``(n, 2, H, W)``, labelled ``10 * y_first + y_second`` (100 classes)."""
    g = torch.Generator().manual_seed(seed)
    first, second = torch.randint(len(x), (2, n), generator=g)
    return torch.cat([x[first], x[second]], dim=1), 10 * y[first] + y[second]


@cache
def _mnist_halves() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The training and validation parts of ``data.load("mnist")`` at 14 x 14."""
    splits = data.load("mnist", seed=0)
    (x_tr, y_tr), (x_va, y_va) = splits.train.tensors, splits.val.tensors
    return _halve(x_tr), y_tr, _halve(x_va), y_va


@cache
def task_data(dataset: str, n_train: int, n_val: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``x_train, y_train, x_val, y_val`` of ``dataset`` (first ``n_train`` / ``n_val``
    examples), normalized per channel with the training part's statistics."""
    if dataset in ("cifar10", "cifar100"):
        splits = datasets.load(dataset)
        (x_tr, y_tr), (x_va, y_va) = splits.train.tensors, splits.val.tensors
        x_tr, y_tr, x_va, y_va = x_tr[:n_train], y_tr[:n_train], x_va[:n_val], y_va[:n_val]
    else:
        x_tr, y_tr, x_va, y_va = _mnist_halves()
        if dataset == "mnist_pairs":
            x_tr, y_tr = _pairs(x_tr, y_tr, n_train, seed=1)
            x_va, y_va = _pairs(x_va, y_va, n_val, seed=2)
        if n_train > len(x_tr) or n_val > len(x_va):
            raise CourseError("experiments.too_many", dataset=dataset, n_train=n_train,
                              n_val=n_val, train=len(x_tr), val=len(x_va))
        x_tr, y_tr, x_va, y_va = x_tr[:n_train], y_tr[:n_train], x_va[:n_val], y_va[:n_val]
    mean, std = preprocessing.channel_stats(x_tr)
    norm = preprocessing.normalize_channels
    return norm(x_tr, mean, std), y_tr, norm(x_va, mean, std), y_va


def build_model(config: RunConfig) -> torch.nn.Sequential:
    """The ``thesis_net`` of ``config`` for its dataset's input shape and classes."""
    x_train = task_data(config.dataset, config.n_train, config.n_val)[0]
    return thesis_net(config.arch, config.variant, dropout=config.dropout,
                      in_shape=tuple(x_train.shape[1:]), num_classes=CLASSES[config.dataset],
                      widths=config.widths, seed=config.seed)


def _evaluate(model, x: Tensor, y: Tensor, chunk: int = 1000) -> tuple[float, float]:
    """Error and mean cross-entropy of ``model`` on ``x``, ``y`` (``training.evaluate`` in
    evaluation mode and float32, ``chunk`` examples at a time)."""
    batches = [(x[i:i + chunk], y[i:i + chunk]) for i in range(0, len(x), chunk)]
    loss, accuracy = evaluate(model, batches, device=x.device, amp=False, channels_last=False)
    return 1.0 - accuracy, loss


def learned_parameters(model) -> list[dict]:
    """The Shift / Scale parameters of ``model``, one dict per layer in network order:
    ``kind`` (``"scale"`` / ``"shift"``), ``position`` (index of the insertion place, 0 = after
    the input), ``shape``, ``mean``, ``std`` and ``values`` (all of them if at most 64)."""
    found, position, previous = [], -1, None
    for module in model:
        if isinstance(module, Scale | Shift):
            if not (isinstance(module, Shift) and isinstance(previous, Scale)):
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


def train(config: RunConfig, device=None) -> dict:
    """Train the run ``config`` from scratch on ``device`` (default: the CPU); return its
    record (see the module).

    Mini-batches are consecutive slices of a new permutation in every epoch, drawn from a
    generator seeded by ``config.seed``; dropout masks come from the global generator seeded
    the same way inside ``torch.random.fork_rng``, so the global random state is untouched.
    Step numbers stay on the device until the end of each epoch.
    """
    device = torch.device(device or "cpu")
    x_train, y_train, x_val, y_val = (part.to(device) for part in task_data(
        config.dataset, config.n_train, config.n_val))
    model = build_model(config).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=MOMENTUM)
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
                out = model(x_train[batch])
                loss = F.cross_entropy(out, y_train[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step_losses.append(loss.detach())
                step_errors.append((out.argmax(1) != y_train[batch]).double().mean())
            epoch_losses = torch.stack(step_losses)
            finite = torch.isfinite(epoch_losses)
            kept_steps = int(finite.cumprod(0).sum())
            losses += epoch_losses[:kept_steps].tolist()
            errors += torch.stack(step_errors)[:kept_steps].tolist()
            if kept_steps < per_epoch:
                diverged = True
                break
            epoch_steps.append(len(errors))
            val_error, val_loss = _evaluate(model, x_val, y_val)
            curves["val_error"].append(_round(val_error))
            curves["val_loss"].append(_round(val_loss))
            curves["train_error"].append(_round(_evaluate(model, x_train[:config.n_val],
                                                          y_train[:config.n_val])[0]))
    kept = curve_indices(len(errors))
    error_ema, loss_ema = ema_curve(errors, EMA), ema_curve(losses, EMA)
    return {
        "format": FORMAT, **asdict(config), "key": config.key(),
        "steps": [i + 1 for i in kept],
        "train_error_ema": [_round(error_ema[i]) for i in kept],
        "train_loss_ema": [_round(loss_ema[i]) for i in kept],
        "epoch_steps": epoch_steps, **curves,
        "learned": learned_parameters(model), "diverged": diverged,
        "seconds": round(time.perf_counter() - start, 2),
    }


def load(config: RunConfig, cache: Path | None = None) -> dict | None:
    """The cached record of ``config`` (see ``search_dirs``), or None."""
    path = find(config, cache)
    if path is None:
        return None
    with path.open(encoding="utf-8") as f:
        record = json.load(f)
    record["widths"] = tuple(record["widths"])
    return record


def run(config: RunConfig, cache: Path | None = None, retrain: bool = False,
        device=None) -> dict:
    """The record of ``config``: from the cache, else trained on ``device`` and written to
    ``cache`` (default ``cache_dir()``); ``retrain=True`` trains even when a cached run
    exists."""
    record = None if retrain else load(config, cache)
    if record is None:
        record = train(config, device)
        write_json((Path(cache) if cache is not None else cache_dir()) / config.file_name(),
                   record)
        record["widths"] = tuple(record["widths"])
    return record


def run_grid(configs, cache: Path | None = None, progress: bool = True,
             lang: str | None = None, device=None) -> list[dict]:
    """``run`` for every config, in order, with a progress bar counting trained and cached
    runs; finished runs are read, not trained again, so an interrupted grid resumes."""
    configs = list(configs)
    records, trained = [], 0
    bar = tqdm(configs, desc=t("experiments.grid_bar", lang=lang),
               disable=not progress_enabled(progress))
    for config in bar:
        record = load(config, cache)
        trained += record is None
        if record is None:
            record = run(config, cache, retrain=True, device=device)
        records.append(record)
        bar.set_postfix_str(t("experiments.grid_postfix", lang=lang, trained=trained,
                              cached=len(records) - trained))
    bar.close()
    return records


def load_runs(configs, cache: Path | None = None) -> list[dict]:
    """The cached records of ``configs`` that exist (no training)."""
    return [r for r in (load(c, cache) for c in configs) if r is not None]
