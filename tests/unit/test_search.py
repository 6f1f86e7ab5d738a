"""Random and coarse-to-fine search: log-uniform sampling, results, narrowing, localized output."""

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from course_lib.i18n import LANGUAGES, CourseError, format_number, t
from course_lib.search import (
    Choice,
    LogUniform,
    Results,
    Uniform,
    coarse_to_fine,
    describe_space,
    random_search,
)


def ks_statistic(samples, cdf):
    """Kolmogorov-Smirnov distance between the samples' empirical CDF and ``cdf``."""
    xs = sorted(samples)
    n = len(xs)
    return max(max((i + 1) / n - cdf(x), cdf(x) - i / n) for i, x in enumerate(xs))


def peaked(lr, reg):
    """A made-up validation accuracy, best at lr = 1e-3 and reg = 1e-2 (on log scales)."""
    return 0.6 - 0.05 * (math.log10(lr) + 3) ** 2 - 0.02 * (math.log10(reg) + 2) ** 2


SPACE = {"lr": LogUniform(1e-6, 1e-1), "reg": LogUniform(1e-5, 1e3)}


@given(st.floats(1e-12, 1e6), st.floats(1.0, 1e8), st.integers(0, 2**32))
def test_log_uniform_stays_within_bounds(low, factor, seed):
    dist, rng = LogUniform(low, low * factor), random.Random(seed)
    for _ in range(20):
        assert dist.low * (1 - 1e-12) <= dist.sample(rng) <= dist.high * (1 + 1e-12)


def test_log_uniform_is_uniform_in_the_logarithm():
    dist, rng = LogUniform(1e-6, 1e-1), random.Random(0)
    samples = [dist.sample(rng) for _ in range(2000)]
    low, high = math.log(1e-6), math.log(1e-1)
    critical = 1.95 / math.sqrt(len(samples))  # KS test at the 0.1 % level
    assert ks_statistic([math.log(s) for s in samples],
                        lambda x: (x - low) / (high - low)) < critical
    linear = ks_statistic(samples, lambda x: (x - 1e-6) / (1e-1 - 1e-6))
    assert linear > 10 * critical  # not uniform in the value itself: most draws are small
    assert sum(s < 1e-2 for s in samples) / len(samples) == pytest.approx(0.8, abs=0.03)


def test_uniform_and_choice():
    rng = random.Random(0)
    assert all(0.2 <= Uniform(0.2, 0.5).sample(rng) <= 0.5 for _ in range(100))
    draws = [Choice(16, 32, 64).sample(rng) for _ in range(600)]
    assert {draws.count(option) for option in (16, 32, 64)} <= set(range(150, 250))
    assert Choice([1, 2]) == Choice(1, 2)
    assert Choice("a", "b", "c").narrow(["c", "a"]) == Choice("a", "c")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_bad_ranges_are_explained(lang):
    from course_lib import i18n

    i18n.set_language(lang)
    try:
        with pytest.raises(CourseError, match="LogUniform") as error:
            LogUniform(0.0, 1.0)
        assert str(error.value) == t("search.log_bounds", lang=lang, low=0.0, high=1.0)
        with pytest.raises(CourseError):
            Uniform(2, 1)
        with pytest.raises(CourseError, match="Choice"):
            Choice()
    finally:
        i18n.set_language("en")
    with pytest.raises(CourseError) as error:
        coarse_to_fine(peaked, SPACE, keep_top=0, lang=lang)
    assert error.value.key == "search.keep_top"


def test_random_search_is_reproducible_and_sorted():
    calls = []

    def objective(lr, reg):
        calls.append((lr, reg))
        return peaked(lr, reg)

    results = random_search(objective, SPACE, n_trials=30, seed=3, verbose=False)
    assert len(calls) == len(results) == 30
    accuracies = [row["val_acc"] for row in results]
    assert accuracies == sorted(accuracies, reverse=True)
    assert results.best == results[0] and results.best["val_acc"] == max(accuracies)
    again = random_search(peaked, SPACE, n_trials=30, seed=3, verbose=False)
    assert again.rows == results.rows
    assert random_search(peaked, SPACE, n_trials=30, seed=4, verbose=False).rows != results.rows
    assert sorted(row["trial"] for row in results) == list(range(30))


def test_objective_may_return_extra_numbers_and_nan_sorts_last():
    outcomes = iter([0.3, math.nan, 0.5])

    def objective(p):
        return {"val_acc": next(outcomes), "train_acc": 0.9}

    results = random_search(objective, {"p": Uniform(0, 1)}, n_trials=3, verbose=False)
    assert [row["val_acc"] for row in results][:2] == [0.5, 0.3]
    assert math.isnan(results[2]["val_acc"]) and results[0]["train_acc"] == 0.9


@pytest.mark.parametrize("lang", LANGUAGES)
def test_trial_lines_look_like_the_lecture_log(lang, capsys):
    random_search(lambda lr, reg: 0.527, SPACE, n_trials=2, seed=0, lang=lang)
    lines = capsys.readouterr().out.splitlines()
    rng = random.Random(0)
    lr, reg = SPACE["lr"].sample(rng), SPACE["reg"].sample(rng)
    between = ", " if lang == "en" else "; "  # numbers with a decimal comma: semicolons
    params = f"lr: {format_number(lr, '.2e', lang)}{between}reg: {format_number(reg, '.2e', lang)}"
    assert lines[0] == t("search.trial", lang=lang, val_acc=0.527, params=params, i=0, n=2)
    if lang == "sk":
        assert lines[0].startswith("val. presnosť: 0,527; lr: ") and "e-0" in lines[0]
    if lang == "en":
        assert lines[0] == f"val acc: 0.527, lr: {lr:.2e}, reg: {reg:.2e}, (0 / 2)"
    assert lines[1].endswith("(1 / 2)")


def test_coarse_to_fine_narrows_every_range(capsys):
    results = coarse_to_fine(peaked, SPACE, rounds=3, n_trials=25, keep_top=5, seed=0)
    assert len(results) == 75 and len(results.spaces) == 3
    for before, after in zip(results.spaces, results.spaces[1:], strict=False):
        for name in SPACE:
            assert before[name].low <= after[name].low <= after[name].high <= before[name].high
            assert math.log(after[name].high / after[name].low) < math.log(
                before[name].high / before[name].low)
    round_one = [row for row in results if row["round"] == 1]
    top = sorted(round_one, key=lambda row: -row["val_acc"])[:5]
    assert results.spaces[1]["lr"] == LogUniform(min(r["lr"] for r in top),
                                                 max(r["lr"] for r in top))
    assert max(row["val_acc"] for row in round_one) <= results.best["val_acc"]
    assert results.best["round"] > 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Round 1/3: lr ∈ [1.00e-06, 1.00e-01] (log)")
    assert out[1].startswith("val acc") and out[27].startswith("  val acc")


def test_coarse_to_fine_keeps_the_best_choices():
    def objective(lr, act):
        return peaked(lr, 1e-2) + (0.1 if act == "relu" else 0.0)

    space = {"lr": LogUniform(1e-5, 1e-1), "act": Choice("relu", "tanh", "sigmoid"),
             "p": Uniform(0.0, 0.5)}
    results = coarse_to_fine(lambda lr, act, p: objective(lr, act), space, rounds=2,
                             n_trials=30, keep_top=3, verbose=False)
    assert results.spaces[1]["act"] == Choice("relu")
    assert "act ∈ {relu}" in describe_space(results.spaces[1])
    assert "p ∈ [" in describe_space(results.spaces[1])


def test_round_headers_separate_decimal_comma_bounds_with_a_semicolon():
    space = {"lr": LogUniform(1e-6, 1e-1), "act": Choice("relu", "tanh")}
    assert describe_space(space, "en") == "lr ∈ [1.00e-06, 1.00e-01] (log), act ∈ {relu, tanh}"
    assert describe_space(space, "sk") == "lr ∈ [1,00e-06; 1,00e-01] (log); act ∈ {relu; tanh}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_table_and_html(lang):
    results = random_search(peaked, SPACE, n_trials=6, verbose=False, lang=lang)
    lines = str(results.table(top=3)).splitlines()
    assert len(lines) == 5 and t("search.val_acc", lang=lang) in lines[0]  # header, rule, 3 rows
    best = results.best
    assert format_number(best["val_acc"], ".3f", lang) in lines[2]
    assert format_number(best["lr"], ".2e", lang) in lines[2]
    assert str(results) == str(results.table())
    html = results._repr_html_()
    assert html.startswith("<table>") and html.count("<tr>") == 7
    assert isinstance(results, Results)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plot_uses_log_axes_and_localized_labels(lang):
    import matplotlib.pyplot as plt

    space = {**SPACE, "p": Uniform(0, 1)}
    results = random_search(lambda lr, reg, p: peaked(lr, reg), space, n_trials=10,
                            verbose=False)
    ax = results.plot(x="lr", y="reg", lang=lang)
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert ax.figure.axes[1].get_ylabel() == t("search.val_acc", lang=lang)
    assert ax.get_title() == t("search.plot_title", lang=lang, n=10)
    ax = results.plot(x="p", y=None, lang=lang)
    assert ax.get_xscale() == "linear" and ax.get_ylabel() == t("search.val_acc", lang=lang)
    with pytest.raises(CourseError) as error:
        results.plot(x="momentum", lang=lang)
    assert error.value.key == "search.unknown_param"
    plt.close("all")
