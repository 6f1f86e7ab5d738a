"""Reading a merging comparison honestly: which method is better, beyond the spread over seeds?

``baselines.summarize`` gives, per method, the ``mean`` and the sample standard deviation
``std`` of a metric over seeds. With the improvement of ``method`` over ``rival``::

    diff   = rival.mean - method.mean     for a loss (lower is better)
    diff   = method.mean - rival.mean     for an accuracy (higher is better)
    spread = max(method.std, rival.std)

the verdict is ``"better"`` when ``diff > spread``, ``"worse"`` when ``diff < -spread``, else
``"tie"`` (the difference is within the seed-to-seed spread); ``"single"`` when either method
has fewer than two runs, where no spread can be measured. This is a rule of thumb for a
handful of seeds, not a significance test.

The sentences below are what the notebook prints under a table, in the course language:
``sentence`` says which of two methods is better, ``verdicts`` compares each merging method
with every other method of the same budget (all of ``baselines.EQUAL_BUDGET`` that the table
has), ``best`` names the best of them and those within its spread, ``joined_note`` says why
the gated joined model may beat the student pruned from it, and ``chance_note`` flags an
accuracy at or below chance.
"""

from __future__ import annotations

from collections.abc import Sequence

from ... import tables
from ...i18n import CourseError, format_number, format_percent, t
from .baselines import EQUAL_BUDGET, MERGING, table_cells


def verdict(summary: Sequence[dict], method: str, rival: str) -> tuple[str, float, float]:
    """``(verdict, diff, spread)`` for ``method`` against ``rival`` in a ``summarize`` table;
    ``diff > 0`` means ``method`` did better on average."""
    rows = _rows(summary)
    for name in (method, rival):
        if name not in rows:
            raise CourseError("lecture10.unknown_row", name=name, known=", ".join(rows))
    mine, theirs = rows[method], rows[rival]
    diff = theirs["mean"] - mine["mean"]
    if _accuracy(mine):
        diff = -diff
    spread = max(mine["std"], theirs["std"])
    if min(mine["n"], theirs["n"]) < 2:
        return "single", diff, spread
    if diff > spread:
        return "better", diff, spread
    if diff < -spread:
        return "worse", diff, spread
    return "tie", diff, spread


def _rows(summary: Sequence[dict]) -> dict[str, dict]:
    return {row["method"]: row for row in summary}


def _accuracy(row: dict) -> bool:
    return row["metric"].endswith("acc")


def value(row: dict, lang: str | None = None) -> str:
    """A row's mean as the table shows it: a percentage for an accuracy, else 4 decimals."""
    return format_percent(row["mean"], 2, lang) if _accuracy(row) else format_number(
        row["mean"], ".4f", lang)


def amount(x: float, accuracy: bool, lang: str | None = None) -> str:
    """A difference or spread: percentage points for accuracies, else 4 decimals."""
    if accuracy:
        return t("lecture10.points", lang=lang, value=100 * x)
    return format_number(x, ".4f", lang)


def _name(method: str, lang: str | None) -> str:
    return t(f"merging.method_{method}", lang=lang)


def sentence(summary: Sequence[dict], method: str, rival: str, lang: str | None = None) -> str:
    """The verdict of ``method`` against ``rival`` in words: which one is better and by how
    much, or that neither is beyond the spread, or that one seed gives no verdict."""
    outcome, diff, spread = verdict(summary, method, rival)
    rows = _rows(summary)
    accuracy = _accuracy(rows[method])
    if outcome in ("better", "worse"):
        win, lose = (method, rival) if outcome == "better" else (rival, method)
        return t("lecture10.verdict_better", lang=lang, winner=_name(win, lang),
                 loser=_name(lose, lang), win=value(rows[win], lang),
                 lose=value(rows[lose], lang), diff=amount(abs(diff), accuracy, lang),
                 spread=amount(spread, accuracy, lang))
    fields = {"method": _name(method, lang), "rival": _name(rival, lang),
              "mine": value(rows[method], lang), "theirs": value(rows[rival], lang),
              "diff": amount(abs(diff), accuracy, lang), "spread": amount(spread, accuracy, lang)}
    return t(f"lecture10.verdict_{outcome}", lang=lang, **fields)


def verdicts(summary: Sequence[dict], lang: str | None = None) -> list[str]:
    """One line per merging method of the table: its mean and every other method of the same
    budget in it, grouped by ``verdict`` (better than, within the spread of, worse than), or,
    from one seed, the values without a verdict."""
    rows = _rows(summary)
    present = [m for m in EQUAL_BUDGET if m in rows]
    lines = []
    for method in (m for m in MERGING if m in present):
        groups: dict[str, list[str]] = {"better": [], "tie": [], "worse": [], "single": []}
        for rival in present:
            if rival != method:
                named = f"{_name(rival, lang)} ({value(rows[rival], lang)})"
                groups[verdict(summary, method, rival)[0]].append(named)
        parts = [t(f"lecture10.versus_{k}", lang=lang, names=", ".join(v))
                 for k, v in groups.items() if v]
        lines.append(t("lecture10.versus", lang=lang, method=_name(method, lang),
                       value=value(rows[method], lang), parts="; ".join(parts)))
    return lines


def best(summary: Sequence[dict]) -> tuple[str, list[str]]:
    """``(method, ties)``: the method of ``EQUAL_BUDGET`` with the best mean, and the others
    whose verdict against it is a tie (or ``single``), in the table's order."""
    rows = _rows(summary)
    present = [m for m in EQUAL_BUDGET if m in rows]
    sign = -1 if _accuracy(rows[present[0]]) else 1
    top = min(present, key=lambda m: sign * rows[m]["mean"])
    ties = [m for m in present if m != top and verdict(summary, m, top)[0] in ("tie", "single")]
    return top, ties


def best_sentence(summary: Sequence[dict], lang: str | None = None) -> str:
    """``best`` in words."""
    top, ties = best(summary)
    row = _rows(summary)[top]
    if row["n"] < 2:
        return t("lecture10.best_single", lang=lang, method=_name(top, lang),
                 value=value(row, lang))
    if not ties:
        return t("lecture10.best_alone", lang=lang, method=_name(top, lang),
                 value=value(row, lang))
    return t("lecture10.best_ties", lang=lang, method=_name(top, lang), value=value(row, lang),
             ties=", ".join(_name(m, lang) for m in ties))


def joined_note(summary: Sequence[dict], lang: str | None = None) -> str | None:
    """Why the gated joined model may beat the error-driven student pruned from it: it has
    about four times the parameters of the hidden layers. None without both rows."""
    rows = _rows(summary)
    if "joined" not in rows or "error_driven" not in rows:
        return None
    joined, student = rows["joined"], rows["error_driven"]
    sign = -1 if _accuracy(joined) else 1
    key = "joined_better" if sign * joined["mean"] < sign * student["mean"] else "joined_worse"
    return t(f"lecture10.{key}", lang=lang, joined=value(joined, lang),
             student=value(student, lang), joined_params=joined.get("params") or 0,
             student_params=student.get("params") or 0, finetune=student["finetuning"])


def chance_note(summary: Sequence[dict], classes: int, lang: str | None = None) -> str | None:
    """A sentence naming the methods whose mean accuracy is at or below chance, ``1 /
    classes``; None when there are none (or the metric is a loss)."""
    low = [row["method"] for row in summary
           if _accuracy(row) and row["mean"] <= 1 / classes]
    if not low:
        return None
    return t("lecture10.below_chance", lang=lang, methods=", ".join(_name(m, lang) for m in low),
             chance=format_percent(1 / classes, 0, lang))


def lines(summary: Sequence[dict], lang: str | None = None,
          classes: int | None = None) -> list[str]:
    """What the notebook prints under a table: ``verdicts``, ``best_sentence`` and, where they
    apply, ``joined_note`` and ``chance_note`` (for ``classes`` classes)."""
    notes = [joined_note(summary, lang), chance_note(summary, classes, lang) if classes else None]
    return [*verdicts(summary, lang), best_sentence(summary, lang), *(n for n in notes if n)]


def show(summary: Sequence[dict], lang: str | None = None, classes: int | None = None) -> None:
    """Display the comparison table (``baselines.table``: HTML in Jupyter, text elsewhere) and
    print ``lines`` under it."""
    header, rows = table_cells(summary, lang)
    tables.show(rows, header, lang=lang)
    print("\n".join(lines(summary, lang, classes)))
