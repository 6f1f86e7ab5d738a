"""The comparisons of lab 10, one cached record per configuration, and the command that runs them.

``EXPERIMENTS[profile][name]`` is a ``Config``: the task, the network, the seeds, the learning
rate and batch size, and one or more budget **splits** ``(label, T, M, F)`` of one total
``B = 2 T + M + F``. All numbers are ours (the talk gives only the ResNet-18 budget
``20 + 20 / 20 / 90``, whose proportions the ``"talk"`` splits follow)::

    record = run(EXPERIMENTS["quick"]["toy"])      # cached, or trained now and cached
    summary = summaries(record)["ours"]            # baselines.summarize rows of one split

Within a record, ``one_model`` and ``bo3`` (which do not depend on the split) are trained once
and shared by every split. A record is JSON: the config, the dataset actually used, the device,
the seconds spent and one row per method, seed and split (``baselines.compare`` without the
models). The networks and data:

==========  =============================================  =====================================
model       network                                        data
==========  =============================================  =====================================
``toy``     ``mlp([1, 64, 64, 1])`` (``toy_task``)          the standardized sines (regression)
``lenet``   ``models.LeNet``                               the 5000-image MNIST sample
``resnet20``  ``models.resnet20``                          CIFAR-100 from ``COURSE_DATA`` when
                                                           present, else the MNIST sample padded
                                                           to 32 x 32 (the offline stand-in)
``lenet``   ``models.LeNet(10, 3, 32)``                    Imagewoof from ``COURSE_DATA`` at
                                                           32 x 32 (full profile only)
``resnet18``  ``models.resnet18(10)``                      Imagewoof at 128 x 128 (full only)
==========  =============================================  =====================================

The talk's Imagewoof experiments (LeNet and ResNet-18, each merged from two teachers) are the
full profile's configs ``IMAGEWOOF``; they have no stand-in of their own and run only where
Imagewoof is present (``available``). Without it the notebook shows the MNIST sample runs of
LeNet (and ResNet-20) in their place, and any Imagewoof record found in the cache
(``show_imagewoof``). The image sides and every other setting of these configs are ours.

Cache. A record is the file ``<name>_<dataset>_<hash>.json``, ``<hash>`` the start of the
SHA-256 of the canonical JSON of the config (with the dataset used). It is looked up in the
writable cache ``$COURSE_RUNS/merging`` (default ``<repo>/runs/merging``, ignored by git), then
in the records shipped with the package, ``course_lib/labs/merging/runs/<profile>/``; new ones go
to the writable cache, atomically (``training.write_atomically``), so the three language versions
of the notebook share one computation. ``python -m course_lib.labs.merging.experiments
--profile full`` computes a profile's records before the notebooks run (``--out`` a folder,
e.g. ``course_lib/labs/merging/runs/full`` to ship them).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from ... import data, datasets, models
from ...execution import pick_device
from ...i18n import CourseError, t
from ...training import write_json
from . import baselines, report, toy_task
from .algorithms import GATE_LR

FORMAT = 1
"""Bumped when the code changes what a config computes, so that old records are not reused."""
PACKAGE_RUNS = Path(__file__).resolve().parent / "runs"
REPO_RUNS = Path(__file__).resolve().parents[3] / "runs" / "merging"
SHARED = ("one_model", "bo3")
"""Methods whose runs depend on the total budget only; computed once per record."""


@dataclass(frozen=True)
class Config:
    """One comparison: ``model`` (``"toy"``, ``"lenet"``, ``"resnet20"``) on ``dataset``
    (``"sines"``, ``"mnist"``, ``"cifar100"``, ``"imagewoof"`` at ``image_size``; ``limit``
    examples of each part, None for all), trained
    with Adam (``lr``, ``batch_size``), merging with ``alpha``, ``alpha_growth``, ``gate_lr``,
    for every seed of ``seeds`` and every split ``(label, T, M, F)`` of ``splits``."""

    name: str
    model: str
    dataset: str
    splits: tuple[tuple[str, int, int, int], ...]
    seeds: tuple[int, ...]
    lr: float
    batch_size: int
    alpha: float = 1.0
    alpha_growth: float = 1.5
    gate_lr: float = GATE_LR
    limit: int | None = None
    methods: tuple[str, ...] = baselines.METHODS
    format: int = FORMAT
    image_size: int | None = None
    """Side of the square images of an image-folder dataset (Imagewoof); None for the others,
    and then left out of the canonical JSON, so that older records keep their keys."""

    def __post_init__(self):
        object.__setattr__(self, "splits", tuple(tuple(s) for s in self.splits))
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "methods", tuple(self.methods))
        budgets = {2 * t + m + f for _, t, m, f in self.splits}
        if len(budgets) != 1:
            raise CourseError("merging.unequal_budgets", budgets=sorted(budgets))

    @property
    def budget(self) -> int:
        _, t, m, f = self.splits[0]
        return 2 * t + m + f

    def canonical(self) -> str:
        fields = asdict(self)
        if fields["image_size"] is None:
            del fields["image_size"]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    def key(self) -> str:
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:10]

    def file_name(self) -> str:
        return f"{self.name}_{self.dataset}_{self.key()}.json"


TOY = {"model": "toy", "dataset": "sines", "lr": toy_task.LR, "batch_size": toy_task.BATCH_SIZE,
       "splits": (("ours", toy_task.FITTED_EPOCHS, 50, 150),), "alpha_growth": 1.1}
SPLITS = {30: (("ours", 10, 2, 8), ("talk", 4, 4, 18)), 15: (("ours", 5, 1, 4), ("talk", 2, 2, 9))}
"""Budget splits of ``B`` epochs: ours gives the teachers most of it; the talk's proportions
(ResNet-18: 20 + 20 / 20 / 90 of 150) give most of it to fine-tuning."""

EXPERIMENTS: dict[str, dict[str, Config]] = {
    "quick": {
        "toy": Config("toy", seeds=(0, 1, 2), **TOY),
        "lenet": Config("lenet", "lenet", "mnist", (("ours", 3, 1, 2),), (0, 1), limit=1500,
                        lr=1e-3, batch_size=64),
    },
    "full": {
        "toy": Config("toy", seeds=(0, 1, 2, 3, 4), **TOY),
        "lenet": Config("lenet", "lenet", "mnist", SPLITS[30], (0, 1, 2), lr=1e-3,
                        batch_size=128),
        "resnet20": Config("resnet20", "resnet20", "cifar100", SPLITS[15], (0, 1, 2), lr=1e-3,
                           batch_size=128),
        "lenet_imagewoof": Config("lenet", "lenet", "imagewoof", SPLITS[30], (0, 1, 2), lr=1e-3,
                                  batch_size=128, image_size=32),
        "resnet18_imagewoof": Config("resnet18", "resnet18", "imagewoof", SPLITS[15], (0, 1, 2),
                                     lr=1e-3, batch_size=64, image_size=128),
    },
}
IMAGEWOOF = ("lenet_imagewoof", "resnet18_imagewoof")
"""The talk's Imagewoof experiments: names in ``EXPERIMENTS["full"]``."""


def pad32(part: TensorDataset) -> TensorDataset:
    """Images ``(N, C, H, W)`` padded with zeros to ``32 x 32`` (MNIST's 28 x 28 by 2 pixels on
    each side), labels unchanged."""
    x, y = part.tensors
    dh, dw = 32 - x.shape[-2], 32 - x.shape[-1]
    return TensorDataset(F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)), y)


def available(config: Config, root=None) -> bool:
    """Whether ``config`` can run here: Imagewoof configs need the dataset in ``COURSE_DATA``
    (or ``root``); the others always run (CIFAR-100 has its stand-in)."""
    return config.dataset != "imagewoof" or datasets.available("imagewoof", root)


def dataset_used(config: Config, root=None) -> str:
    """``config.dataset``, or ``"mnist"`` for CIFAR-100 when it is not in ``COURSE_DATA``."""
    if config.dataset == "cifar100" and not datasets.available("cifar100", root):
        return "mnist"
    return config.dataset


def task(config: Config, root=None, lang: str | None = None):
    """``(splits, make_model, dataset)`` of ``config`` (the dataset actually used)."""
    name = dataset_used(config, root)
    if config.model == "toy":
        return toy_task.toy_task(seed=0)[0], toy_task.make_toy, name
    if name == "imagewoof":
        parts = datasets.load("imagewoof", root, size=config.image_size, seed=0,
                              limit=config.limit, lang=lang)
        splits = data.Splits(*(TensorDataset(*datasets.in_memory(p))
                               for p in (parts.train, parts.val, parts.test)))
        if config.model == "lenet":
            return splits, partial(models.LeNet, 10, 3, config.image_size), name
        return splits, partial(models.resnet18, num_classes=10), name
    if name == "cifar100":
        splits = datasets.load("cifar100", root, seed=0, limit=config.limit, lang=lang)
        channels, classes = 3, 100
    else:
        splits = data.load("mnist", seed=0, limit=config.limit)
        channels, classes = 1, 10
    if config.model == "lenet":
        return splits, models.LeNet, name
    parts = (pad32(p) for p in (splits.train, splits.val, splits.test))
    return data.Splits(*parts), (lambda: models.resnet20(num_classes=classes,
                                                          in_channels=channels)), name


def cache_dir(environ=None) -> Path:
    """Where new records go: ``$COURSE_RUNS/merging``, else ``<repo>/runs/merging``."""
    environ = os.environ if environ is None else environ
    root = environ.get("COURSE_RUNS")
    return Path(root) / "merging" if root else REPO_RUNS


def search_dirs(cache: Path | None = None) -> list[Path]:
    """The writable cache, then the package's ``runs/<profile>/`` folders."""
    shipped = sorted(p for p in PACKAGE_RUNS.glob("*") if p.is_dir())
    return [Path(cache) if cache is not None else cache_dir(), *shipped]


def resolved(config: Config, root=None) -> Config:
    """``config`` with the dataset actually used (the key of its record)."""
    return replace(config, dataset=dataset_used(config, root))


def load(config: Config, cache: Path | None = None, root=None) -> dict | None:
    """The record of ``config`` from ``search_dirs(cache)``, or None."""
    name = resolved(config, root).file_name()
    for folder in search_dirs(cache):
        if (folder / name).is_file():
            with (folder / name).open(encoding="utf-8") as f:
                return json.load(f)
    return None


def _device(config: Config, splits, make_model, device) -> torch.device:
    """``device`` (default: CUDA when available), or the CPU for a model too small for a GPU
    (``execution.pick_device`` with the runs trained together)."""
    example = splits.train.tensors[0][: config.batch_size] if isinstance(
        splits.train, TensorDataset) else splits.train[0][0].unsqueeze(0)
    runs = 3 * len(config.seeds)
    return pick_device(make_model(), example, runs=runs, device=device)


def _clean(row: dict, split: str) -> dict:
    return {"split": split, **{k: v for k, v in row.items() if k != "model"}}


def compute(config: Config, device=None, root=None, lang: str | None = None) -> dict:
    """Train every split of ``config`` (``baselines.compare``) and return its record. The toy
    trains on one CPU thread (``toy_task.one_thread``)."""
    start = time.perf_counter()
    splits, make_model, used = task(config, root, lang)
    device = _device(config, splits, make_model, device)
    small = config.model == "toy" and device.type == "cpu"
    with toy_task.one_thread() if small else contextlib.nullcontext():
        rows = _rows(config, splits, make_model, device)
    record = {"config": json.loads(resolved(config, root).canonical()), "dataset": used,
              "device": device.type, "seconds": round(time.perf_counter() - start, 1),
              "rows": rows}
    return json.loads(json.dumps(record))  # as a cached record reads back


def _rows(config: Config, splits, make_model, device) -> list[dict]:
    rows = []
    for i, (label, teacher, merge, finetune) in enumerate(config.splits):
        methods = [k for k in config.methods if i == 0 or k not in SHARED]
        found = baselines.compare(
            make_model, splits, teacher_epochs=teacher, merge_epochs=merge,
            finetune_epochs=finetune,
            seeds=config.seeds, methods=methods, lr=config.lr, gate_lr=config.gate_lr,
            alpha=config.alpha, alpha_growth=config.alpha_growth,
            batch_size=config.batch_size, device=device)
        rows += [_clean(r, "shared" if r["method"] in SHARED else label) for r in found]
    return rows


def run(config: Config, cache: Path | None | bool = None, device=None, root=None,
        lang: str | None = None, recompute: bool = False) -> dict:
    """The record of ``config``: from the cache (``load``), else computed (``compute``) and
    written to ``cache`` (default ``cache_dir()``). ``cache=False`` always computes and writes
    nothing; ``recompute=True`` computes and writes, whatever is cached (to time a run)."""
    if cache is not False and not recompute:
        record = load(config, cache, root)
        if record is not None:
            return record
    record = compute(config, device, root, lang)
    if cache is not False:
        folder = Path(cache) if cache is not None else cache_dir()
        write_json(folder / resolved(config, root).file_name(), record, indent=1)
    return record


def shipped(name: str, profile: str = "full", root=None) -> dict | None:
    """The record of ``EXPERIMENTS[profile][name]`` shipped with the package, or None."""
    config = resolved(EXPERIMENTS[profile][name], root)
    path = PACKAGE_RUNS / profile / config.file_name()
    if not path.is_file():
        return None
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def summaries(record: dict) -> dict[str, list[dict]]:
    """``{split label: baselines.summarize rows}`` of a record, the shared rows in every split,
    methods in the order of ``baselines.METHODS``."""
    result = {}
    for label, *_ in record["config"]["splits"]:
        rows = [r for r in record["rows"] if r["split"] in (label, "shared")]
        result[label] = baselines.summarize(
            sorted(rows, key=lambda r: baselines.METHODS.index(r["method"])))
    return result


def show(record: dict, lang: str | None = None, classes: int | None = None) -> None:
    """Print where ``record`` comes from, then for every split its budget, the table and the
    verdicts (``report.show``)."""
    config = record["config"]
    print(t("lecture10.record", lang=lang, seeds=len(config["seeds"]), data=record["dataset"],
            device=record["device"], seconds=record["seconds"]))
    for (label, teacher, merge, finetune), summary in zip(config["splits"],
                                                          summaries(record).values(),
                                                          strict=True):
        print(t(f"lecture10.split_{label}", lang=lang, t=teacher, m=merge, f=finetune,
                b=2 * teacher + merge + finetune))
        report.show(summary, lang, classes)


def show_shipped(name: str, lang: str | None = None, classes: int | None = None) -> None:
    """``show`` the full-profile record of ``name`` shipped with the package, under a heading;
    a line saying how to compute it when this copy of the course has none."""
    print(t("lecture10.full_record", lang=lang))
    record = shipped(name, "full")
    if record is None:
        print(t("lecture10.no_full_record", lang=lang, name=name))
    else:
        show(record, lang, classes)


def show_imagewoof(config: Config, profile: str, lang: str | None = None, device=None,
                   root=None, cache: Path | None = None) -> dict | None:
    """One of the talk's Imagewoof experiments in the notebook: a heading, then its record from
    the cache (``load``), or, in the full profile with Imagewoof present, computed now
    (``run``); without either, a line naming the folder it needs and the MNIST-sample stand-in
    shown instead. Returns the record shown, or None."""
    print(t(f"lecture10.imagewoof_{config.model}", lang=lang))
    record = load(config, cache, root)
    if record is None and profile == "full" and available(config, root):
        record = run(config, cache, device, root, lang)
    if record is None:
        print(t("lecture10.no_imagewoof", lang=lang,
                folder=datasets.shown(datasets.folder("imagewoof", root))))
    else:
        show(record, lang, classes=10)
    return record


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m course_lib.labs.merging.experiments [--profile P] [--out DIR] [--recompute]
    [NAME ...]``: compute the records of a profile (all, or the named ones) that are not cached
    yet (all of them with ``--recompute``)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("names", nargs="*", help="experiments (default: all of the profile)")
    parser.add_argument("--profile", default="full", choices=sorted(EXPERIMENTS))
    parser.add_argument("--out", type=Path, default=None, help="folder (default: the cache)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--recompute", action="store_true",
                        help="train even when a record is cached (e.g. to time it)")
    args = parser.parse_args(argv)
    configs = EXPERIMENTS[args.profile]
    total = time.perf_counter()
    for name in args.names or list(configs):
        if not available(configs[name]):
            print(f"{name}: skipped, {configs[name].dataset} is not in "
                  f"{datasets.shown(datasets.folder(configs[name].dataset))}", flush=True)
            continue
        record = run(configs[name], cache=args.out, device=args.device,
                     recompute=args.recompute)
        print(f"{name}: {record['dataset']} on {record['device']}, {record['seconds']} s "
              f"(when computed)", flush=True)
    print(f"total {time.perf_counter() - total:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
