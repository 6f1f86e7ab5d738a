"""Message catalog: every text a student sees (plot labels, progress, checker feedback, errors).

Catalogs live in ``course_lib/locales/<lang>/<domain>.toml``; a key ``"data.unknown_dataset"``
is the entry ``unknown_dataset`` of ``<lang>/data.toml``. Values are ``str.format`` templates::

    >>> set_language("sk")
    >>> t("course.banner", lang="sk", profile="quick", device="cpu", seed=0)  # doctest: +SKIP

English (``en``) is the reference language; a test checks that every key exists in every
language with the same placeholders.
"""

from __future__ import annotations

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

    Raises KeyError for a key missing from the catalog: a bug in the course, not the student's.
    """
    template = catalog(lang or _current)[key]
    return template.format(**fields) if fields else template
