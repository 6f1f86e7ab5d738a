"""Tick labels follow the course language: 0,5 in sk, sr and ru, 0.5 in English."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_lib import i18n, plotting  # noqa: E402


@pytest.fixture
def language():
    before = i18n.get_language()
    plotting.localize_ticks()
    yield i18n.set_language
    i18n.set_language(before)


def tick_labels(ax):
    ax.figure.canvas.draw()
    return [label.get_text() for label in ax.get_xticklabels()]


def test_linear_ticks_use_the_decimal_comma(language):
    language("sk")
    fig, ax = plt.subplots()
    ax.plot([0.0, 0.5], [0.0, 1.0])
    assert "0,2" in tick_labels(ax) and not any("." in s for s in tick_labels(ax))
    language("en")
    assert "0.2" in tick_labels(ax)
    plt.close(fig)


def test_mathtext_labels_get_a_braced_comma(language):
    language("ru")
    fig, ax = plt.subplots()
    ax.plot([0.0, 0.5], [0.0, 1.0])
    ax.ticklabel_format(useMathText=True)
    assert r"$\mathdefault{0{,}2}$" in tick_labels(ax)
    plt.close(fig)


def test_setup_installs_the_formatter():
    from course_lib import setup
    from course_lib.plotting import ScalarFormatter

    before = i18n.get_language()
    setup("sr", verbose=False)
    fig, ax = plt.subplots()
    assert isinstance(ax.xaxis.get_major_formatter(), ScalarFormatter)
    plt.close(fig)
    i18n.set_language(before)


def test_localize_label():
    assert plotting.localize_label("−0.5", "sk") == "−0,5"
    assert plotting.localize_label("1e-3", "sk") == "1e-3"
    assert plotting.localize_label("0.5", "en") == "0.5"
