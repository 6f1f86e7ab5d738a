"""Execute notebooks in place in the quick profile, so they are committed with their outputs.

    python tools/execute_notebooks.py                       # every notebook, every language
    python tools/execute_notebooks.py notebooks/sk/00_*.ipynb

Each notebook runs in its own folder with a fresh kernel; the wall time of each is printed.
The result is written as a JupyterLab save would write it (``notebook_io.normalize``): no
widget state, no timing metadata, and paths inside the repository printed relative to it, so
that neither a save in JupyterLab nor a run on another machine changes anything but results.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from notebook_io import LANGS, NOTEBOOKS, ROOT, normalize, write


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=False,
                   record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    write(path, portable(normalize(nb)))
    return elapsed


def portable(nb: dict, root: Path = ROOT) -> dict:
    """``nb`` without timing metadata and with ``<root>/`` removed from every text output."""
    prefix = f"{root.resolve()}/"
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("execution", None)
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _relative(output["text"], prefix)
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    output["data"][mime] = _relative(value, prefix)
    return nb


def _relative(text, prefix: str):
    if isinstance(text, list):
        return [line.replace(prefix, "") for line in text]
    return text.replace(prefix, "")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path)
    args = parser.parse_args(argv)
    paths = args.paths or [p for lang in LANGS for p in sorted((NOTEBOOKS / lang).glob("*.ipynb"))]
    os.environ.setdefault("COURSE_PROFILE", "quick")
    os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for path in paths:
        print(f"{execute(path):7.1f} s  {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
