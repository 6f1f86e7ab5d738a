"""Plots in the course language: tick labels written with the language's decimal sign.

``setup(lang)`` calls ``localize_ticks()``, after which every new linear axis labels its ticks
``0,5`` instead of ``0.5`` in Slovak, Serbian and Russian (and as before in English)::

    >>> from course_lib import i18n
    >>> i18n.set_language("sk")
    >>> localize_ticks()
    >>> fig, ax = plt.subplots(); ax.plot([0, 0.5]); fig.canvas.draw()  # doctest: +SKIP
    >>> [label.get_text() for label in ax.get_yticklabels()][:3]        # doctest: +SKIP
    ['0,0', '0,1', '0,2']

The language is read when the figure is drawn, so ``set_language`` also affects axes made
before it. Logarithmic axes show powers of ten and need no change.
"""

from __future__ import annotations

import matplotlib.scale
import matplotlib.ticker

from . import i18n

_MATPLOTLIB_DEFAULT = matplotlib.ticker.ScalarFormatter


class ScalarFormatter(_MATPLOTLIB_DEFAULT):
    """matplotlib's default tick formatter, with the decimal sign of the course language.

    Mathtext labels (``$\\mathdefault{0.5}$``) get ``{,}``, which TeX sets without the space
    it puts after a punctuation comma.
    """

    def __call__(self, x, pos=None) -> str:
        return localize_label(super().__call__(x, pos))

    def get_offset(self) -> str:
        return localize_label(super().get_offset())

    def format_data_short(self, value) -> str:
        return localize_label(super().format_data_short(value))


def localize_label(text: str, lang: str | None = None) -> str:
    """A tick label such as ``"0.5"``, ``"$\\mathdefault{0.5}$"`` or ``"1e-3"`` in ``lang``."""
    decimal = i18n.decimal_sign(lang)
    if decimal == ".":
        return text
    return text.replace(".", "{,}" if "$" in text else decimal)


def localize_ticks() -> None:
    """Make ``ScalarFormatter`` the default formatter of linear axes (idempotent).

    matplotlib's linear scale creates its formatter through the name ``ScalarFormatter`` in
    ``matplotlib.scale``; pointing that name at the subclass changes every new axis and
    nothing else.
    """
    matplotlib.scale.ScalarFormatter = ScalarFormatter
