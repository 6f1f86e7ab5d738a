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

from ...i18n import format_number, format_numbers, format_percent, t
from . import analysis, runner


def percent(value: float, lang: str | None = None, digits: int = 1) -> str:
    """``value`` (a fraction) as a percentage in the language's style, e.g. ``6,1 %`` in sk."""
    return format_percent(value, digits, lang)


def points(value: float, lang: str | None = None) -> str:
    """A difference of two error rates in percentage points, e.g. ``2,4`` in sk."""
    return format_number(100 * value, ".1f", lang)


def numbers(values, lang: str | None = None, spec: str = ".2f") -> str:
    """``values`` in the language's number format (``i18n.format_numbers``): ``0,91; 0,76``."""
    return format_numbers(values, spec, lang)


def _lr(lr: float, lang: str | None) -> str:
    return format_number(lr, "g", lang)


def _signed(value: float, lang: str | None) -> str:
    """A signed percentage: ``+4,1 %``, ``−0,3 %``."""
    return ("+" if value >= 0 else "−") + percent(abs(value), lang)


def _signed_points(value: float, lang: str | None) -> str:
    """A signed difference of two error rates in percentage points: ``+10,6``, ``−0,3``."""
    return ("+" if value >= 0 else "−") + points(abs(value), lang)


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


def regularization_summaries(plain_records, decay_records, dropout_records) -> dict[str, dict]:
    """The summary rows (``analysis.summary``) behind the examiner's question on stronger
    regularization, each at its learning rate chosen on validation, with ``weight_decay``,
    ``dropout`` and ``variant`` added: ``none`` and ``batch_norm`` (the baselines) and
    ``shift_scale_layer`` of ``plain_records`` (experiment 5), one row ``weight_decay=<lambda>``
    of layerwise shift+scale per coefficient in ``decay_records``, and ``dropout``, layerwise
    shift+scale of ``dropout_records`` (experiment 6: the same net and task with dropout)."""
    def row(records, variant="shift_scale_layer"):
        found = [r for r in records if r["variant"] == variant]
        return {**analysis.summary(found)["variants"][variant], "variant": variant,
                "weight_decay": found[0].get("weight_decay", 0.0),
                "dropout": found[0]["dropout"]}

    rows = {v: row(plain_records, v) for v in ("none", "batch_norm", "shift_scale_layer")}
    for decay in sorted({r["weight_decay"] for r in decay_records}):
        rows[f"weight_decay={decay:g}"] = row([r for r in decay_records
                                              if r["weight_decay"] == decay])
    rows["dropout"] = row(dropout_records)
    return rows


def chosen_decay(rows: dict[str, dict]) -> str:
    """The key of the weight decay row with the lowest validation error: the coefficient
    chosen on validation data (the test part plays no part)."""
    return min((k for k in rows if k.startswith("weight_decay=")),
               key=lambda k: rows[k]["val_error"])


def _regularization(row: dict, lang: str | None) -> str:
    if row["weight_decay"]:
        return t("experiments.regularizer.weight_decay", lang=lang,
                 decay=format_number(row["weight_decay"], "g", lang))
    if row["dropout"]:
        return t("experiments.regularizer.dropout", lang=lang,
                 p=format_number(row["dropout"], "g", lang))
    return t("experiments.regularizer.none", lang=lang)


def _regularized_label(row: dict, lang: str | None) -> str:
    """The variant's name, with its regularization for layerwise shift+scale."""
    name = analysis.variant_label(row["variant"], lang)
    if row["weight_decay"] or row["dropout"]:
        return f"{name}, {_regularization(row, lang)}"
    if row["variant"] == "shift_scale_layer":
        return f"{name}, {t('experiments.regularizer.without', lang=lang)}"
    return name


def _listed(items: list[str], lang: str | None) -> str:
    """``a, b and c`` in the language (``experiments.and`` before the last item)."""
    return t("experiments.and", lang=lang).join([", ".join(items[:-1]), items[-1]]
                                                if len(items) > 1 else items)


def regularization_table(rows: dict[str, dict], lang: str | None = None) -> Table:
    """One row per entry of ``regularization_summaries``: variant, regularization, the
    learning rate chosen on validation, validation, test and training error, the gap."""
    header = [t(f"experiments.column.{c}", lang=lang) for c in
              ("variant", "regularization", "lr", "val_error", "test_error", "train_error", "gap")]
    return Table(header, [
        [analysis.variant_label(row["variant"], lang), _regularization(row, lang),
         _lr(row["lr"], lang), percent(row["val_error"], lang), percent(row["test_error"], lang),
         percent(row["train_error"], lang), _signed(row["gap"], lang)]
        for row in rows.values()])


def regularization_verdict(rows: dict[str, dict], n_test: int, lang: str | None = None) -> str:
    """The weight decay chosen on validation, its test error against every other row (the
    plain variant, both baselines and dropout), its overfitting gap against the plain
    variant's, and the noise (the standard error of one run at the mean test error of the
    chosen and the plain variant)."""
    key = chosen_decay(rows)
    chosen, plain = rows[key], rows["shift_scale_layer"]
    against = [_against(chosen["test_error"], row["test_error"],
                        _regularized_label(row, lang), lang)
               for other, row in rows.items() if not other.startswith("weight_decay=")]
    typical = (chosen["test_error"] + plain["test_error"]) / 2
    return " ".join([
        t("experiments.regularization_choice", lang=lang,
          decay=format_number(chosen["weight_decay"], "g", lang),
          tried=numbers((r["weight_decay"] for k, r in rows.items()
                         if k.startswith("weight_decay=")), lang, "g"),
          val=percent(chosen["val_error"], lang), plain_val=percent(plain["val_error"], lang)),
        t("experiments.regularization_against", lang=lang,
          decay=format_number(chosen["weight_decay"], "g", lang),
          against=_listed(against, lang)),
        t("experiments.regularization_gap", lang=lang, gap=_signed_points(chosen["gap"], lang),
          plain=_signed_points(plain["gap"], lang),
          none=_signed_points(rows["none"]["gap"], lang)),
        t("experiments.verdict_noise", lang=lang, n=n_test,
          se=points(standard_error(typical, n_test), lang))])


def centring_report(results_by_variant: dict[str, list[dict]], experiment_1,
                    lang: str | None = None) -> str:
    """One line per variant: how closely the learned shifts of its runs (``results_by_variant``,
    ``analysis.shift_means`` of each) cancel their inputs' means after the ReLUs (correlation,
    slope, share; ``analysis.centring``) and how many steps the variant took in experiment 1
    (``experiment_1``: its records) to reach the plain net's final training error."""
    rows = analysis.summary(experiment_1)["variants"]
    lines = []
    for variant, results in results_by_variant.items():
        stats, steps = analysis.centring(results), rows[variant]["steps_to"]
        lines.append(t("experiments.centring", lang=lang,
                       variant=analysis.variant_label(variant, lang), units=stats["units"],
                       runs=len(results), r=format_number(stats["r"], ".2f", lang),
                       slope=format_number(stats["slope"], ".2f", lang),
                       removed=percent(stats["removed"], lang, digits=0),
                       steps=t("experiments.never", lang=lang) if steps is None else steps))
    return "\n".join(lines)


def resnet_run(records, lang: str | None = None) -> str:
    """What the ResNet-20 runs are: stage widths, data, training examples and epochs, and
    whether they are the quick profile's small run or the full one (``analysis.RESNET_SIZES``)."""
    first = records[0]
    kind = next(name for name, sizes in analysis.RESNET_SIZES.items()
                if all(tuple(first[k]) == v if k == "widths" else first[k] == v
                       for k, v in sizes.items()))
    return t("experiments.resnet_run", lang=lang, widths=", ".join(map(str, first["widths"])),
             dataset=t(f"experiments.dataset.{first['dataset']}", lang=lang),
             n_train=first["n_train"], epochs=first["epochs"], runs=len(records),
             kind=t(f"experiments.resnet_kind.{'quick' if kind == 'quick' else 'full'}",
                    lang=lang))
