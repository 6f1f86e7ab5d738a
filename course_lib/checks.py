"""Exercise checkers: run the student's function against the reference, explain the difference.

    course.check.sigmoid(sigmoid)        # in a notebook: a green or a red box

``Checker(lang)`` has one attribute per registered exercise. Checking calls the student's
function on a few seeded cases (positionally, with fresh copies of the inputs) and compares
each answer with the reference. The first problem is reported in the student's language: a
wrong type, shape or dtype, NaN/inf, or wrong values (largest error, where, the case's inputs),
with a hint. ``NotImplementedError`` means "not written yet"; any other exception is reported
by type, message and the line of the student's code, never as a traceback; parameters that do
not match the exercise's arguments are named as such. Every call has a time limit
(``Checker(time_limit=10.0)`` seconds), so an endless loop is reported instead of waited for,
and ``exit()`` or ``KeyboardInterrupt`` inside the student's code is reported as well. Checking
never raises: it returns a ``CheckResult`` (``.passed``, ``.message``).

New exercises register a reference with ``@exercise(name, cases=...)``, one module per notebook
in ``course_lib/exercises/`` (loaded by every ``Checker``); its hint is the catalog entry
``checks.hint.<name>`` unless ``hint=`` names another key.

Hints are graded, so that they lead before they give away: the first ``Checker.NUDGES`` (2)
failed attempts at an exercise get its nudge (``checks.nudge.<name>``: where to look, no
formula), later ones its full hint (the formula); ``course.check.hint(name)`` shows the full
hint whenever the student asks.
"""

from __future__ import annotations

import ctypes
import html
import math
import numbers
import signal
import sysconfig
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch

from .i18n import CourseError, catalog, check_language, get_language, t


@dataclass(frozen=True)
class Exercise:
    """A reference function, its test cases (``cases(generator) -> [{arg: value}]``) and
    the names of its outputs (one name, or one per element of a returned tuple)."""

    name: str
    reference: Callable
    cases: Callable[[torch.Generator], list[dict]]
    outputs: tuple[str, ...]
    atol: float
    rtol: float
    hint: str


EXERCISES: dict[str, Exercise] = {}


def exercise(name: str, cases: Callable, outputs=("out",), atol: float = 1e-8,
             rtol: float = 1e-6, hint: str | None = None):
    """Decorator registering ``reference`` as the solution of exercise ``name``.

    A result passes when ``|yours - correct| <= atol + rtol * |correct|`` everywhere.
    """

    def register(reference: Callable) -> Callable:
        EXERCISES[name] = Exercise(name, reference, cases, tuple(outputs), atol, rtol,
                                   hint or f"checks.hint.{name}")
        return reference

    return register


@dataclass
class CheckResult:
    """The verdict on one exercise; a notebook shows it as a green or a red box."""

    exercise: str
    passed: bool
    message: str
    hint: str = ""
    lang: str = "en"

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        mark = "✔" if self.passed else "✘"
        hint = f"\n{t('checks.hint_label', lang=self.lang)} {self.hint}" if self.hint else ""
        return f"{mark} {self.message}{hint}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        color, background = ("#2e7d32", "#e8f5e9") if self.passed else ("#c62828", "#ffebee")
        return (f'<div style="border-left: 6px solid {color}; background: {background}; '
                f'padding: 6px 10px; white-space: pre-wrap; font-family: sans-serif">'
                f"{html.escape(str(self))}</div>")


@dataclass(frozen=True)
class Hint:
    """The full hint of an exercise, asked for by name; a notebook shows it as a blue box."""

    exercise: str
    text: str
    lang: str = "en"

    def __str__(self) -> str:
        return f"{t('checks.graded.title', lang=self.lang, exercise=self.exercise)} {self.text}"

    __repr__ = __str__

    def _repr_html_(self) -> str:
        return ('<div style="border-left: 6px solid #1565c0; background: #e3f2fd; '
                'padding: 6px 10px; white-space: pre-wrap; font-family: sans-serif">'
                f"{html.escape(str(self))}</div>")


class Checker:
    """``Checker(lang).<exercise>(student_fn) -> CheckResult`` for every registered exercise."""

    NUDGES = 2
    """Failed attempts at an exercise that get its nudge; the next ones get its full hint."""

    def __init__(self, lang: str | None = None, seed: int = 0, time_limit: float = 10.0):
        from . import exercises

        exercises.load_all()
        self.lang = check_language(lang or get_language())
        self.seed = seed
        self.time_limit = time_limit
        self.failures: dict[str, int] = {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in EXERCISES:
            raise AttributeError(t("checks.unknown_exercise", lang=self.lang, name=name,
                                   known=", ".join(sorted(EXERCISES))))
        return partial(self.check, name)

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(EXERCISES))

    def hint(self, name: str) -> Hint:
        """The full hint of exercise ``name`` (its formula), whenever the student asks."""
        if name not in EXERCISES:
            raise CourseError("checks.unknown_exercise", lang=self.lang, name=name,
                              known=", ".join(sorted(EXERCISES)))
        return Hint(name, t(EXERCISES[name].hint, lang=self.lang), self.lang)

    def check(self, name: str, student_fn: Callable) -> CheckResult:
        """Run exercise ``name`` on ``student_fn``; the first problem found fails it."""
        ex = EXERCISES[name]
        cases = ex.cases(torch.Generator().manual_seed(self.seed))
        for number, case in enumerate(cases, start=1):
            expected = ex.reference(*_fresh(case).values())
            try:
                got = call_with_time_limit(student_fn, _fresh(case).values(), self.time_limit)
            except NotImplementedError:
                return self._fail(ex, "checks.not_implemented", "checks.hint_not_implemented")
            except TimeLimitExceeded:
                return self._fail(ex, "checks.timeout", "checks.hint_timeout", case=number,
                                  n=len(cases), seconds=self.time_limit)
            except SystemExit:
                return self._fail(ex, "checks.system_exit", "checks.hint_return")
            except KeyboardInterrupt:
                return self._fail(ex, "checks.interrupted", "")
            except Exception as error:  # the student's bug, reported instead of raised
                if isinstance(error, TypeError) and _raised_by_the_call(error):
                    return self._fail(ex, "checks.bad_call", "", args=", ".join(case),
                                      error=str(error).strip()[:300])
                return self._fail(ex, "checks.exception", "", **_describe_error(error))
            problem = _compare(expected, got, ex)
            if problem is not None:
                key, hint, fields = problem
                message = t(key, lang=self.lang, exercise=name, case=number, n=len(cases),
                            **fields)
                inputs = t("checks.inputs", lang=self.lang, inputs=_summarize(case))
                return CheckResult(name, False, f"{message}\n{inputs}",
                                   self._graded(ex, hint), self.lang)
        return CheckResult(name, True, t("checks.passed", lang=self.lang, exercise=name,
                                         n=len(cases)), lang=self.lang)

    def _graded(self, ex: Exercise, key: str) -> str:
        """Hint ``key`` for a wrong answer, counted as a failed attempt; for the exercise's own
        hint, its nudge while the attempts are at most ``NUDGES`` (when it has one)."""
        attempts = self.failures[ex.name] = self.failures.get(ex.name, 0) + 1
        nudge = catalog(self.lang).get(f"checks.nudge.{ex.name}")
        if key != ex.hint or nudge is None or attempts > self.NUDGES:
            return t(key, lang=self.lang)
        return f"{nudge}\n{t('checks.graded.more', lang=self.lang, exercise=ex.name)}"

    def _fail(self, ex: Exercise, key: str, hint: str, **fields) -> CheckResult:
        if key not in ("checks.not_implemented", "checks.interrupted"):
            self.failures[ex.name] = self.failures.get(ex.name, 0) + 1
        message = t(key, lang=self.lang, exercise=ex.name, **fields)
        return CheckResult(ex.name, False, message, t(hint, lang=self.lang) if hint else "",
                           self.lang)


def _fresh(case: dict) -> dict:
    """Copies of the inputs, so neither function sees the other's in-place changes."""
    return {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in case.items()}


class TimeLimitExceeded(BaseException):
    """Raised inside a checked function whose time is up. A BaseException, like
    KeyboardInterrupt, so that an ``except Exception`` in the student's code does not catch it."""


def call_with_time_limit(fn: Callable, args, seconds: float | None):
    """``fn(*args)``, interrupted by ``TimeLimitExceeded`` after ``seconds`` (None: no limit).

    In the main thread (a notebook's) a ``SIGALRM`` timer raises it, which also stops
    ``time.sleep`` and repeats every 0.1 s in case the code catches it; in any other thread
    (or without ``signal.setitimer``) a watchdog thread raises it asynchronously in the caller's
    thread, which interrupts Python code between two bytecodes.
    """
    if seconds is None:
        return fn(*args)
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
        return _call_with_alarm(fn, args, seconds)
    return _call_with_watchdog(fn, args, seconds)


def _call_with_alarm(fn: Callable, args, seconds: float):
    armed = [True]

    def expire(signum, frame):
        if armed[0]:
            raise TimeLimitExceeded

    previous = signal.signal(signal.SIGALRM, expire)
    outer = signal.setitimer(signal.ITIMER_REAL, seconds, 0.1)
    try:
        return fn(*args)
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, *outer)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)


def _call_with_watchdog(fn: Callable, args, seconds: float):
    caller, lock, finished, fired = ctypes.c_ulong(threading.get_ident()), threading.Lock(), \
        threading.Event(), []

    def watch():
        if not finished.wait(seconds):
            with lock:
                if not finished.is_set():
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        caller, ctypes.py_object(TimeLimitExceeded))
                    fired.append(True)

    watchdog = threading.Thread(target=watch, daemon=True)
    watchdog.start()
    try:
        return fn(*args)
    finally:
        with lock:
            finished.set()
        watchdog.join()
        if fired:  # raised already, or still pending: cancel it so that it hits nothing else
            ctypes.pythonapi.PyThreadState_SetAsyncExc(caller, None)


def _raised_by_the_call(error: TypeError) -> bool:
    """Whether the TypeError came from calling the function (parameters that do not match the
    arguments), not from a line inside it: no frame of the traceback lies outside this file."""
    here = Path(__file__).resolve()
    return all(Path(f.filename).resolve() == here
               for f in traceback.extract_tb(error.__traceback__))


_LIBRARIES = tuple(
    str(Path(p).resolve())
    for p in (*{sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")},
              Path(torch.__file__).parent, Path(__file__).parent)
)


def _describe_error(error: Exception) -> dict:
    """Type, message and the deepest line of the student's own code (not torch's, not ours)."""
    frames = traceback.extract_tb(error.__traceback__)
    theirs = [f for f in frames if not str(Path(f.filename).resolve()).startswith(_LIBRARIES)]
    frame = (theirs or frames)[-1]
    return {"error_type": type(error).__name__, "error": str(error).strip()[:300],
            "line": frame.lineno, "code": (frame.line or "").strip() or "…"}


def _compare(expected, got, ex: Exercise):
    """``None`` if ``got`` matches, else ``(message key, hint key, fields)`` of a problem."""
    if got is None:
        return "checks.returned_none", "checks.hint_return", {}
    if not isinstance(expected, tuple):
        return _compare_one(expected, got, ex.outputs[0], ex)
    if not isinstance(got, tuple | list) or len(got) != len(expected):
        count = len(got) if isinstance(got, tuple | list) else 1
        return "checks.wrong_count", "checks.hint_return", {
            "expected": len(expected), "names": ", ".join(ex.outputs), "got": count}
    for want, have, name in zip(expected, got, ex.outputs, strict=True):
        problem = _compare_one(want, have, name, ex)
        if problem is not None:
            return problem
    return None


def _compare_one(expected, got, output: str, ex: Exercise):
    if isinstance(expected, torch.Tensor):
        return _compare_tensor(expected, got, output, ex)
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if not isinstance(got, numbers.Real) or isinstance(got, bool):
        return "checks.wrong_type", "checks.hint_type", {
            "output": output, "expected": "float", "got": type(got).__name__}
    if not math.isfinite(got):
        return "checks.nonfinite", ex.hint, {"output": output, "count": 1, "total": 1}
    if abs(got - expected) > ex.atol + ex.rtol * abs(expected):
        return "checks.wrong_number", ex.hint, {
            "output": output, "got": got, "expected": expected, "error": abs(got - expected)}
    return None


def _compare_tensor(expected: torch.Tensor, got, output: str, ex: Exercise):
    if not isinstance(got, torch.Tensor):
        return "checks.wrong_type", "checks.hint_type", {
            "output": output, "expected": "torch.Tensor", "got": type(got).__name__}
    if got.shape != expected.shape:
        return "checks.wrong_shape", "checks.hint_shape", {
            "output": output, "got": tuple(got.shape), "expected": tuple(expected.shape)}
    if got.dtype != expected.dtype:
        return "checks.wrong_dtype", "checks.hint_dtype", {
            "output": output, "got": str(got.dtype), "expected": str(expected.dtype)}
    got = got.detach().cpu()
    bad = ~torch.isfinite(got) & torch.isfinite(expected)
    if bad.any():
        return "checks.nonfinite", ex.hint, {
            "output": output, "count": int(bad.sum()), "total": got.numel()}
    error = (got - expected).abs()
    if (error > ex.atol + ex.rtol * expected.abs()).any():
        flat = int(error.argmax())
        index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), got.shape))
        return "checks.wrong_values", ex.hint, {
            "output": output, "error": float(error.max()), "index": list(index),
            "got": float(got.flatten()[flat]), "expected": float(expected.flatten()[flat])}
    return None


def _summarize(case: dict) -> str:
    """``x: float64 (3, 4) in [-2.1, 3.0]; lr = 0.01``: enough to reproduce the case by hand."""
    parts = []
    for name, value in case.items():
        if isinstance(value, torch.Tensor) and value.numel() <= 6:
            shown = value.round(decimals=4) if value.is_floating_point() else value
            parts.append(f"{name} = {shown.tolist()}")
        elif isinstance(value, torch.Tensor):
            parts.append(f"{name}: {str(value.dtype).removeprefix('torch.')} "
                         f"{tuple(value.shape)} ∈ [{value.min():.3g}, {value.max():.3g}]")
        else:
            parts.append(f"{name} = {value}")
    return "; ".join(parts)


def _randn(gen: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=gen, dtype=torch.float64)


def _sigmoid_cases(gen):
    extremes = torch.tensor([-40.0, -5.0, 0.0, 5.0, 40.0], dtype=torch.float64)
    return [{"x": _randn(gen, 6, scale=3)}, {"x": _randn(gen, 3, 5, scale=3)}, {"x": extremes}]


@exercise("sigmoid", cases=_sigmoid_cases, outputs=("sigmoid(x)",))
def sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``sigma(x) = 1 / (1 + exp(-x))``, elementwise; any shape."""
    return 1 / (1 + torch.exp(-x))


def _relu_cases(gen):
    x = _randn(gen, 4, 6)
    x[0, :3] = 0.0
    return [{"dout": _randn(gen, 5), "x": _randn(gen, 5)}, {"dout": _randn(gen, 4, 6), "x": x}]


@exercise("relu_backward", cases=_relu_cases, outputs=("dx",))
def relu_backward(dout: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``dx = dout * [x > 0]`` (the derivative at 0 is taken as 0); dout, x, dx: same shape."""
    return dout * (x > 0)


def _softmax_cases(gen):
    large = torch.tensor([[1000.0, 1001.0, 999.0], [-1000.0, 0.0, 1000.0]], dtype=torch.float64)
    return [{"x": _randn(gen, 2, 3)}, {"x": _randn(gen, 4, 10, scale=4)}, {"x": large}]


@exercise("softmax", cases=_softmax_cases, outputs=("softmax(x)",))
def softmax(x: torch.Tensor) -> torch.Tensor:
    """Scores (N, C) -> probabilities (N, C): ``exp(x_ij - max_j x_ij) / sum_k exp(x_ik - max)``."""
    z = torch.exp(x - x.max(dim=1, keepdim=True).values)
    return z / z.sum(dim=1, keepdim=True)


def _sgd_momentum_cases(gen):
    return [
        {"w": _randn(gen, 5), "dw": _randn(gen, 5), "v": torch.zeros(5, dtype=torch.float64),
         "lr": 0.1, "momentum": 0.9},
        {"w": _randn(gen, 3, 4), "dw": _randn(gen, 3, 4), "v": _randn(gen, 3, 4),
         "lr": 0.01, "momentum": 0.99},
    ]


@exercise("sgd_momentum_step", cases=_sgd_momentum_cases, outputs=("w", "v"))
def sgd_momentum_step(w, dw, v, lr: float, momentum: float):
    """``v <- momentum * v + dw``, ``w <- w - lr * v``; returns the new ``(w, v)``."""
    v = momentum * v + dw
    return w - lr * v, v


def _adam_cases(gen):
    def case(shape, t, first_step):
        zeros = torch.zeros(shape, dtype=torch.float64)
        m = zeros if first_step else _randn(gen, *shape, scale=0.1)
        v = zeros if first_step else _randn(gen, *shape, scale=0.1) ** 2
        return {"w": _randn(gen, *shape), "dw": _randn(gen, *shape), "m": m, "v": v, "t": t,
                "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}

    return [case((5,), 1, True), case((3, 4), 7, False), case((2, 3), 100, False)]


@exercise("adam_step", cases=_adam_cases, outputs=("w", "m", "v"), atol=1e-10)
def adam_step(w, dw, m, v, t: int, lr: float, beta1: float, beta2: float, eps: float):
    """Adam with bias correction (``t`` counts steps from 1); returns ``(w, m, v)``::

    m <- beta1 m + (1 - beta1) dw,         v <- beta2 v + (1 - beta2) dw^2
    m_hat = m / (1 - beta1^t),             v_hat = v / (1 - beta2^t)
    w <- w - lr * m_hat / (sqrt(v_hat) + eps)
    """
    m = beta1 * m + (1 - beta1) * dw
    v = beta2 * v + (1 - beta2) * dw**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return w - lr * m_hat / (v_hat.sqrt() + eps), m, v


def _xavier_cases(gen):
    return [{"fan_in": 784, "fan_out": 256}, {"fan_in": 100, "fan_out": 10},
            {"fan_in": 3, "fan_out": 3}]


@exercise("xavier_std", cases=_xavier_cases, outputs=("std",))
def xavier_std(fan_in: int, fan_out: int) -> float:
    """Glorot/Xavier standard deviation ``sqrt(2 / (fan_in + fan_out))``."""
    return math.sqrt(2 / (fan_in + fan_out))
