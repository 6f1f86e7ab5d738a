r"""Learning-rate schedules of the lecture, each a closed-form formula of the step t.

"The learning rate should decay over the iterations": step decay, exponential decay, 1/t decay,
cosine annealing and cosine annealing with warm restarts (SGDR, Loshchilov and Hutter 2016),
whose cycles also give the snapshots of a snapshot ensemble; and the one-cycle policy (Smith and
Topin 2019, fast.ai's default): a warm-up from lr_max / div_factor to lr_max, then annealing
down to far below the start.

Each schedule is twice here:

- a pure function ``step_lr(t, lr, ...)`` ... for plots and exercises; ``lr_at(name, t, lr, ...)``
  picks one by name: ``[lr_at("cosine", t, 0.1, T_max=50) for t in range(100)]``;
- a ``torch.optim.lr_scheduler.LRScheduler`` with torch's name and arguments (``InverseTimeLR``
  has no torch twin: it equals ``LambdaLR(opt, lambda t: 1 / (1 + k * t))``). Its ``get_lr``
  applies the formula to each group's initial learning rate at ``last_epoch``, so it does not
  compose with a second scheduler on the same optimizer (torch's recursive forms do).

Here t counts the calls to ``scheduler.step()`` (epochs or batches) from 0 and lr_0 is the
learning rate the optimizer had when the scheduler was created. Bad arguments raise ValueError:
the scheduler classes torch's own English one (they stand in for torch's), the pure functions a
``CourseError`` (a ValueError) naming the argument in the student's language.
"""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .i18n import CourseError
from .validation import interval

__all__ = [
    "StepLR", "ExponentialLR", "InverseTimeLR", "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts", "step_lr", "exponential_lr", "inverse_time_lr",
    "cosine_lr", "warm_restarts_lr", "lr_at", "SCHEDULES", "OneCycleLR", "one_cycle_lr",
]


POSITIVE_INTS = "{1, 2, 3, ...}"


def _require(ok: bool, torch_style: bool, message: str, name: str, value, expected: str) -> None:
    """A torch-style English ValueError (``message``) from the scheduler classes, which stand in
    for torch's; a ``CourseError`` in the student's language from the pure functions."""
    if ok:
        return
    if torch_style:
        raise ValueError(message)
    raise CourseError("schedules.bad_argument", name=name, value=value, expected=expected)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_step(step_size: int, gamma: float, torch_style: bool = False) -> None:
    _require(_is_int(step_size) and step_size > 0, torch_style,
             f"Expected positive integer step_size, but got {step_size}", "step_size", step_size,
             POSITIVE_INTS)
    _check_exponential(gamma, torch_style)


def _check_exponential(gamma: float, torch_style: bool = False) -> None:
    _require(_is_real(gamma) and gamma > 0, torch_style, f"Invalid gamma value: {gamma}",
             "gamma", gamma, interval(0, None, low_open=True))


def _check_inverse_time(k: float, torch_style: bool = False) -> None:
    _require(_is_real(k) and k >= 0, torch_style, f"Invalid decay rate k: {k}", "k", k,
             interval(0, None))


def _check_eta_min(eta_min: float, torch_style: bool = False) -> None:
    _require(isinstance(eta_min, (float, int)), torch_style,
             f"Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}",
             "eta_min", eta_min, interval(0, None))
    _require(eta_min >= 0, torch_style, f"Invalid eta_min value: {eta_min}", "eta_min", eta_min,
             interval(0, None))


def _check_cosine(T_max: int, eta_min: float, torch_style: bool = False) -> None:
    _require(_is_real(T_max) and T_max > 0, torch_style,
             f"Expected positive T_max, but got {T_max}", "T_max", T_max,
             interval(0, None, low_open=True))
    _check_eta_min(eta_min, torch_style)


def _check_warm_restarts(T_0: int, T_mult: int, eta_min: float, torch_style: bool = False) -> None:
    _require(_is_int(T_0) and T_0 > 0, torch_style, f"Expected positive integer T_0, but got {T_0}",
             "T_0", T_0, POSITIVE_INTS)
    _require(_is_int(T_mult) and T_mult >= 1, torch_style,
             f"Expected integer T_mult >= 1, but got {T_mult}", "T_mult", T_mult, POSITIVE_INTS)
    _check_eta_min(eta_min, torch_style)


def _check_one_cycle(total_steps: int, pct_start: float, div_factor: float,
                     final_div_factor: float, anneal_strategy: str,
                     torch_style: bool = False) -> None:
    _require(_is_int(total_steps) and total_steps > 0, torch_style,
             f"Expected positive integer total_steps, but got {total_steps}", "total_steps",
             total_steps, POSITIVE_INTS)
    _require(_is_real(pct_start) and 0 <= pct_start <= 1, torch_style,
             f"Expected float between 0 and 1 pct_start, but got {pct_start}", "pct_start",
             pct_start, interval(0, 1))
    for name, value in (("div_factor", div_factor), ("final_div_factor", final_div_factor)):
        _require(_is_real(value) and value > 0, torch_style, f"Invalid {name}: {value}", name,
                 value, interval(0, None, low_open=True))
    _require(anneal_strategy in ("cos", "linear"), torch_style,
             f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}",
             "anneal_strategy", anneal_strategy, "{'cos', 'linear'}")


def _check_point(t: int, lr: float) -> None:
    """The step t >= 0 and the learning rate lr >= 0 of a pure schedule function."""
    _require(_is_real(t) and t >= 0, False, "", "t", t, interval(0, None))
    _require(_is_real(lr) and lr >= 0, False, "", "lr", lr, interval(0, None))


def step_lr(t: int, lr: float, step_size: int, gamma: float = 0.1) -> float:
    """Step decay, lr_t = lr_0 γ^⌊t / step_size⌋: e.g. halve (γ = 0.5) every few epochs."""
    _check_point(t, lr)
    _check_step(step_size, gamma)
    return lr * gamma ** (t // step_size)


def exponential_lr(t: int, lr: float, gamma: float) -> float:
    """Exponential decay, lr_t = lr_0 γ^t; the slide's lr_0 e^{-kt} with γ = e^{-k}."""
    _check_point(t, lr)
    _check_exponential(gamma)
    return lr * gamma**t


def inverse_time_lr(t: int, lr: float, k: float) -> float:
    """1/t decay, lr_t = lr_0 / (1 + k t)."""
    _check_point(t, lr)
    _check_inverse_time(k)
    return lr / (1 + k * t)


def cosine_lr(t: int, lr: float, T_max: int, eta_min: float = 0.0) -> float:
    """Cosine annealing from lr_0 down to η_min in T_max steps (and back up after that).

        lr_t = η_min + (lr_0 - η_min) (1 + cos(π t / T_max)) / 2
    """
    _check_point(t, lr)
    _check_cosine(T_max, eta_min)
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * t / T_max)) / 2


def warm_restarts_lr(t: int, lr: float, T_0: int, T_mult: int = 1,
                     eta_min: float = 0.0) -> float:
    """Cosine annealing restarted from lr_0 after T_0, T_0 T_mult, T_0 T_mult², ... steps (SGDR).

        lr_t = η_min + (lr_0 - η_min) (1 + cos(π T_cur / T_i)) / 2

    where T_i is the length of the current cycle and T_cur the steps since its restart.
    """
    _check_point(t, lr)
    _check_warm_restarts(T_0, T_mult, eta_min)
    T_cur, T_i = t, T_0
    while T_cur >= T_i:
        T_cur, T_i = T_cur - T_i, T_i * T_mult
    return eta_min + (lr - eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2


def one_cycle_lr(t: int, lr: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4,
                 anneal_strategy: str = "cos") -> float:
    """One cycle of ``total_steps`` steps peaking at ``lr`` (= lr_max), as torch's OneCycleLR.

    Warm-up for the first ``pct_start`` of the steps from lr_0 = lr_max / div_factor up to
    lr_max, then annealing down to lr_min = lr_0 / final_div_factor at t = total_steps - 1::

        T_1 = pct_start * total_steps - 1 (end of the warm-up),  T_2 = total_steps - 1
        t <= T_1:  lr_t = anneal(lr_0, lr_max, t / T_1)
        t >  T_1:  lr_t = anneal(lr_max, lr_min, (t - T_1) / (T_2 - T_1))

    with ``anneal(a, b, p) = b + (a - b) (1 + cos(π p)) / 2`` (``"cos"``) or ``a + (b - a) p``
    (``"linear"``). t runs from 0 to ``total_steps`` (torch allows one extra step).
    """
    _check_point(t, lr)
    _check_one_cycle(total_steps, pct_start, div_factor, final_div_factor, anneal_strategy)
    _require(t <= total_steps, False, "", "t", t, f"[0, {total_steps}]")
    lr_0 = lr / div_factor
    phases = [(float(pct_start * total_steps) - 1, lr_0, lr),
              (total_steps - 1, lr, lr_0 / final_div_factor)]
    start = 0.0
    for i, (end, a, b) in enumerate(phases):
        if t <= end or i == len(phases) - 1:
            p = (t - start) / (end - start) if end != start else 1.0
            if anneal_strategy == "cos":
                return b + (a - b) / 2 * (math.cos(math.pi * p) + 1)
            return (b - a) * p + a
        start = end
    raise AssertionError("unreachable: the last phase always returns")


SCHEDULES = {
    "step": step_lr,
    "exponential": exponential_lr,
    "inverse_time": inverse_time_lr,
    "cosine": cosine_lr,
    "warm_restarts": warm_restarts_lr,
    "one_cycle": one_cycle_lr,
}
"""The pure schedule functions by name, as ``lr_at`` knows them."""


def lr_at(schedule: str, t: int, lr: float, **hyper) -> float:
    """The learning rate of the named schedule at step ``t``, starting from ``lr``.

    ``schedule`` is a key of ``SCHEDULES``; ``hyper`` are the arguments of that function,
    e.g. ``lr_at("step", 30, 0.1, step_size=10, gamma=0.5) == 0.0125``.
    """
    if schedule not in SCHEDULES:
        raise CourseError("schedules.unknown", name=schedule, known=", ".join(SCHEDULES))
    return SCHEDULES[schedule](t, lr, **hyper)


class StepLR(LRScheduler):
    """Step decay: lr_t = lr_0 γ^⌊t / step_size⌋ for each parameter group (torch's StepLR)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        _check_step(step_size, gamma, torch_style=True)
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [step_lr(self.last_epoch, lr, self.step_size, self.gamma) for lr in self.base_lrs]


class ExponentialLR(LRScheduler):
    """Exponential decay: lr_t = lr_0 γ^t, i.e. lr_0 e^{-kt} with γ = e^{-k} (torch's)."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        _check_exponential(gamma, torch_style=True)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [exponential_lr(self.last_epoch, lr, self.gamma) for lr in self.base_lrs]


class InverseTimeLR(LRScheduler):
    """1/t decay: lr_t = lr_0 / (1 + k t); torch's ``LambdaLR(opt, lambda t: 1 / (1 + k t))``."""

    def __init__(self, optimizer: Optimizer, k: float, last_epoch: int = -1):
        _check_inverse_time(k, torch_style=True)
        self.k = k
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [inverse_time_lr(self.last_epoch, lr, self.k) for lr in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing: lr_t = η_min + (lr_0 - η_min) (1 + cos(π t / T_max)) / 2 (torch's)."""

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1):
        _check_cosine(T_max, eta_min, torch_style=True)
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [cosine_lr(self.last_epoch, lr, self.T_max, self.eta_min) for lr in self.base_lrs]


class CosineAnnealingWarmRestarts(LRScheduler):
    """SGDR: cosine annealing restarted after cycles of T_0, T_0 T_mult, ... steps (torch's).

        lr_t = η_min + (lr_0 - η_min) (1 + cos(π T_cur / T_i)) / 2

    T_i is the length of the current cycle, T_cur the steps since its restart.
    """

    def __init__(self, optimizer: Optimizer, T_0: int, T_mult: int = 1, eta_min: float = 0.0,
                 last_epoch: int = -1):
        _check_warm_restarts(T_0, T_mult, eta_min, torch_style=True)
        self.T_0, self.T_mult, self.eta_min = T_0, T_mult, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [warm_restarts_lr(self.last_epoch, lr, self.T_0, self.T_mult, self.eta_min)
                for lr in self.base_lrs]


class OneCycleLR(LRScheduler):
    """The one-cycle policy, ``one_cycle_lr`` for each group (torch's OneCycleLR with
    ``cycle_momentum=False``: only the learning rate cycles here).

    ``max_lr`` is the peak (a number, or one per group); like torch, the scheduler sets each
    group's starting rate to ``max_lr / div_factor``, whatever the optimizer had. Call
    ``step()`` after every batch, ``total_steps`` times in all.
    """

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int, pct_start: float = 0.3,
                 anneal_strategy: str = "cos", div_factor: float = 25.0,
                 final_div_factor: float = 1e4, last_epoch: int = -1):
        _check_one_cycle(total_steps, pct_start, div_factor, final_div_factor, anneal_strategy,
                         torch_style=True)
        groups = optimizer.param_groups
        self.max_lrs = list(max_lr) if isinstance(max_lr, list | tuple) else [max_lr] * len(groups)
        _require(len(self.max_lrs) == len(groups), True,
                 f"expected {len(groups)} values for max_lr, got {len(self.max_lrs)}", "max_lr",
                 max_lr, "")
        self.total_steps, self.pct_start, self.anneal_strategy = total_steps, pct_start, \
            anneal_strategy
        self.div_factor, self.final_div_factor = div_factor, final_div_factor
        if last_epoch == -1:
            for group, peak in zip(groups, self.max_lrs, strict=True):
                group["initial_lr"] = peak / div_factor
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        if self.last_epoch > self.total_steps:
            raise ValueError(f"Tried to step {self.last_epoch} times. The specified number of "
                             f"total steps is {self.total_steps}")
        return [one_cycle_lr(self.last_epoch, peak, self.total_steps, self.pct_start,
                             self.div_factor, self.final_div_factor, self.anneal_strategy)
                for peak in self.max_lrs]
