"""Wall time of every notebook, and of the last ``make test``, as tables.

    python -m bench notebooks                       # from build/test-report.xml (make test)
    python -m bench notebooks --report build/test-full-report.xml --limit 240  # make test-full
    python -m bench notebooks --execute --lang sk   # run each notebook alone, now

``make test`` writes a JUnit report (``--junitxml``). nbval makes one test per code cell, so a
notebook's time is the sum over its cells (kernel start-up not counted; the tests ran in
parallel, so a busy machine shows). The report's suite time is the wall time of the whole run.
``--execute`` runs each notebook in a fresh kernel with nbclient, one after the other, in the
quick profile, and times it from kernel start to the last cell: the time of a notebook alone.
``--limit S`` names the notebooks that took more than ``S`` seconds. A notebook with fewer
tests in the report than code cells did not finish (a run stopped by ``--timeout`` of
``make test-full``, or one that failed before the end): the table names it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "build" / "test-report.xml"
LANGS = ("sk", "sr", "ru")


def notebook_of(classname: str) -> str | None:
    """``sk/00_x.ipynb`` for the JUnit classname of an nbval cell
    (``notebooks.sk.00_x.ipynb``), None for any other test."""
    parts = classname.split(".")
    if classname.endswith(".ipynb") and len(parts) >= 4:
        return f"{parts[-3]}/{'.'.join(parts[-2:])}"
    return None


def read_report(path: Path) -> tuple[dict[str, float], dict[str, float], float]:
    """From a pytest JUnit XML report: seconds per notebook (``sk/00_x.ipynb``), seconds per
    group of other tests (``tests/unit``, ...), and the wall time of the whole run.

    pytest names a test ``classname="notebooks.sk.00_x.ipynb" name="Cell 3"`` for nbval
    cells and ``classname="tests.unit.test_x"`` for Python tests.
    """
    root = ET.parse(path).getroot()
    notebooks: dict[str, float] = defaultdict(float)
    groups: dict[str, float] = defaultdict(float)
    for case in root.iter("testcase"):
        classname, seconds = case.get("classname", ""), float(case.get("time", 0.0))
        notebook = notebook_of(classname)
        if notebook is not None:
            notebooks[notebook] += seconds
        else:
            parts = classname.split(".")
            groups["/".join(parts[:2]) if len(parts) > 2 else parts[0]] += seconds
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    wall = max((float(s.get("time", 0.0)) for s in suites), default=0.0)
    return dict(notebooks), dict(groups), wall


def unfinished(path: Path, notebooks_dir: Path = ROOT / "notebooks") -> dict[str, tuple[int, int]]:
    """``{"sk/10_x.ipynb": (cells in the report, code cells of the notebook)}`` for every
    notebook of the JUnit report ``path`` with fewer tests than code cells (nbval makes one
    test per code cell)."""
    reported: dict[str, int] = defaultdict(int)
    for case in ET.parse(path).getroot().iter("testcase"):
        notebook = notebook_of(case.get("classname", ""))
        if notebook is not None:
            reported[notebook] += 1
    short = {}
    for name, count in reported.items():
        notebook = notebooks_dir / name
        if notebook.is_file():
            cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
            code = sum(cell["cell_type"] == "code" for cell in cells)
            if count < code:
                short[name] = (count, code)
    return short


def print_unfinished(short: dict[str, tuple[int, int]]) -> None:
    if short:
        print("\nnot finished (cells run of code cells): " + ", ".join(
            f"{name} ({ran} of {code})" for name, (ran, code) in sorted(short.items())))


def execute(path: Path, timeout: int = 600) -> float:
    """Seconds to run the notebook ``path`` in a fresh kernel (quick profile), outputs unsaved;
    NaN if a cell fails."""
    import nbclient
    import nbformat
    from nbclient.exceptions import CellExecutionError

    os.environ.update(COURSE_PROFILE="quick", MPLBACKEND="Agg", TQDM_DISABLE="1",
                      OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    notebook = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        nbclient.NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}}).execute()
    except CellExecutionError as error:
        last_line = re.sub(r"\x1b\[[0-9;]*m", "", str(error).strip().splitlines()[-1])
        print(f"{path}: {last_line}")  # without the terminal colour codes
        return math.nan
    return time.perf_counter() - start


def print_notebooks(seconds: dict[str, float], title: str) -> None:
    """One row per notebook, one column per language, and the totals."""
    names = sorted({key.split("/", 1)[1] for key in seconds})
    langs = [lang for lang in LANGS if any(k.startswith(f"{lang}/") for k in seconds)]
    print(f"\n{title}")
    print(f"{'notebook':<34}" + "".join(f"{lang + ' [s]':>10}" for lang in langs))
    for name in names:
        cells = [seconds.get(f"{lang}/{name}") for lang in langs]
        print(f"{name:<34}" + "".join(f"{c:>10.1f}" if c is not None else f"{'-':>10}"
                                      for c in cells))
    totals = [sum(v for k, v in seconds.items() if k.startswith(f"{lang}/") and not math.isnan(v))
              for lang in langs]
    print(f"{'total':<34}" + "".join(f"{t:>10.1f}" for t in totals))


def print_over_limit(seconds: dict[str, float], limit: float) -> None:
    over = sorted((name for name, s in seconds.items() if s > limit), key=seconds.get,
                  reverse=True)
    if over:
        print(f"\nabove {limit:g} s: " + ", ".join(f"{name} ({seconds[name]:.1f} s)"
                                                  for name in over))
    else:
        print(f"\nno notebook above {limit:g} s (slowest: "
              f"{max(seconds.values(), default=0.0):.1f} s)")


def print_groups(groups: dict[str, float], notebooks: float, wall: float) -> None:
    print(f"\n{'tests':<34}{'sum of test times [s]':>22}")
    for name, seconds in sorted(groups.items()):
        print(f"{name:<34}{seconds:>22.1f}")
    print(f"{'notebooks (nbval cells)':<34}{notebooks:>22.1f}")
    print(f"{'wall time of the run':<34}{wall:>22.1f}  ({wall / 60:.1f} min)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench notebooks", description=__doc__)
    parser.add_argument("--report", type=Path, default=REPORT,
                        help="JUnit XML written by make test (default: %(default)s)")
    parser.add_argument("--execute", action="store_true",
                        help="run each notebook alone now instead of reading the report")
    parser.add_argument("--lang", nargs="*", default=list(LANGS), choices=LANGS)
    parser.add_argument("--limit", type=float, default=None,
                        help="name the notebooks that took more than this many seconds")
    args = parser.parse_args(argv)
    if args.execute:
        seconds = {}
        for lang in args.lang:
            for path in sorted((ROOT / "notebooks" / lang).glob("*.ipynb")):
                seconds[f"{lang}/{path.name}"] = execute(path)
                print(f"{lang}/{path.name}: {seconds[f'{lang}/{path.name}']:.1f} s", flush=True)
        print_notebooks(seconds, "Each notebook alone in a fresh kernel, quick profile")
        if args.limit is not None:
            print_over_limit(seconds, args.limit)
        return 0
    if not args.report.is_file():
        print(f"{args.report} does not exist: run `make test` (or `make test-full`) first, "
              "or use --execute.")
        return 1
    notebooks, groups, wall = read_report(args.report)
    notebooks = {k: v for k, v in notebooks.items() if k.split("/")[0] in args.lang}
    print_notebooks(notebooks, f"Notebooks in {args.report} (sum of cell times)")
    if args.limit is not None:
        print_over_limit(notebooks, args.limit)
    print_unfinished({k: v for k, v in unfinished(args.report).items()
                      if k.split("/")[0] in args.lang})
    print_groups(groups, sum(notebooks.values()), wall)
    return 0
