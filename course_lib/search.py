"""Random hyper-parameter search on log scales, and coarse-to-fine narrowing.

    space = {"lr": LogUniform(1e-6, 1e-1), "reg": LogUniform(1e-5, 1e3)}
    results = coarse_to_fine(objective, space, rounds=2, n_trials=20, keep_top=5)
    results.best, results.table(), results.plot(x="lr", y="reg")

``objective(**params)`` trains a model for a short while and returns its validation accuracy
(or a dict with ``"val_acc"`` and any other numbers to keep). A learning rate or a
regularization strength acts multiplicatively, so it is sampled log-uniformly::

    log x ~ Uniform(log low, log high)   <=>   x = exp(u),  u ~ U(log low, log high)

Each trial prints one line, as in the lecture: ``val acc: 0.527, lr: 5.34e-04, reg: 4.10e-01,
(0 / 100)``. Coarse-to-fine repeats the search with every range narrowed to the span of the
best ``keep_top`` results of the round before.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial

from . import validation as check
from .i18n import CourseError, format_number, list_separator, t
from .tables import Table


def _finite(*values) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
               for v in values)


@dataclass(frozen=True)
class LogUniform:
    """``exp(U(log low, log high))``: every factor of ten in [low, high] is equally likely."""

    low: float
    high: float

    def __post_init__(self):
        if not (_finite(self.low, self.high) and 0 < self.low <= self.high):
            raise CourseError("search.log_bounds", low=self.low, high=self.high)

    def sample(self, rng: random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def narrow(self, values: Sequence[float]) -> LogUniform:
        return LogUniform(min(values), max(values))


@dataclass(frozen=True)
class Uniform:
    """``U(low, high)``: for parameters that act additively, like a dropout probability."""

    low: float
    high: float

    def __post_init__(self):
        if not (_finite(self.low, self.high) and self.low <= self.high):
            raise CourseError("search.bounds", low=self.low, high=self.high)

    def sample(self, rng: random.Random) -> float:
        return rng.uniform(self.low, self.high)

    def narrow(self, values: Sequence[float]) -> Uniform:
        return Uniform(min(values), max(values))


@dataclass(frozen=True)
class Choice:
    """One of ``options``, each equally likely (batch size, activation, optimizer, ...)."""

    options: tuple

    def __init__(self, *options):
        if len(options) == 1 and isinstance(options[0], list | tuple):
            options = tuple(options[0])
        if not options:
            raise CourseError("search.empty_choice")
        object.__setattr__(self, "options", tuple(options))

    def sample(self, rng: random.Random):
        return rng.choice(self.options)

    def narrow(self, values: Sequence) -> Choice:
        return Choice(*[option for option in self.options if option in values])


def format_value(value, lang: str | None = None) -> str:
    """``5.34e-04`` for floats (as in the lecture's log; ``5,34e-04`` in sk, sr, ru), ``str``
    for the rest."""
    return format_number(value, ".2e", lang) if isinstance(value, float) else str(value)


def _score(row: dict) -> float:
    """Sort key: a NaN accuracy (a diverged run) counts as the worst."""
    value = row["val_acc"]
    return -math.inf if math.isnan(value) else value


class Results(Sequence):
    """Trials as rows ``{"val_acc": ..., <params>, "trial": i, "round": r}``, best first."""

    def __init__(self, rows: list[dict], space: dict, lang: str | None = None,
                 spaces: list[dict] | None = None):
        self.rows = sorted(rows, key=_score, reverse=True)
        self.space, self.lang, self.spaces = space, lang, spaces or [space]

    def __getitem__(self, index):
        return self.rows[index]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def best(self) -> dict:
        """The row with the highest validation accuracy."""
        return self.rows[0]

    def _columns(self) -> list[str]:
        names = ["val_acc", *self.space]
        return names + [key for key in self.rows[0] if key not in names] if self.rows else names

    def _header(self, name: str, lang: str | None) -> str:
        """The column's label: the catalog's for the accuracy, the trial and the round, the
        hyper-parameter's own name for the rest."""
        key = {"val_acc": "val_acc", "trial": "col_trial", "round": "col_round"}.get(name)
        return t(f"search.{key}", lang=lang or self.lang) if key else name

    def table(self, lang: str | None = None, top: int | None = None) -> Table:
        """The ``top`` best rows (all by default) as a ``tables.Table``: HTML where the last
        expression of a cell or ``display`` shows it, aligned text under ``print``."""
        lang = lang or self.lang
        columns = self._columns()
        formats = {index: ".3f" if name == "val_acc" else partial(format_value, lang=lang)
                   for index, name in enumerate(columns)}
        return Table([[row.get(name, "") for name in columns] for row in self.rows[:top]],
                     [self._header(name, lang) for name in columns], formats, lang=lang)

    def __str__(self) -> str:
        return str(self.table())

    def _repr_html_(self) -> str:
        return self.table().to_html()

    def plot(self, x: str = "lr", y: str | None = "reg", lang: str | None = None, ax=None):
        """Scatter of the trials over ``x`` and ``y`` coloured by validation accuracy.

        Axes of ``LogUniform`` parameters are logarithmic; the best trial gets a star. Without
        ``y`` the accuracy itself goes on the vertical axis. Returns the matplotlib Axes.
        """
        import matplotlib.pyplot as plt

        lang = lang or self.lang
        for name in (x, y):
            if name is not None and name not in self.space:
                raise CourseError("search.unknown_param", lang=lang, name=name,
                                  known=", ".join(self.space))
        ax = ax or plt.subplots()[1]
        y_name = y or "val_acc"
        xs = [row[x] for row in self.rows]
        ys = [row[y_name] for row in self.rows]
        points = ax.scatter(xs, ys, c=[row["val_acc"] for row in self.rows], cmap="viridis")
        ax.scatter([self.best[x]], [self.best[y_name]], marker="*", s=250, c="red",
                   label=t("search.best", lang=lang))
        ax.figure.colorbar(points, ax=ax, label=t("search.val_acc", lang=lang))
        for name, set_scale in ((x, ax.set_xscale), (y, ax.set_yscale)):
            if isinstance(self.space.get(name), LogUniform):
                set_scale("log")
        ax.set_xlabel(x)
        ax.set_ylabel(self._header(y_name, lang))
        ax.set_title(t("search.plot_title", lang=lang, n=len(self)))
        ax.legend()
        return ax


def _run(objective: Callable, params: dict, lang: str | None) -> dict:
    result = objective(**params)
    extra = dict(result) if isinstance(result, dict) else {"val_acc": result}
    score = extra.pop("val_acc", None)
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise CourseError("search.bad_result", lang=lang, result=result)
    return {"val_acc": float(score), **params, **extra}


def _check_space(space: dict, lang: str | None) -> None:
    """``space`` must map at least one name to a LogUniform, Uniform or Choice."""
    if not isinstance(space, dict) or not space or not all(
            isinstance(dist, LogUniform | Uniform | Choice) for dist in space.values()):
        raise CourseError("search.bad_space", lang=lang, space=space)


def _trial_line(row: dict, space: dict, index: int, n: int, lang: str | None) -> str:
    params = list_separator(lang).join(f"{name}: {format_value(row[name], lang)}" for name in space)
    return t("search.trial", lang=lang, val_acc=row["val_acc"], params=params, i=index, n=n)


def _search(objective: Callable, space: dict, n_trials: int, rng: random.Random,
            verbose: bool, lang: str | None, round_index: int = 1) -> list[dict]:
    rows = []
    for index in range(n_trials):
        params = {name: dist.sample(rng) for name, dist in space.items()}
        row = {**_run(objective, params, lang), "trial": index, "round": round_index}
        rows.append(row)
        if verbose:
            print("  " * (round_index - 1) + _trial_line(row, space, index, n_trials, lang))
    return rows


def random_search(objective: Callable, space: dict, n_trials: int, seed: int = 0,
                  verbose: bool = True, lang: str | None = None) -> Results:
    """``n_trials`` independent draws from ``space``, each evaluated by ``objective(**params)``.

    ``space`` maps a name to ``LogUniform``, ``Uniform`` or ``Choice``. Draws come from a
    private ``random.Random(seed)``, so the search is reproducible and leaves torch's generator
    alone. Returns ``Results``, best first.
    """
    _check_space(space, lang)
    check.positive_int("n_trials", n_trials, lang)
    rows = _search(objective, space, n_trials, random.Random(seed), verbose, lang)
    return Results(rows, space, lang)


def narrow(space: dict, results: Results, keep_top: int) -> dict:
    """``space`` with every range shrunk to the span of the ``keep_top`` best results."""
    top = results[:keep_top]
    return {name: dist.narrow([row[name] for row in top]) for name, dist in space.items()}


def describe_space(space: dict, lang: str | None = None) -> str:
    """``lr ∈ [1.00e-06, 1.00e-01] (log), ...`` for the round headers.

    With a decimal comma (sk, sr, ru) the bounds are separated by a semicolon:
    ``lr ∈ [1,00e-06; 1,00e-01] (log); ...``.
    """
    between, parts = list_separator(lang), []
    for name, dist in space.items():
        if isinstance(dist, Choice):
            parts.append(f"{name} ∈ {{{between.join(map(str, dist.options))}}}")
        else:
            scale = " (log)" if isinstance(dist, LogUniform) else ""
            parts.append(f"{name} ∈ [{format_value(float(dist.low), lang)}{between}"
                         f"{format_value(float(dist.high), lang)}]{scale}")
    return between.join(parts)


def coarse_to_fine(objective: Callable, space: dict, rounds: int = 2, n_trials: int = 20,
                   keep_top: int = 5, seed: int = 0, verbose: bool = True,
                   lang: str | None = None) -> Results:
    """``rounds`` random searches, each in the ranges of the best ``keep_top`` of the one before.

    Round 1 samples ``space``; round r+1 samples ``narrow(space_r, results_r, keep_top)``, so
    every range lies inside the one before. Lines of later rounds are indented. Returns all
    trials (column ``round``), best first; ``results.spaces`` lists the space of each round.
    """
    _check_space(space, lang)
    check.positive_int("rounds", rounds, lang)
    check.positive_int("n_trials", n_trials, lang)
    if isinstance(keep_top, bool) or not isinstance(keep_top, int) or keep_top < 1:
        raise CourseError("search.keep_top", lang=lang, keep_top=keep_top)
    rng, rows, spaces = random.Random(seed), [], [space]
    for round_index in range(1, rounds + 1):
        current = spaces[-1]
        if verbose:
            print(t("search.round", lang=lang, round=round_index, rounds=rounds,
                    space=describe_space(current, lang)))
        found = _search(objective, current, n_trials, rng, verbose, lang, round_index)
        rows += found
        if round_index < rounds:
            spaces.append(narrow(current, Results(found, current), keep_top))
    return Results(rows, space, lang, spaces)
