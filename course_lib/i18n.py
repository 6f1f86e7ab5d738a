"""Message catalog: every text a student sees (plot labels, progress, checker feedback, errors).

Catalogs live in ``course_lib/locales/<lang>/<domain>.toml``; a key ``"data.unknown_dataset"``
is the entry ``unknown_dataset`` of ``<lang>/data.toml``. Values are ``str.format`` templates::

    >>> set_language("sk")
    >>> t("course.banner", lang="sk", profile="quick", device="cpu", seed=0)  # doctest: +SKIP

English (``en``) is the reference language; a test checks that every key exists in every
language with the same placeholders.

Numbers follow the language (docs/style.md): a field with a format spec, ``{loss:.3f}``,
``{acc:.1%}``, ``{n:,}``, is a number for the student and is written with the language's decimal
comma, thousands separator and percent sign (``0,147``, ``95,2 %``, ``4 652 008`` in Slovak); a
bare field, ``{value}``, is inserted as Python writes it (code, shapes, names). A list of numbers
(a tuple, an array, a tensor) in a field with a format spec is written by ``format_numbers``:
``[{values:.2f}]`` gives ``[0,91; 0,76]`` in Slovak. The same rules are ``format_number``,
``format_numbers`` and ``format_percent`` for code that renders numbers itself.
"""

from __future__ import annotations

import math
import numbers
import re
import string
import tomllib
from functools import cache
from pathlib import Path

LANGUAGES: tuple[str, ...] = ("sk", "sr", "ru", "en")
"""Supported languages: Slovak, Serbian (Latin script), Russian, English."""

LANGUAGE_NAMES = {"sk": "slovenčina", "sr": "srpski (latinica)", "ru": "русский", "en": "English"}

_LOCALES = Path(__file__).with_name("locales")
_current = "en"


class CourseError(ValueError):
    """A bad argument or input, explained in the student's language.

    Subclasses ValueError, so code written against torch (``except ValueError``) still works.
    ``key`` is the catalog key of the message, handy for tests in any language.
    """

    def __init__(self, key: str, lang: str | None = None, **fields):
        self.key = key
        self.fields = fields
        super().__init__(t(key, lang=lang, **fields))


def check_language(lang: str) -> str:
    """Return ``lang`` if it is supported, else raise ValueError naming the supported ones."""
    if lang not in LANGUAGES:
        names = ", ".join(f"{code} ({LANGUAGE_NAMES[code]})" for code in LANGUAGES)
        raise ValueError(f"Unknown language {lang!r}. Supported languages: {names}.")
    return lang


def set_language(lang: str) -> None:
    """Make ``lang`` the language of every later message that does not name its own."""
    global _current
    _current = check_language(lang)


def get_language() -> str:
    return _current


@cache
def catalog(lang: str) -> dict[str, str]:
    """All messages of one language as a flat ``{"domain.key": template}`` dict."""
    check_language(lang)
    messages: dict[str, str] = {}
    for path in sorted((_LOCALES / lang).glob("*.toml")):
        with path.open("rb") as f:
            table = tomllib.load(f)
        for key, value in _flatten(table, path.stem):
            messages[key] = value
    return messages


def _flatten(table: dict, prefix: str):
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}.{key}")
        else:
            yield f"{prefix}.{key}", value


def placeholders(template: str) -> set[str]:
    """Names of the ``{fields}`` a template expects."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def t(key: str, lang: str | None = None, **fields) -> str:
    """The message ``key`` in ``lang`` (default: the current language), formatted with fields.

    Fields with a format spec that are numbers are written in the language's number format
    (``format_number``); see the module docstring. Raises KeyError for a key missing from the
    catalog: a bug in the course, not the student's.
    """
    lang = lang or _current
    template = catalog(lang)[key]
    return _Formatter(lang).vformat(template, (), fields) if fields else template


NUMBER_FORMATS: dict[str, tuple[str, str, str]] = {
    "sk": (",", "\u00a0", "\u00a0%"),
    "sr": (",", ".", "\u00a0%"),
    "ru": (",", "\u00a0", "\u00a0%"),
    "en": (".", ",", "%"),
}
"""``lang -> (decimal sign, thousands separator, percent suffix)``, as Unicode CLDR writes them
(the locale data of operating systems and browsers): a decimal comma in all three; thousands
grouped by a no-break space in Slovak and Russian and by a dot in Serbian (``4.652.008``); a
no-break space before ``%`` in all three (SI, ISO 80000-1; CLDR's Serbian ``95,2%`` is the
one place we differ, see docs/style.md)."""

_SPEC = re.compile(
    r"(?:(?P<fill>.)?(?P<align>[<>=^]))?(?P<sign>[-+ ])?(?P<alt>z?#?)(?P<zero>0)?"
    r"(?P<width>\d+)?(?P<grouping>[,_])?(?:\.(?P<precision>\d+))?(?P<type>[deEfFgGn%])?"
)


def decimal_sign(lang: str | None = None) -> str:
    """``","`` in Slovak, Serbian and Russian, ``"."`` in English."""
    return NUMBER_FORMATS[check_language(lang or _current)][0]


def as_number(value):
    """``value`` as a Python int or float if it is a real number (NumPy and 0-d tensors too)."""
    if isinstance(value, bool):
        return None
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    return value if isinstance(value, numbers.Real) and not isinstance(value, bool) else None


def localize_number_text(text: str, lang: str | None = None) -> str:
    """Python's number text (``"1,234.5"``, ``"95.2%"``) in ``lang``'s signs (``"1 234,5"``)."""
    decimal, group, percent = NUMBER_FORMATS[check_language(lang or _current)]
    text = text.translate({ord("."): decimal, ord(","): group, ord("_"): group})
    return text[:-1] + percent if text.endswith("%") else text


def format_number(value, spec: str = "g", lang: str | None = None) -> str:
    r"""``value`` formatted by the ``str.format`` spec ``spec``, in ``lang`` (default: current).

    >>> format_number(0.1469, ".3f", "sk"), format_number(4652008, ",", "sr")
    ('0,147', '4.652.008')
    >>> format_number(0.952, ".1%", "ru"), format_number(4652008, ",", "en")
    ('95,2\xa0%', '4,652,008')

    Fill, alignment and width apply to the localized text, so columns still line up. A value
    that is not a number, or NaN and infinities, is formatted as Python does.
    """
    number = as_number(value)
    match = _SPEC.fullmatch(spec)
    if number is None or match is None or match["zero"] or (
            isinstance(number, float) and not math.isfinite(number)):
        return format(value, spec)
    core = "".join(match[k] or "" for k in ("sign", "alt", "grouping"))
    core += f".{match['precision']}" if match["precision"] else ""
    text = localize_number_text(format(number, core + (match["type"] or "")), lang)
    fill, align, width = match["fill"] or " ", match["align"] or ">", match["width"]
    return format(text, f"{fill}{align}{width}") if width else text


def list_separator(lang: str | None = None) -> str:
    """What separates the items of a list of numbers in a sentence: ``"; "`` where the comma is
    the decimal sign (sk, sr, ru), else ``", "``."""
    return "; " if decimal_sign(lang) == "," else ", "


def format_numbers(values, spec: str = "g", lang: str | None = None) -> str:
    """A list of numbers for a sentence: each by ``format_number``, separated by semicolons where
    the comma is the decimal sign (``"0,91; 0,76"`` in sk, sr and ru), else by commas.

    ``values`` may be a list, a tuple, a NumPy array or a tensor; a matrix is written row by row,
    each row in brackets (``"[1,00; 0,86]; [0,86; 1,00]"``).
    """
    separator = list_separator(lang)
    rows = _number_list(values)
    return separator.join(
        f"[{format_numbers(v, spec, lang)}]" if _number_list(v) is not None
        else format_number(v, spec, lang) for v in (values if rows is None else rows))


def _number_list(value) -> list | None:
    """``value`` as a list if it is a list, tuple, array or tensor (of at least one dimension) of
    numbers or of such lists, else None."""
    if getattr(value, "ndim", 0) and hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)) and all(
            as_number(v) is not None or _number_list(v) is not None for v in value):
        return list(value)
    return None


def format_percent(fraction, digits: int = 1, lang: str | None = None) -> str:
    """``fraction`` as a percentage in ``lang``: ``"95,2\u00a0%"`` for 0.952 in Slovak."""
    return format_number(fraction, f".{digits}%", lang)


def latex_decimals(text: str, lang: str | None = None) -> str:
    """Decimal points between digits in LaTeX written as the language's ``{,}`` (``0{,}01``)."""
    if decimal_sign(lang) == ".":
        return text
    return re.sub(r"(?<=\d)\.(?=\d)", "{,}", text)


class _Formatter(string.Formatter):
    """``str.format`` in which every number field (or list of numbers) with a format spec
    follows ``lang``."""

    def __init__(self, lang: str):
        super().__init__()
        self.lang = lang

    def format_field(self, value, format_spec: str) -> str:
        if format_spec and _number_list(value) is not None:
            return format_numbers(value, format_spec, self.lang)
        if format_spec and self.lang != "en" and as_number(value) is not None:
            return format_number(value, format_spec, self.lang)
        return super().format_field(value, format_spec)
