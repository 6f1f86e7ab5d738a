"""Reading a merging comparison honestly: is one method better than another beyond the spread?

``baselines.summarize`` gives, per method, the ``mean`` and the sample standard deviation
``std`` of a metric over seeds. With the improvement of ``method`` over ``rival``::

    diff   = rival.mean - method.mean     for a loss (lower is better)
    diff   = method.mean - rival.mean     for an accuracy (higher is better)
    spread = max(method.std, rival.std)

the verdict is ``"better"`` when ``diff > spread``, ``"worse"`` when ``diff < -spread``, else
``"tie"`` (the difference is within the seed-to-seed spread); ``"single"`` when either method
has fewer than two runs, where no spread can be measured. This is a rule of thumb for a
handful of seeds, not a significance test.
"""

from __future__ import annotations

from collections.abc import Sequence

from ...i18n import CourseError


def verdict(summary: Sequence[dict], method: str, rival: str) -> tuple[str, float, float]:
    """``(verdict, diff, spread)`` for ``method`` against ``rival`` in a ``summarize`` table;
    ``diff > 0`` means ``method`` did better on average."""
    rows = {row["method"]: row for row in summary}
    for name in (method, rival):
        if name not in rows:
            raise CourseError("lecture10.unknown_row", name=name, known=", ".join(rows))
    mine, theirs = rows[method], rows[rival]
    diff = theirs["mean"] - mine["mean"]
    if mine["metric"].endswith("acc"):
        diff = -diff
    spread = max(mine["std"], theirs["std"])
    if min(mine["n"], theirs["n"]) < 2:
        return "single", diff, spread
    if diff > spread:
        return "better", diff, spread
    if diff < -spread:
        return "worse", diff, spread
    return "tie", diff, spread
