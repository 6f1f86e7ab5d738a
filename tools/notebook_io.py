"""Shared helpers of the notebook tools: where the notebooks are, reading and writing them.

Every tool writes notebooks through ``write``, in the form a JupyterLab save produces, so that
opening a committed notebook and saving it (RISE's slide preview saves it, for one) leaves the
file byte for byte unchanged and git clean:

- the bytes are nbformat's (keys sorted, indent 1, UTF-8 kept, multi-line strings as lists of
  lines, a final newline), which is how the Jupyter server writes what JupyterLab sends;
- ``normalize`` removes what a browser would rewrite: JavaScript has one number type, so an
  integral float (``4.0``) comes back as ``4``; and it drops the stored widget state (each
  explorer's output carries a static PNG, which every viewer shows) together with the widget
  views that would point to it.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
LANGS = ("sk", "sr", "ru")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write(path: Path, nb: dict) -> None:
    """Write ``nb`` exactly as the Jupyter server saves a notebook (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(nb), encoding="utf-8")


def dumps(nb: dict) -> str:
    """The file contents of ``nb`` as nbformat writes them, final newline included."""
    text = nbformat.writes(nbformat.from_dict(nb), version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def normalize(nb: dict) -> dict:
    """``nb`` in the form that survives a JupyterLab save unchanged (in place, returned).

    Drops the stored widget state and every widget view from the outputs (an output left with
    no other data is dropped), and turns integral floats into ints, as JSON in a browser does.
    """
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code":
            continue
        kept = []
        for output in cell.get("outputs", []):
            data = output.get("data")
            if data is not None and WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
                if not data:
                    continue
            kept.append(output)
        cell["outputs"] = kept
    return _as_javascript_numbers(nb)


def _as_javascript_numbers(value):
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return int(value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _as_javascript_numbers(item)
    elif isinstance(value, list):
        value[:] = [_as_javascript_numbers(item) for item in value]
    return value


def source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def notebook_names(root: Path = NOTEBOOKS, langs=LANGS) -> list[str]:
    """Every notebook file name found in any language folder."""
    return sorted({p.name for lang in langs for p in (root / lang).glob("*.ipynb")})
