"""Execute notebooks in place in the quick profile, so they are committed with their outputs.

    python tools/execute_notebooks.py                       # every notebook, every language
    python tools/execute_notebooks.py notebooks/sk/00_*.ipynb

Each notebook runs in its own folder with a fresh kernel; the wall time of each is printed.
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

from notebook_io import LANGS, NOTEBOOKS


def execute(path: Path, timeout: int = 600) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    elapsed = time.perf_counter() - start
    nbformat.write(nb, path)
    return elapsed


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
