"""``fit`` and ``evaluate``: the training loop of the course, with everything a student watches.

    history = fit(model, train_loader, optimizer, epochs=10, val_data=val_loader,
                  checkpoint="runs/mlp.pt", resume=False, early_stopping=3)
    history.plot()

Per step (one mini-batch) the history records the loss, its exponential moving average, the
learning rate and the gradient norm; per epoch the mean training loss and accuracy and the
validation loss and accuracy. The smoothed curve is the bias-corrected EMA (coefficient
``beta = 0.99``, as in the Slovak thesis of the course)::

    m_0 = 0,   m_t = beta * m_{t-1} + (1 - beta) * loss_t,   smoothed_t = m_t / (1 - beta^t)

Checkpoints are written atomically (a temporary file in the same folder, then ``os.replace``)
at the end of every epoch; ``resume=True`` continues bit for bit on the CPU, see ``fit``.

On a GPU ``fit`` and ``evaluate`` follow the usual practices, each switchable and off on the CPU
by default (``"auto"``): mixed precision (``amp``: the forward pass under ``torch.autocast`` in
bfloat16, or float16 with loss scaling where bfloat16 is missing), ``channels_last`` memory
format for convolutional nets, batches copied with ``non_blocking=True`` (asynchronous from
pinned memory, see ``Splits.loaders``) and, on request, ``torch.compile``. Under torchrun
``fit`` trains data-parallel (see ``course_lib.distributed``) and only rank 0 writes checkpoints.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import math
import os
import pickle
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import BinaryIO, NamedTuple

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed
from . import validation as check
from .execution import Runner, compiled
from .i18n import CourseError, t

CHECKPOINT_FORMAT = 1
_REQUIRED = ("format", "epoch", "model", "optimizer", "scheduler", "history", "rng", "stopper")


def ema_curve(values: Iterable[float], beta: float = 0.99) -> list[float]:
    """Bias-corrected exponential moving average of ``values`` (a list of T numbers -> T numbers).

    ``m_t = beta * m_{t-1} + (1 - beta) * x_t`` with ``m_0 = 0``, returned as ``m_t / (1 - beta^t)``
    so that the first points are not pulled towards zero.
    """
    m, out = 0.0, []
    for step, x in enumerate(values, start=1):
        m = beta * m + (1 - beta) * x
        out.append(m / (1 - beta**step))
    return out


@dataclass
class History:
    """What ``fit`` recorded. Plain lists of floats, so a checkpoint can hold it as is.

    Per step: ``step_loss``, ``step_loss_ema`` (bias-corrected EMA, see ``ema_curve``),
    ``step_lr`` (learning rate of the first parameter group), ``step_grad_norm`` (L2 norm of all
    gradients together, before the update). Per epoch: ``train_loss``, ``train_acc``,
    ``val_loss``, ``val_acc`` (accuracies only for classification, losses on validation only
    with ``val_data``). ``epochs`` counts the finished epochs; ``ema_state`` is the uncorrected
    average ``m_t``, kept so that a resumed run continues the smoothed curve exactly.
    """

    ema: float = 0.99
    step_loss: list[float] = field(default_factory=list)
    step_loss_ema: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    step_grad_norm: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    epochs: int = 0
    stopped_early: bool = False
    ema_state: float = 0.0

    def add_steps(self, losses: list[float], lrs: list[float], grad_norms: list[float]) -> None:
        """Append one epoch's steps and extend the EMA from where it stopped."""
        for loss in losses:
            self.ema_state = self.ema * self.ema_state + (1 - self.ema) * loss
            step = len(self.step_loss_ema) + 1
            self.step_loss_ema.append(self.ema_state / (1 - self.ema**step))
        self.step_loss += losses
        self.step_lr += lrs
        self.step_grad_norm += grad_norms

    def state_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict) -> History:
        return cls(**{f.name: state[f.name] for f in fields(cls)})

    def plot(self, lang: str | None = None, panels=("loss", "epoch_loss", "accuracy")):
        """Draw the curves with labels in ``lang``; returns the matplotlib Figure.

        ``panels`` picks from ``loss`` (per step, raw and EMA), ``epoch_loss`` (train and
        validation per epoch), ``accuracy``, ``lr`` and ``grad_norm``; empty ones are skipped.
        """
        import matplotlib.pyplot as plt

        def tr(key, **kw):
            return t(f"training.{key}", lang=lang, **kw)

        steps = range(1, len(self.step_loss) + 1)
        epochs = range(1, self.epochs + 1)
        drawers = {
            "loss": (self.step_loss, tr("step"), tr("loss"), [
                (steps, self.step_loss, tr("loss_raw"), {"alpha": 0.35}),
                (steps, self.step_loss_ema, tr("loss_ema", beta=self.ema), {}),
            ]),
            "epoch_loss": (self.train_loss, tr("epoch"), tr("loss"), [
                (epochs, self.train_loss, tr("train"), {"marker": "o"}),
                (epochs, self.val_loss, tr("val"), {"marker": "o"}),
            ]),
            "accuracy": (self.train_acc, tr("epoch"), tr("accuracy"), [
                (epochs, self.train_acc, tr("train"), {"marker": "o"}),
                (epochs, self.val_acc, tr("val"), {"marker": "o"}),
            ]),
            "lr": (self.step_lr, tr("step"), tr("lr"), [(steps, self.step_lr, tr("lr"), {})]),
            "grad_norm": (self.step_grad_norm, tr("step"), tr("grad_norm"), [
                (steps, self.step_grad_norm, tr("grad_norm"), {"alpha": 0.7}),
            ]),
        }
        chosen = [drawers[name] for name in panels if drawers[name][0]]
        fig, axes = plt.subplots(1, max(len(chosen), 1), figsize=(4.2 * max(len(chosen), 1), 3.2),
                                 squeeze=False)
        for ax, (_, xlabel, ylabel, curves) in zip(axes[0], chosen, strict=False):
            for xs, ys, label, style in curves:
                if ys:
                    ax.plot(list(xs)[: len(ys)], ys, label=label, **style)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.legend()
        fig.tight_layout()
        return fig


def _postfix(history: History) -> dict[str, str]:
    """The last epoch's numbers for the epoch bar."""
    names = ("train_loss", "val_loss", "train_acc", "val_acc")
    return {name: f"{getattr(history, name)[-1]:.4f}" for name in names if getattr(history, name)}


class Evaluation(NamedTuple):
    """Mean loss over all examples and accuracy (``None`` unless the task is classification)."""

    loss: float
    accuracy: float | None


def _correct(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """Number of correct predictions (a 0-d tensor) when ``out`` are class scores for ``y``.

    Classification means integer targets ``y`` of shape (N, ...) and scores (N, C, ...).
    """
    if y.is_floating_point() or out.ndim != y.ndim + 1:
        return None
    return (out.argmax(dim=1) == y).sum()


def device_of(model: nn.Module, device=None) -> torch.device:
    """``device`` if given, else where the model's parameters are (the CPU if it has none)."""
    if device is not None:
        return torch.device(device)
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _eval_totals(runner: Runner, data: Iterable, loss_fn: Callable) -> torch.Tensor:
    """``[sum of losses, correct predictions, examples, batches not of classification]``,
    computed in eval mode; the module's train/eval mode is restored afterwards."""
    was_training = runner.net.training
    runner.net.eval()
    total_loss = torch.zeros((), device=runner.device)
    total_correct = torch.zeros((), device=runner.device)
    count, classification = 0, True
    for x, y in data:
        x, y = runner.batch(x, y)
        with runner.autocast():
            out = runner.net(x)
            loss = batch_loss(loss_fn, out, y, runner.lang, first=count == 0)
        total_loss += loss * len(y)
        correct = _correct(out, y)
        classification = classification and correct is not None
        if classification:
            total_correct += correct
        count += len(y)
    runner.net.train(was_training)
    return torch.cat([total_loss.reshape(1), total_correct.reshape(1),
                      total_loss.new_tensor([count, not classification])])


def _evaluation(totals: torch.Tensor, name: str = "data", lang: str | None = None) -> Evaluation:
    loss, correct, count, not_classification = totals.tolist()
    if count == 0:  # a mean over no examples: not 0.0, which early stopping would take as best
        raise CourseError("training.empty_data", lang=lang, name=name)
    return Evaluation(loss / count, None if not_classification else correct / count)


@torch.no_grad()
def evaluate(model: nn.Module, data: Iterable, loss_fn: Callable | None = None,
             device=None, *, amp="auto", channels_last="auto",
             lang: str | None = None) -> Evaluation:
    """Loss (mean over examples) and accuracy of ``model`` on ``data`` in eval mode.

    ``data`` yields batches ``(x, y)``; ``loss_fn`` (default cross-entropy) must average over
    the batch, as PyTorch's losses do. With ``device`` the model is moved there. The model's
    train/eval mode is restored afterwards. ``amp`` and ``channels_last`` as in ``fit`` (on by
    default on CUDA only).
    """
    _require_batches(data, "data", lang)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = device_of(model, device)
    model.to(device)
    totals = _eval_totals(Runner.build(model, device, amp, channels_last, lang), data, loss_fn)
    return _evaluation(totals, "data", lang)


def _require_batches(data, name: str, lang: str | None) -> None:
    """A loader or dataset that knows its length must have at least one batch."""
    if hasattr(data, "__len__") and len(data) == 0:
        raise CourseError("training.empty_data", lang=lang, name=name)


def batch_loss(loss_fn: Callable, out: torch.Tensor, y: torch.Tensor, lang: str | None = None,
               first: bool = False) -> torch.Tensor:
    """``loss_fn(out, y)``, which must be a scalar (the mean over the batch).

    A loss that fails on the batch raises ``CourseError`` saying why: different batch sizes of
    ``out`` and ``y``, class indices out of range or not integers. On the ``first`` batch the
    class indices of a cross-entropy are checked before the loss, as a CUDA kernel would
    otherwise stop the whole process on one out of range.
    """
    if first and isinstance(loss_fn, nn.CrossEntropyLoss | nn.NLLLoss):
        _check_class_indices(out, y, loss_fn.ignore_index, lang)
    try:
        loss = loss_fn(out, y)
    except CourseError:
        raise
    except (RuntimeError, IndexError, ValueError) as error:
        raise _batch_problem(out, y, error, lang) from error
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        got = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise CourseError("training.loss_not_scalar", lang=lang, name="loss_fn", got=got)
    return loss


def _check_class_indices(out: torch.Tensor, y: torch.Tensor, ignore_index: int,
                         lang: str | None) -> None:
    if y.is_floating_point() or out.ndim != y.ndim + 1 or len(out) != len(y):
        return  # probabilities as targets, or a shape problem the loss itself reports
    problem = _labels_out_of_range(y[y != ignore_index], out.shape[1], lang)
    if problem is not None:
        raise problem


def _labels_out_of_range(labels: torch.Tensor, classes: int,
                         lang: str | None) -> CourseError | None:
    """The error for class indices outside ``0 .. classes - 1``, or None when all fit."""
    if labels.numel() and (labels.min() < 0 or labels.max() >= classes):
        return CourseError("training.labels_out_of_range", lang=lang, low=int(labels.min()),
                           high=int(labels.max()), classes=classes, last=classes - 1,
                           needed=int(labels.max()) + 1)
    return None


def _batch_problem(out, y, error: Exception, lang: str | None) -> CourseError:
    """The most likely reason why a loss failed on ``(out, y)``, as a CourseError."""
    if not isinstance(out, torch.Tensor) or not isinstance(y, torch.Tensor):
        return CourseError("training.loss_failed", lang=lang, name="loss_fn",
                           out=type(out).__name__, y=type(y).__name__, dtype="",
                           error=str(error).strip()[:200])
    if out.ndim and y.ndim and len(out) != len(y):
        return CourseError("training.batch_sizes_differ", lang=lang, out=tuple(out.shape),
                           y=tuple(y.shape))
    if out.ndim == y.ndim + 1 and y.is_floating_point():
        return CourseError("training.labels_not_indices", lang=lang, dtype=str(y.dtype),
                           expected=(out.shape[0], *out.shape[2:]))
    if out.ndim == y.ndim + 1:
        problem = _labels_out_of_range(y.detach().cpu(), out.shape[1], lang)
        if problem is not None:
            return problem
    return CourseError("training.loss_failed", lang=lang, name="loss_fn", out=tuple(out.shape),
                       y=tuple(y.shape), dtype=str(y.dtype),
                       error=(str(error).strip().splitlines() or [""])[0][:200])


def _finite_parameters(model: nn.Module) -> bool:
    """Whether every parameter of ``model`` is finite: the largest ``|w_i|`` of each parameter
    (``torch._foreach_norm`` with ``ord=inf``, a fused kernel for all of them; NaN stays NaN)
    is finite. One synchronization with the GPU."""
    params = [p.detach() for p in model.parameters() if p.numel()]
    if not params:
        return True
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for peak in torch._foreach_norm(params, math.inf):
        by_dtype.setdefault(peak.dtype, []).append(peak)  # no cast: float64's max is finite
    flags = [torch.isfinite(torch.stack(peaks)).all() for peaks in by_dtype.values()]
    return bool(torch.stack(flags).all())


def grad_norm(model: nn.Module | Iterable[nn.Parameter]) -> torch.Tensor:
    """L2 norm of all gradients of ``model`` (or of a list of parameters) as one vector:
    ``sqrt(sum_p ||grad_p||^2)``."""
    params = model.parameters() if isinstance(model, nn.Module) else model
    grads = [p.grad.detach() for p in params if p.grad is not None]
    return nn.utils.get_total_norm(grads) if grads else torch.zeros(())


def progress_enabled(progress: bool, environ=None) -> bool:
    """``progress`` unless ``TQDM_DISABLE`` or ``CI`` is set to something other than 0/false."""
    environ = os.environ if environ is None else environ
    quiet = any(environ.get(var, "").lower() not in ("", "0", "false") for var in
                ("TQDM_DISABLE", "CI"))
    return progress and not quiet


def _generators(data) -> list[torch.Generator]:
    """The torch.Generators that drive ``data``'s shuffling (loader's and sampler's), once each."""
    found = []
    for owner in (data, getattr(data, "sampler", None), getattr(data, "batch_sampler", None)):
        gen = getattr(owner, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def _rng_state(data) -> dict:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "loader": [g.get_state() for g in _generators(data)],
    }


def _set_rng_state(state: dict, data) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    for gen, saved in zip(_generators(data), state["loader"], strict=False):
        gen.set_state(saved)


def write_atomically(path, write: Callable[[BinaryIO], None],
                     permissions: int | None = None) -> None:
    """``write(f)`` into ``path`` atomically: a crash leaves the old file or none, never half.

    ``write`` fills a temporary file in the same folder (opened in binary mode), which is
    flushed to disk and renamed over ``path`` by ``os.replace`` (an atomic rename on one file
    system). ``permissions``, e.g. ``0o644``, replaces the temporary file's private ``0o600``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if permissions is not None:
            os.chmod(tmp, permissions)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, obj, indent: int | None = None) -> None:
    """``obj`` as UTF-8 JSON in ``path``, atomically (``write_atomically``), readable by all;
    compact unless ``indent`` is given."""
    def dump(f) -> None:
        text = io.TextIOWrapper(f, encoding="utf-8")
        json.dump(obj, text, indent=indent, separators=None if indent else (",", ":"))
        text.flush()
        text.detach()

    write_atomically(path, dump, permissions=0o644)


STALE_AFTER_S = 60.0
"""A temporary file of ``write_atomically`` untouched for this long belongs to a killed save."""


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the ``.<name>.*.tmp`` files that saves killed before their rename left next to
    ``path``; recent ones may belong to a save still running elsewhere and are kept."""
    cutoff = time.time() - STALE_AFTER_S
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        with contextlib.suppress(OSError):
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()


def check_writable(path, lang: str | None = None) -> Path:
    """Raise ``CourseError`` unless a file can be written at ``path``: not a folder, and its
    folder can be created and written to (tried with an empty temporary file). Called before
    training, so that nothing is trained only to be lost at the first save."""
    path = Path(path)
    if path.is_dir():
        raise CourseError("training.checkpoint_is_folder", lang=lang, path=str(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as error:
        raise CourseError("training.checkpoint_unwritable", lang=lang, path=str(path),
                          reason=error.strerror or str(error)) from error
    return path


def save_checkpoint(path, state: dict) -> None:
    """``torch.save(state, path)`` atomically (see ``write_atomically``)."""
    write_atomically(path, lambda f: torch.save(state, f))


LOAD_ERRORS = (OSError, RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile,
               ValueError, KeyError, TypeError, AttributeError, ImportError, IndexError)
"""What ``torch.load`` raises for a damaged, truncated or foreign file."""


def load_problem(error: BaseException, lang: str | None = None) -> str:
    """Why ``torch.load`` failed, in one line for a message in ``lang``.

    torch's message for a file with objects other than tensors advises ``weights_only=False``,
    which would run any code stored in the file: the course never suggests that, so that
    message is replaced by one of ours.
    """
    text = str(error).strip()
    if "weights_only" in text or "Weights only load failed" in text:
        return t("training.not_tensors", lang=lang)
    return f"{type(error).__name__}: {(text.splitlines() or [''])[0][:200]}"


def _shape_problems(model: nn.Module, saved: dict) -> list[str]:
    own = model.state_dict()
    problems = [f"-{key}" for key in own if key not in saved]
    problems += [f"+{key}" for key in saved if key not in own]
    problems += [
        f"{key}: {tuple(saved[key].shape)} != {tuple(value.shape)}"
        for key, value in own.items()
        if key in saved and tuple(saved[key].shape) != tuple(value.shape)
    ]
    return problems


def load_checkpoint(path, model: nn.Module, optimizer=None, scheduler=None,
                    lang: str | None = None) -> dict:
    """Load a checkpoint written by ``fit`` into ``model`` (and ``optimizer``, ``scheduler``).

    Returns the whole checkpoint dict (``epoch``, ``history`` as a dict, ``rng``, ...). Raises
    ``CourseError`` in ``lang`` for a missing file, a corrupt one, or one that does not fit the
    model or optimizer, saying what to do.
    """
    path = Path(path)
    if not path.is_file():
        raise CourseError("training.checkpoint_missing", lang=lang, path=str(path))
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except LOAD_ERRORS as error:
        raise CourseError("training.checkpoint_corrupt", lang=lang, path=str(path),
                          reason=load_problem(error, lang)) from error
    if (not isinstance(state, dict) or any(key not in state for key in _REQUIRED)
            or not isinstance(state["model"], dict)):
        raise CourseError("training.checkpoint_corrupt", lang=lang, path=str(path),
                          reason=t("training.not_a_checkpoint", lang=lang))
    problems = _shape_problems(model, state["model"])
    if problems:
        shown = "; ".join(problems[:4]) + ("; ..." if len(problems) > 4 else "")
        raise CourseError("training.checkpoint_mismatch", lang=lang, path=str(path),
                          problems=shown)
    model.load_state_dict(state["model"])
    try:
        if optimizer is not None:
            _load_optimizer(optimizer, state["optimizer"], lang)
        if scheduler is not None and state["scheduler"] is not None:
            scheduler.load_state_dict(state["scheduler"])
    except (ValueError, KeyError, RuntimeError, TypeError) as error:
        raise CourseError("training.checkpoint_optimizer_mismatch", lang=lang, path=str(path),
                          reason=str(error).splitlines()[0][:200]) from error
    return state


def _load_optimizer(optimizer: torch.optim.Optimizer, saved: dict, lang: str | None) -> None:
    """``optimizer.load_state_dict(saved)``, undone when the saved groups lack hyper-parameters
    of this optimizer (an SGD checkpoint has no ``betas`` for Adam, whose first step would fail
    with a KeyError); torch's optimizers fill the keys that later versions added themselves."""
    before = optimizer.state_dict()
    optimizer.load_state_dict(saved)
    missing = sorted({key for group in optimizer.param_groups for key in optimizer.defaults
                      if key not in group})
    if missing:
        optimizer.load_state_dict(before)
        raise ValueError(t("training.other_optimizer", lang=lang, missing=", ".join(missing),
                           optimizer=type(optimizer).__name__))


class _EarlyStopping:
    """Stop when the validation loss has not improved for ``patience`` epochs in a row."""

    def __init__(self, patience: int | None):
        self.patience, self.best, self.bad_epochs = patience, math.inf, 0

    def should_stop(self, val_loss: float) -> bool:
        if val_loss < self.best:
            self.best, self.bad_epochs = val_loss, 0
        else:
            self.bad_epochs += 1
        return self.patience is not None and self.bad_epochs >= self.patience


@dataclass
class _EpochSteps:
    """What one pass over the training data recorded, step by step."""

    losses: list[float]
    sizes: list[int]
    lrs: list[float]
    grad_norms: list[float]
    correct: int | None

    def add_to(self, history: History) -> None:
        history.add_steps(self.losses, self.lrs, self.grad_norms)
        seen = max(sum(self.sizes), 1)
        weighted = sum(loss * n for loss, n in zip(self.losses, self.sizes, strict=True))
        history.train_loss.append(weighted / seen)
        if self.correct is not None and self.sizes:
            history.train_acc.append(self.correct / seen)


def _clip(params: list[nn.Parameter], clip_norm: float | None, clip_value: float | None) -> None:
    """Clip the gradients in place, as torch does: by value first (``g_i <- clamp(g_i, -v, v)``),
    then by norm (``g <- g * min(1, c / ||g||)``, ``||g||`` over all gradients together)."""
    params = [p for p in params if p.grad is not None]
    if clip_value is not None:
        nn.utils.clip_grad_value_(params, clip_value)
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(params, clip_norm)


def _train_epoch(runner: Runner, model: nn.Module, batches, optimizer, scaler, loss_fn,
                 objective, batch_scheduler, with_norms, show,
                 clip: tuple[float | None, float | None] = (None, None)) -> _EpochSteps:
    """One pass over ``batches``. Numbers stay on the device until the end of the epoch.

    With float16 autocast the ``scaler`` multiplies the loss by ``s`` before ``backward`` and
    divides the gradients by ``s`` before the norm, the clipping and the step (skipped if any
    is inf/NaN); otherwise it is disabled and passes everything through. ``clip`` is
    ``(max norm, max value)``, see ``_clip``; the recorded norm is the one before clipping.
    """
    runner.net.train()
    params = list(model.parameters())  # once per epoch: collecting them costs more than a tiny step
    clipping = clip != (None, None)
    losses, sizes, lrs, norms = [], [], [], []
    correct, classification = torch.zeros((), device=runner.device), True
    for x, y in batches:
        x, y = runner.batch(x, y)
        optimizer.zero_grad(set_to_none=True)
        with runner.autocast():
            if objective is None:
                out = runner.net(x)
                loss = batch_loss(loss_fn, out, y, runner.lang, first=not losses)
            else:
                out, loss = None, objective(runner.net, x, y)
                if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
                    raise CourseError("training.loss_not_scalar", lang=runner.lang,
                                      name="objective", got=getattr(loss, "shape", loss))
        scaler.scale(loss).backward()
        if with_norms or clipping:
            scaler.unscale_(optimizer)
        if with_norms:
            norms.append(grad_norm(params))
        if clipping:
            _clip(params, *clip)
        lrs.append(optimizer.param_groups[0]["lr"])
        scaler.step(optimizer)
        scaler.update()
        if batch_scheduler is not None:
            batch_scheduler.step()
        losses.append(loss.detach())
        sizes.append(len(y))
        batch_correct = None if out is None else _correct(out.detach(), y)
        classification = classification and batch_correct is not None
        if classification:
            correct += batch_correct
        if show and len(losses) % 10 == 1:
            batches.set_postfix(loss=f"{loss.item():.4f}")
    steps = torch.stack(losses) if losses else correct.new_zeros(0)
    if distributed.active():
        steps, sizes, correct = _global_steps(steps, sizes, correct)
    return _EpochSteps(
        losses=steps.tolist(), sizes=sizes, lrs=lrs,
        grad_norms=torch.stack(norms).tolist() if norms else [],
        correct=int(correct.item()) if classification else None,
    )


def _global_steps(losses: torch.Tensor, sizes: list[int], correct: torch.Tensor):
    """Per-step losses of the global batch from every process's ``(loss_r, n_r)``:
    ``loss = sum_r n_r loss_r / sum_r n_r``; sizes and correct predictions summed."""
    n = losses.new_tensor(sizes)
    totals = distributed.all_sum(torch.cat([losses * n, n, correct.reshape(1).to(n.dtype)]))
    steps = len(sizes)
    n_global = totals[steps: 2 * steps]
    return (totals[:steps] / n_global, [round(v) for v in n_global.tolist()],
            totals[-1])


def _check_fit_arguments(train_data, epochs, val_data, checkpoint, resume, early_stopping, ema,
                         lang: str | None, clip=(None, None)) -> None:
    """Every argument of ``fit`` that can be checked before any work, checked."""
    check.non_negative_int("epochs", epochs, lang)
    for name, bound in zip(("clip_grad_norm", "clip_grad_value"), clip, strict=True):
        if bound is not None:
            check.in_range(name, bound, 0, None, low_open=True, lang=lang)
    if early_stopping is not None:
        check.positive_int("early_stopping", early_stopping, lang)
        if val_data is None:
            raise CourseError("training.early_stopping_needs_val", lang=lang)
    check.in_range("ema", ema, 0, 1, low_open=True, high_open=True, lang=lang)
    _require_batches(train_data, "train_data", lang)
    if val_data is not None:
        _require_batches(val_data, "val_data", lang)
    if resume and checkpoint is None:
        raise CourseError("training.resume_needs_checkpoint", lang=lang)
    if checkpoint is not None and distributed.is_main():
        check_writable(checkpoint, lang)


def _save_or_warn(path, epoch: int, lang: str | None, state: dict) -> None:
    """Save the checkpoint; if the disk is full or the folder gone, warn and train on (the
    model in memory keeps the weights) instead of losing the run."""
    try:
        save_checkpoint(path, state)
    except (OSError, RuntimeError) as error:
        warnings.warn(t("training.checkpoint_write_failed", lang=lang, epoch=epoch + 1,
                        path=str(path), reason=str(error).strip().splitlines()[0][:200]),
                      stacklevel=3)


def fit(model: nn.Module, train_data: Iterable, optimizer: torch.optim.Optimizer,
        loss_fn: Callable | None = None, epochs: int = 1, val_data: Iterable | None = None,
        scheduler=None, scheduler_interval: str = "epoch", device=None, checkpoint=None,
        resume: bool = False, early_stopping: int | None = None, ema: float = 0.99,
        grad_norms: bool = True, progress: bool = True, lang: str | None = None,
        on_epoch_end: Callable | None = None, *, amp="auto", channels_last="auto",
        compile=False, objective: Callable | None = None, clip_grad_norm: float | None = None,
        clip_grad_value: float | None = None) -> History:
    """Train ``model`` for ``epochs`` epochs (in total, counting resumed ones); return a History.

    One step: ``out = model(x)``, ``loss = loss_fn(out, y)`` (default cross-entropy) or, with the
    model-level loss hook ``objective``, ``loss = objective(model, x, y)`` (a loss that needs
    more than the outputs, e.g. distillation or a penalty on activations; no accuracy is
    recorded then), ``loss.backward()``, record ``||grad||``, ``optimizer.step()``, and
    ``scheduler.step()`` after every batch (``scheduler_interval="batch"``) or epoch (``"epoch"``; a
    ``ReduceLROnPlateau`` gets the validation loss, or the training loss without validation).
    After each epoch: evaluation on ``val_data``, ``on_epoch_end(epoch, model, history)``, the
    checkpoint, and early stopping (``early_stopping`` = patience in epochs on the validation
    loss; it needs ``val_data``). With ``device`` the model is moved there; without, batches
    go to the device of the model's parameters.

    Nothing is trained in vain: the arguments, the data (at least one batch) and the
    checkpoint's folder (writable) are checked before the first step, a loss that fails on a
    batch is explained (batch sizes, class indices), and a checkpoint that cannot be written
    later (a full disk) gives a warning while training goes on. When the loss or the weights
    turn inf or NaN, ``fit`` warns, naming the epoch and the learning rate, leaves the last
    finite checkpoint as it is and returns the history so far.

    ``checkpoint`` is a file path; it holds the model, optimizer and scheduler states, the
    history, the epoch and the random number generators' states. ``resume=True`` loads it and
    continues, giving on the CPU bit-identical weights to an uninterrupted run. For that, the
    loader's shuffling must come from a generator that the checkpoint saves: either the global
    one (``DataLoader(..., shuffle=True)``, saved with ``torch.get_rng_state``) or the loader's
    own (``DataLoader(..., generator=torch.Generator().manual_seed(0))``, saved as well).
    Progress bars are off when ``progress=False`` or ``TQDM_DISABLE``/``CI`` is set.

    GPU practices, each on by default (``"auto"``) on CUDA only: ``amp`` (mixed precision, see
    ``amp_dtype``: ``"auto"``, True, False, ``torch.bfloat16`` or ``torch.float16``; float16
    with a ``GradScaler`` whose state the checkpoint keeps) and ``channels_last`` (``"auto"``,
    True, False; see ``use_channels_last``). ``compile=True`` (or a dict of options such as
    ``{"mode": "max-autotune"}``) trains through ``torch.compile(model)``; off by default, as
    the first epoch then pays for the compilation. Batches are always copied with
    ``non_blocking=True``.

    Under torchrun (a process group of ``W > 1``, see ``course_lib.distributed.setup``) the
    model is wrapped in DistributedDataParallel, the train loader's sampler gets ``set_epoch``,
    the history holds the losses and accuracies of the global batch and of the whole validation
    set (summed over the processes), and only rank 0 writes the checkpoint and shows progress.

    Gradient clipping, the usual fix for exploding gradients (both off by default, each a
    number ``> 0``), with the semantics of ``torch.nn.utils``: ``clip_grad_value=v`` clamps
    every gradient entry to ``[-v, v]`` (``clip_grad_value_``), ``clip_grad_norm=c`` rescales
    all gradients together, ``g <- g * min(1, c / ||g||)`` (``clip_grad_norm_``; the direction
    is kept). Both act after the gradients are unscaled (float16) and before the optimizer's
    step, value first if both are given. ``history.step_grad_norm`` records the norm before
    clipping, so it still shows the explosion that clipping tamed.
    """
    clip = (clip_grad_norm, clip_grad_value)
    _check_fit_arguments(train_data, epochs, val_data, checkpoint, resume, early_stopping, ema,
                         lang, clip)
    if scheduler_interval not in ("epoch", "batch"):
        raise CourseError("training.bad_interval", lang=lang, value=scheduler_interval)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    device = device_of(model, device)
    model.to(device)
    runner = Runner.build(model, device, amp, channels_last, lang)
    scaler = torch.amp.GradScaler(device.type, enabled=runner.dtype == torch.float16)
    main = distributed.is_main()
    show = progress_enabled(progress) and main
    history, stopper, start = History(ema=ema), _EarlyStopping(early_stopping), 0
    if resume:
        state = load_checkpoint(checkpoint, model, optimizer, scheduler, lang=lang)
        history = History.from_state_dict(state["history"])
        stopper.best, stopper.bad_epochs = state["stopper"]
        start = state["epoch"]
        _set_rng_state(state["rng"], train_data)
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
    runner.net = compiled(distributed.wrap(model, device), compile, lang)
    sampler = getattr(train_data, "sampler", None)
    batch_scheduler = scheduler if scheduler_interval == "batch" else None
    epoch_bar = tqdm(range(start, epochs), desc=t("training.epochs_bar", lang=lang),
                     initial=start, total=epochs, disable=not show)
    for epoch in epoch_bar:
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        batches = tqdm(train_data, leave=False, disable=not show,
                       desc=t("training.batches_bar", lang=lang, epoch=epoch + 1, epochs=epochs))
        steps = _train_epoch(runner, model, batches, optimizer, scaler, loss_fn, objective,
                             batch_scheduler, grad_norms, show, clip)
        if not steps.losses:
            raise CourseError("training.empty_data", lang=lang, name="train_data")
        steps.add_to(history)
        if val_data is not None:
            with torch.no_grad():
                totals = distributed.all_sum(_eval_totals(runner, val_data, loss_fn))
            val_loss, val_acc = _evaluation(totals, "val_data", lang)
            history.val_loss.append(val_loss)
            if val_acc is not None:
                history.val_acc.append(val_acc)
        if scheduler is not None and batch_scheduler is None:
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step((history.val_loss or history.train_loss)[-1])
            else:
                scheduler.step()
        history.epochs = epoch + 1
        history.stopped_early = val_data is not None and stopper.should_stop(history.val_loss[-1])
        if on_epoch_end is not None:
            on_epoch_end(epoch, model, history)
        diverged = not _finite_parameters(model) or (
            not scaler.is_enabled() and not math.isfinite(history.train_loss[-1]))
        if checkpoint is not None and main and not diverged:  # never NaN over a good file
            _save_or_warn(checkpoint, epoch, lang, {
                "format": CHECKPOINT_FORMAT, "epoch": epoch + 1,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "history": history.state_dict(), "rng": _rng_state(train_data),
                "stopper": [stopper.best, stopper.bad_epochs], "scaler": scaler.state_dict(),
            })
        distributed.barrier()
        epoch_bar.set_postfix(_postfix(history))
        if diverged:
            kept = "" if checkpoint is None else " " + t(
                "training.diverged_checkpoint", lang=lang, path=str(checkpoint))
            warnings.warn(t("training.diverged", lang=lang, epoch=epoch + 1,
                            lr=optimizer.param_groups[0]["lr"]) + kept, stacklevel=2)
            break
        if history.stopped_early:
            if show:
                tqdm.write(t("training.early_stop", lang=lang, epoch=epoch + 1,
                             patience=early_stopping, best=stopper.best))
            break
    epoch_bar.close()
    return history
