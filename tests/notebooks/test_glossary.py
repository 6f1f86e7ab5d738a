"""Terms: notebooks, READMEs and the message catalog use the glossary's term, never a listed
alternative (docs/glossary.md, column "avoid")."""

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from texts import Document, documents, lines_with, without_math  # noqa: E402

LANGS = ("sk", "sr", "ru")

KNOWN_FAILURES: dict[str, str] = {
    # "lang/NN_name.ipynb": "why it still fails" -> xfail(strict=False) for that document.
    # Notebooks 09 and 10 (rewritten under issue 14) were listed here until their text was fixed.
}


def glossary_rows() -> list[dict[str, str]]:
    """The rows of the glossary's first table (## Terms), as ``{column: cell}``."""
    lines = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| English |"))
    table = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        table.append(line)
    header = [c.strip() for c in table[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in row.strip("|").split("|")), strict=True))
            for row in table[2:]]


def avoided(row: dict[str, str]) -> dict[str, list[str]]:
    """``{"sk": ["spätn* šíren*"], ...}`` from the avoid column ``sk: a, b; ru: c``."""
    found: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in row["avoid"].split(";"))):
        lang, stems = part.split(":", 1)
        found[lang.strip()] = [s.strip() for s in stems.split(",")]
    return found


def pattern(stem: str) -> re.Pattern:
    """A stem of the avoid column as a regex: ``*`` any letters, ``#`` a digit, ``$`` word end.
    A word right after a hyphen is part of a command-line option (``--profile full``), not
    prose, and does not match."""
    body = re.escape(stem.rstrip("$")).replace(r"\*", r"\w*").replace(r"\#", r"\d")
    return re.compile(rf"(?<![\w-]){body}" + (r"(?!\w)" if stem.endswith("$") else ""),
                      re.IGNORECASE)


def offenders(doc: Document) -> list[str]:
    text = without_math(doc.text)
    found = []
    for row in glossary_rows():
        for stem in avoided(row).get(doc.lang, []):
            for context in lines_with(pattern(stem), text):
                found.append(f"{stem!r} (use {row[doc.lang]!r} for {row['English']!r}): "
                             f"…{context}…")
    return found


def test_every_glossary_row_names_the_concept_in_every_language():
    rows = glossary_rows()
    assert len(rows) >= 55
    for row in rows:
        assert all(row[key] for key in ("English", *LANGS)), row
        assert set(avoided(row)) <= set(LANGS), row


def test_avoid_patterns_match_words_and_stems():
    assert pattern("moment$").search("SGD, moment, Nesterov")
    assert not pattern("moment$").search("momentum 0,9")
    assert pattern("spätn* šíren*").search("spätné šírenie chyby")
    assert pattern("úloha #").search("### Úloha 2: pomer")
    assert not pattern("emitovan*").search("preemitovanje")


def _params(docs):
    params = []
    for doc in docs:
        marks = ([pytest.mark.xfail(strict=False, reason=KNOWN_FAILURES[doc.name])]
                 if doc.name in KNOWN_FAILURES else [])
        params.append(pytest.param(doc, id=doc.name, marks=marks))
    return params


@pytest.mark.parametrize("doc", _params([d for d in documents() if d.lang in LANGS]))
def test_texts_avoid_the_terms_the_glossary_rules_out(doc):
    found = offenders(doc)
    assert not found, f"{doc.name}:\n" + "\n".join(found)
