"""Shared helpers of the notebook tools: where the notebooks are, reading and writing them."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LANGS = ("sk", "sr", "ru")


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, nb: dict) -> None:
    """Write as Jupyter does (indent 1, UTF-8 kept, trailing newline) so diffs stay small."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def notebook_names(root: Path = NOTEBOOKS, langs=LANGS) -> list[str]:
    """Every notebook file name found in any language folder."""
    return sorted({p.name for lang in langs for p in (root / lang).glob("*.ipynb")})
