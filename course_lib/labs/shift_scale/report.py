"""Research lab 09: the results in words and tables, in the course language.

Everything a student reads about our runs comes from here, computed from the records, so that
no number in the notebook is typed by hand:

* ``summary_table(summary)``: one row per variant (learning rate chosen on validation;
  validation, test and training error; the overfitting gap; the steps to the plain net's final
  training error), shown as an HTML table in Jupyter (``Table``);
* ``verdict(summary)``: every variant ranked by test error, the best new one against both
  baselines (none and batch norm) in percentage points, and the size of the noise;
* ``verdict_table({"quick": ..., "full": ...})``: the four conclusions of the thesis against
  each experiment, quick and full profile side by side; ``cached_summaries(profile)`` reads a
  profile's summaries without training, when all its runs are cached;
* ``order_table`` / ``order_verdict``: the thesis' order of the layers (shift, then scale)
  against the other order (scale, then shift), our extension.

Numbers follow the language (``i18n.format_number`` / ``format_percent``): decimal comma in
sk, sr and ru, a no-break space before ``%``.
"""

from __future__ import annotations

import html
import math
import statistics

from ...i18n import format_number, format_percent, t
from . import analysis, runner


def percent(value: float, lang: str | None = None, digits: int = 1) -> str:
    """``value`` (a fraction) as a percentage in the language's style, e.g. ``6,1 %`` in sk."""
    return format_percent(value, digits, lang)


def points(value: float, lang: str | None = None) -> str:
    """A difference of two error rates in percentage points, e.g. ``2,4`` in sk."""
    return format_number(100 * value, ".1f", lang)


def numbers(values, lang: str | None = None, spec: str = ".2f") -> str:
    """``values`` in the language's number format, separated by semicolons (a comma is the
    decimal sign in sk, sr and ru): ``0,91; 0,76``."""
    return "; ".join(format_number(v, spec, lang) for v in values)


def _lr(lr: float, lang: str | None) -> str:
    return format_number(lr, "g", lang)


def _signed(value: float, lang: str | None) -> str:
    """A signed percentage: ``+4,1 %``, ``−0,3 %``."""
    return ("+" if value >= 0 else "−") + percent(abs(value), lang)


class Table:
    """A result table: ``header`` and ``rows`` of strings. Shown as an HTML table in Jupyter
    (``_repr_html_``), as aligned text by ``str``; ``show()`` does whichever fits."""

    def __init__(self, header: list[str], rows: list[list[str]], caption: str = ""):
        self.header, self.rows, self.caption = header, rows, caption

    def __str__(self) -> str:
        lines = [self.header, *self.rows]
        widths = [max(len(line[i]) for line in lines) for i in range(len(self.header))]
        text = "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True))
                         for line in lines)
        return f"{self.caption}\n{text}" if self.caption else text

    def _repr_html_(self) -> str:
        def cells(tag, line):
            return "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in line)

        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        body = "".join(f"<tr>{cells('td', line)}</tr>" for line in self.rows)
        return f"<table>{caption}<tr>{cells('th', self.header)}</tr>{body}</table>"

    def show(self) -> None:
        """Display the table (HTML) in a notebook, print it elsewhere."""
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            display(self)
        else:
            print(self)


def summary_table(summary_: dict, lang: str | None = None) -> Table:
    """One row per variant of ``summary(records)``: the learning rate chosen on validation,
    validation, test and training error, the gap (test - training) and the steps to the plain
    net's final training error (``-``: never); a variant with diverged runs says how many."""
    header = [t(f"experiments.column.{c}", lang=lang) for c in
              ("variant", "lr", "val_error", "test_error", "train_error", "gap", "steps")]
    rows = []
    for variant, row in summary_["variants"].items():
        name = analysis.variant_label(variant, lang)
        if row["diverged"]:
            name += " " + t("experiments.diverged_runs", lang=lang, count=row["diverged"],
                            runs=row["runs"])
        rows.append([name, _lr(row["lr"], lang), percent(row["val_error"], lang),
                     percent(row["test_error"], lang), percent(row["train_error"], lang),
                     _signed(row["gap"], lang),
                     "-" if row["steps_to"] is None else str(row["steps_to"])])
    return Table(header, rows)


def standard_error(error: float, n: int) -> float:
    """The standard error ``sqrt(p (1 - p) / n)`` of an error rate ``p`` measured on ``n``
    examples."""
    return math.sqrt(error * (1 - error) / n)


def verdict(summary_: dict, lang: str | None = None) -> str:
    """The comparison of one experiment in words, every variant named: all of them ranked by
    test error, then the best new variant against the plain net and against batch norm, and
    the size of the noise (the standard error of one run's test error)."""
    rows = summary_["variants"]
    ranking = sorted(rows, key=lambda v: rows[v]["test_error"])
    ranked = (f"{analysis.variant_label(v, lang)} {percent(rows[v]['test_error'], lang)}"
              for v in ranking)
    parts = [t("experiments.verdict_ranking", lang=lang, ranking=", ".join(ranked))]
    best = summary_["best_new"]
    if best is not None:
        against = [_against(rows[best]["test_error"], rows[base]["test_error"],
                            analysis.variant_label(base, lang), lang)
                   for base in ("none", "batch_norm") if base in rows]
        parts.append(t("experiments.verdict_best_new", lang=lang,
                       best=analysis.variant_label(best, lang), against=t(
                           "experiments.and", lang=lang).join(against)))
    typical = statistics.mean(row["test_error"] for row in rows.values())
    parts.append(t("experiments.verdict_noise", lang=lang, n=summary_["n_test"],
                   se=points(standard_error(typical, summary_["n_test"]), lang)))
    return " ".join(parts)


def _against(error: float, other: float, name: str, lang: str | None) -> str:
    if round(100 * error, 1) == round(100 * other, 1):
        return t("experiments.as_good_as", lang=lang, name=name)
    key = "experiments.better_than" if error < other else "experiments.worse_than"
    return t(key, lang=lang, name=name, points=points(abs(error - other), lang))


def verdict_table(summaries: dict[str, dict[int, dict]], lang: str | None = None) -> Table:
    """One row per claim of the thesis, one column per experiment; ``summaries`` maps a
    profile name (``"quick"``, ``"full"``) to ``{experiment: summary}``. Each cell is ``yes`` /
    ``no`` (``-`` where the experiment cannot tell), one word per profile, ``quick / full``."""
    profiles = list(summaries)
    numbers = list(next(iter(summaries.values())))
    head = [t("experiments.claim", lang=lang), t("experiments.thesis", lang=lang),
            *(f"{t('experiments.experiment', lang=lang)} {n}" for n in numbers)]

    def word(value):
        return "-" if value is None else t(f"experiments.{'yes' if value else 'no'}", lang=lang)

    rows = [[t(f"experiments.claims.{claim}", lang=lang), word(thesis),
             *(" / ".join(word(summaries[p][n]["conclusions"][claim]) for p in profiles)
               for n in numbers)]
            for claim, thesis in analysis.THESIS_CONCLUSIONS.items()]
    caption = t("experiments.verdict_caption", lang=lang, profiles=" / ".join(profiles))
    return Table(head, rows, caption)


def cached_summaries(profile: str) -> dict[int, dict] | None:
    """``{experiment: summary}`` of ``profile`` from the cached runs (nothing is trained), or
    None when some run of the six experiments is not cached."""
    found = {}
    for number in analysis.EXPERIMENTS:
        configs = analysis.experiment_configs(number, profile, echo=lambda _: None)
        records = runner.load_runs(configs)
        if len(records) < len(configs):
            return None
        found[number] = analysis.summary(records)
    return found


def data_used(records_by_experiment: dict[int, list[dict]], lang: str | None = None) -> str:
    """Which data the numbers come from: one line per dataset, with its three parts' sizes
    and the experiments that use it."""
    by_dataset: dict[str, list[int]] = {}
    first = {}
    for number, records in records_by_experiment.items():
        by_dataset.setdefault(records[0]["dataset"], []).append(number)
        first.setdefault(records[0]["dataset"], records[0])
    return "\n".join(
        t("experiments.data_line", lang=lang, dataset=t(f"experiments.dataset.{name}", lang=lang),
          n_train=r["n_train"], n_val=r["n_val"], n_test=r["n_test"],
          experiments=", ".join(map(str, numbers)))
        for (name, numbers), r in ((item, first[item[0]]) for item in by_dataset.items()))


def profile_data(profile: str, lang: str | None = None) -> str:
    """The datasets ``profile`` trains on, e.g. "quick: MNIST sample, 14 x 14 (10 classes);
    pairs of MNIST digits, ... (100 classes)"."""
    sizes = analysis.SIZES[analysis.sizes_name(profile)]
    return t("experiments.profile_data", lang=lang, profile=profile,
             ten=t(f"experiments.dataset.{sizes[10]['dataset']}", lang=lang),
             hundred=t(f"experiments.dataset.{sizes[100]['dataset']}", lang=lang))


def order_summaries(thesis_records, other_records) -> dict[str, dict]:
    """The summary rows of layerwise shift+scale in both orders: ``{"shift_scale": row,
    "scale_shift": row}`` (each at the learning rate chosen on validation)."""
    return {records[0]["order"]: analysis.summary(records)["variants"]["shift_scale_layer"]
            for records in (thesis_records, other_records)}


def order_table(thesis_records, other_records, lang: str | None = None) -> Table:
    """One row per order of the two layers, columns as in ``summary_table``."""
    rows = order_summaries(thesis_records, other_records)
    header = [t(f"experiments.column.{c}", lang=lang) for c in
              ("order", "lr", "val_error", "test_error", "train_error", "gap")]
    return Table(header, [[t(f"experiments.order.{order}", lang=lang), _lr(row["lr"], lang),
                           percent(row["val_error"], lang), percent(row["test_error"], lang),
                           percent(row["train_error"], lang), _signed(row["gap"], lang)]
                          for order, row in rows.items()])


def order_verdict(thesis_records, other_records, lang: str | None = None) -> str:
    """Which order has the lower test error, by how many percentage points, and the noise."""
    rows = order_summaries(thesis_records, other_records)
    thesis, other = rows["shift_scale"]["test_error"], rows["scale_shift"]["test_error"]
    n = thesis_records[0]["n_test"]
    return " ".join([
        t("experiments.order_verdict", lang=lang,
          order=t("experiments.order_formula."
                  + ("shift_scale" if thesis <= other else "scale_shift"), lang=lang),
          points=points(abs(thesis - other), lang)),
        t("experiments.verdict_noise", lang=lang, n=n,
          se=points(standard_error((thesis + other) / 2, n), lang))])
