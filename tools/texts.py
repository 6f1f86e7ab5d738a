"""The student-facing texts of the course, per language, for the glossary and style tests.

    from texts import documents, without_code
    for doc in documents():          # notebooks, README.<lang>.md, the message catalog
        print(doc.name, doc.lang, len(doc.text))

``Document.text`` is the markdown (or catalog messages, one per line) with code removed: fenced
blocks, inline code spans, HTML tags, link targets and URLs. ``without_math`` also removes
LaTeX, for checks that concern words only.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

from notebook_io import LANGS, NOTEBOOKS, ROOT, read, source

CODE = [
    re.compile(r"```.*?```", re.S),       # fenced code
    re.compile(r"`[^`\n]+`"),             # inline code
    re.compile(r"<[^>\n]+>"),             # HTML tags
    re.compile(r"\]\([^)\s]+\)"),         # link targets
    re.compile(r"https?://\S+"),          # bare URLs
]
MATH = [re.compile(r"\$\$.*?\$\$", re.S), re.compile(r"\$[^$\n]+\$")]


@dataclass(frozen=True)
class Document:
    name: str   # "sk/05_regularization.ipynb", "README.sk.md", "catalog sk"
    lang: str
    text: str
    kind: str   # "notebook", "readme" or "catalog"


def without_code(markdown: str) -> str:
    for pattern in CODE:
        markdown = pattern.sub(" ", markdown)
    return markdown


def without_math(text: str) -> str:
    for pattern in MATH:
        text = pattern.sub(" ", text)
    return text


def notebook_markdown(path: Path) -> str:
    return "\n\n".join(source(c) for c in read(path)["cells"] if c["cell_type"] == "markdown")


CODE_IN_MESSAGES = re.compile(
    r"\{[^{}]*\}"                                # placeholders
    r"|[\w.]*\w\((?:[^()]|\([^()]*\))*\)"        # calls: torch.sigmoid(...), Choice(16, 64)
    r"|\b\w+(?:[._]\w+)+\b"                      # dotted or snake_case names: torch.exp, log_alpha
)
"""Catalog messages carry code without backticks; these are the parts that are code."""


def catalog_text(lang: str) -> str:
    """Every message of ``lang``, one per line, without placeholders and code-like fragments."""
    sys.path.insert(0, str(ROOT))
    from course_lib.i18n import catalog

    return "\n".join(CODE_IN_MESSAGES.sub(" ", m) for m in catalog(lang).values())


def notebook_documents() -> list[Document]:
    return [Document(f"{lang}/{path.name}", lang, without_code(notebook_markdown(path)),
                     "notebook")
            for lang in LANGS for path in sorted((NOTEBOOKS / lang).glob("*.ipynb"))]


def readme_documents() -> list[Document]:
    return [Document(f"README.{lang}.md", lang,
                     without_code((ROOT / f"README.{lang}.md").read_text(encoding="utf-8")),
                     "readme")
            for lang in LANGS]


def catalog_documents() -> list[Document]:
    return [Document(f"catalog {lang}", lang, catalog_text(lang), "catalog") for lang in LANGS]


def documents() -> list[Document]:
    return notebook_documents() + readme_documents() + catalog_documents()


def lines_with(pattern: re.Pattern, text: str, width: int = 60) -> list[str]:
    """Each match of ``pattern`` in ``text`` with some context, for failure messages."""
    return [text[max(0, m.start() - width // 2): m.end() + width // 2].replace("\n", " ")
            for m in pattern.finditer(text)]
