"""Result tables shown as tables: HTML in JupyterLab, Markdown or aligned text elsewhere.

    from course_lib.tables import Table, show

    rows = [{"method": "SGD", "acc": 0.9517, "params": 2410},
            {"method": "Adam", "acc": 0.9633, "params": 2410}]
    show(rows, header={"method": "metóda", "acc": "presnosť", "params": "parametre"},
         formats={"acc": ".1%", "params": ","})

``show`` displays the table through IPython's ``display``; ``Table(...)`` is the same table as
an object: the last expression of a cell renders it as HTML (``_repr_html_``), a viewer that
only knows Markdown gets ``_repr_markdown_``, and ``print`` / ``str`` give aligned text. A
table never wraps its rows the way fixed-width text does in a narrow JupyterLab window.

Numbers follow the course language (``i18n.format_number``): a column's format spec from
``formats`` (``".3f"``, ``".1%"``, ``","``), or a callable ``value -> str``; otherwise ints as
they are and floats with ``".4g"``. Number columns are right-aligned, text columns left-aligned.
``rows`` are mappings (columns are their keys, in first-seen order, or the keys of ``header``)
or sequences (``header`` is then a list of labels, one per cell).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence

from .i18n import CourseError, as_number, format_number, get_language

DEFAULT_FLOAT = ".4g"
"""Spec for float cells of a column without an entry in ``formats``."""


class Table:
    """Rows with a header, rendered as HTML, Markdown or aligned text in the course language."""

    def __init__(self, rows: Sequence, header: Sequence[str] | Mapping[str, str] | None = None,
                 formats: Mapping[str, str | Callable] | None = None, lang: str | None = None,
                 caption: str | None = None):
        self.lang = lang or get_language()
        self.caption = caption
        self.columns, self.labels, records = _columns(list(rows), header, self.lang)
        formats = dict(formats or {})
        unknown = sorted(set(formats) - set(self.columns), key=str)
        if unknown:
            raise CourseError("tables.unknown_column", lang=self.lang, names=unknown,
                              known=list(self.columns))
        self.numeric = [all(as_number(r.get(c)) is not None for r in records if r.get(c) != "")
                        and any(as_number(r.get(c)) is not None for r in records)
                        for c in self.columns]
        self.cells = [[_cell(record.get(c, ""), formats.get(c), self.lang) for c in self.columns]
                      for record in records]

    def to_text(self) -> str:
        """Aligned plain text: numbers right, words left, two spaces between columns."""
        widths = [max(len(x) for x in column) for column in zip(self.labels, *self.cells,
                                                                strict=True)]
        lines = [self.labels, ["-" * w for w in widths], *self.cells]
        text = "\n".join(
            "  ".join(cell.rjust(w) if right else cell.ljust(w)
                      for cell, w, right in zip(line, widths, self.numeric, strict=True)).rstrip()
            for line in lines)
        return f"{self.caption}\n{text}" if self.caption else text

    def to_markdown(self) -> str:
        """A Markdown (GitHub) table; number columns are right-aligned."""
        def row(cells):
            return "| " + " | ".join(c.replace("|", r"\|") for c in cells) + " |"

        rule = "|" + "|".join("---:" if right else "---" for right in self.numeric) + "|"
        lines = [row(self.labels), rule, *(row(cells) for cells in self.cells)]
        return (f"**{self.caption}**\n\n" if self.caption else "") + "\n".join(lines)

    def to_html(self) -> str:
        """An HTML table; number columns are right-aligned."""
        def row(tag, cells):
            return "<tr>" + "".join(
                f'<{tag} style="text-align: {"right" if right else "left"}">{html.escape(c)}'
                f"</{tag}>" for c, right in zip(cells, self.numeric, strict=True)) + "</tr>"

        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        body = "".join(row("td", cells) for cells in self.cells)
        return (f"<table>{caption}<thead>{row('th', self.labels)}</thead>"
                f"<tbody>{body}</tbody></table>")

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_markdown_(self) -> str:
        return self.to_markdown()


def show(rows: Sequence, header: Sequence[str] | Mapping[str, str] | None = None,
         formats: Mapping[str, str | Callable] | None = None, lang: str | None = None,
         caption: str | None = None) -> None:
    """Display ``Table(rows, header, formats, lang, caption)``; outside IPython, print it."""
    table = Table(rows, header, formats, lang, caption)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # pragma: no cover - IPython ships with the course
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(table)
    else:
        print(table)


def _columns(rows: list, header, lang: str) -> tuple[list, list[str], list[dict]]:
    """``(column keys, header labels, rows as dicts)`` for mapping or sequence rows."""
    if all(isinstance(r, Mapping) for r in rows):
        keys = list(header) if isinstance(header, Mapping) else []
        for record in rows:
            keys += [k for k in record if k not in keys]
        if header is not None and not isinstance(header, Mapping):
            if len(header) != len(keys):
                raise CourseError("tables.header_length", lang=lang, got=len(header),
                                  expected=len(keys))
            labels = [str(h) for h in header]
        else:
            labels = [str((header or {}).get(k, k)) for k in keys]
        return keys, labels, [dict(r) for r in rows]
    width = len(header) if header is not None else max((len(r) for r in rows), default=0)
    for index, record in enumerate(rows):
        if isinstance(record, Mapping | str) or len(record) != width:
            raise CourseError("tables.row_length", lang=lang, index=index,
                              got=len(record), expected=width)
    keys = list(range(width))
    labels = [str(h) for h in header] if header is not None else [""] * width
    return keys, labels, [dict(zip(keys, r, strict=True)) for r in rows]


def _cell(value, spec, lang: str) -> str:
    if callable(spec):
        return str(spec(value))
    if spec is not None:
        return format_number(value, spec, lang)
    number = as_number(value)
    if isinstance(number, float):
        return format_number(number, DEFAULT_FLOAT, lang)
    return "" if value is None else str(value)
