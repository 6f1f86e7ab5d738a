"""Terms: every notebook's markdown uses the glossary's term, never a listed alternative."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LANGS = ("sk", "sr", "ru")


def glossary_rows() -> list[dict[str, str]]:
    lines = (ROOT / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines()
    table = [line for line in lines if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in row.strip("|").split("|")), strict=True))
            for row in table[2:]]


def avoided(row: dict[str, str]) -> dict[str, list[str]]:
    """``{"sk": ["spätné šírenie"], ...}`` from the avoid column ``sk: a, b; ru: c``."""
    found: dict[str, list[str]] = {}
    for part in filter(None, (p.strip() for p in row["avoid"].split(";"))):
        lang, stems = part.split(":", 1)
        found[lang.strip()] = [s.strip() for s in stems.split(",")]
    return found


def markdown_of(path: Path) -> str:
    import nbformat

    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_every_glossary_row_names_the_concept_in_every_language():
    rows = glossary_rows()
    assert len(rows) >= 40
    for row in rows:
        assert all(row[key] for key in ("English", *LANGS)), row
        assert set(avoided(row)) <= set(LANGS), row


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*/*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_notebook_markdown_avoids_the_terms_the_glossary_rules_out(path):
    lang, text = path.parent.name, markdown_of(path).lower()
    offenders = []
    for row in glossary_rows():
        for stem in avoided(row).get(lang, []):
            if re.search(rf"(?<!\w){re.escape(stem.lower())}", text):
                offenders.append(f"{stem!r} (use {row[lang]!r} for {row['English']!r})")
    assert not offenders, f"{lang}/{path.name}: " + "; ".join(offenders)
