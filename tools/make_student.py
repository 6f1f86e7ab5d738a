"""Write student versions of the notebooks: solutions become ``raise NotImplementedError``.

    python tools/make_student.py --out student                   # every notebook, overwritten
    python tools/make_student.py --out student --keep-existing   # only those not there yet

In every code cell, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` (both included)
are replaced by one ``raise NotImplementedError`` at the marker's indentation. Notebooks are
read from notebooks/<lang>/ and written to <out>/<lang>/. A student version also

- clears the outputs of every cell that depends on a solution: the exercise cell, its checker
  cell (no green "correct" under a blank exercise) and any later cell that uses a name computed
  from a solution function, followed statement by statement through the notebook;
- drops the instructor's notes (cells with the RISE slide type ``notes``).

The language folder's ``rise.css`` (the style of RISE's slide mode) is copied along.

``--keep-existing`` leaves a notebook already in <out> as it is (a student's work in progress);
delete it to get it afresh.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from pathlib import Path

from notebook_io import LANGS, NOTEBOOKS, read, set_source, source, write

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"
MUTATORS = {"append", "extend", "update", "add", "insert", "setdefault"}


def strip_solutions(code: str) -> str:
    """Replace each solution block of ``code`` by ``raise NotImplementedError``."""
    out, inside = [], False
    for line in code.splitlines(keepends=True):
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError("nested '# BEGIN SOLUTION'")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}raise NotImplementedError\n")
        elif stripped == END:
            if not inside:
                raise ValueError("'# END SOLUTION' without '# BEGIN SOLUTION'")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError("'# BEGIN SOLUTION' without '# END SOLUTION'")
    return "".join(out)


def statements(code: str) -> list[tuple[set[str], set[str], bool]]:
    """``(names it binds, names it reads, holds a solution)`` for each top-level statement.

    A name counts as bound by assignment, ``def``, ``class``, ``import``, ``for`` or ``with``,
    and by changing it in place (``x[i] = ...``, ``x.attr = ...``, ``x.append(...)``); names
    local to a function, lambda or comprehension do not count, but what they read does. Code
    that Python cannot parse (IPython magics) is one statement that reads every identifier.
    """
    begins = [i for i, line in enumerate(code.splitlines(), start=1) if line.strip() == BEGIN]
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [(set(), set(re.findall(r"[A-Za-z_]\w*", code)), bool(begins))]
    found = []
    for stmt in tree.body:
        bound, read_ = set(), set()
        _collect(stmt, bound, read_, top=True)
        bound.discard(None)
        holds = any(stmt.lineno <= line <= stmt.end_lineno for line in begins)
        found.append((bound, read_, holds))
    return found


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.ListComp,
          ast.SetComp, ast.DictComp, ast.GeneratorExp)


def _collect(node: ast.AST, bound: set, read_: set, top: bool) -> None:
    if isinstance(node, SCOPES):
        if top and not isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp
                                  | ast.GeneratorExp):
            bound.add(node.name)
        top = False
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        read_.add(node.id)
    elif top and isinstance(node, ast.Name):
        bound.add(node.id)
    elif top and isinstance(node, ast.alias):
        bound.add((node.asname or node.name).split(".")[0])
    elif top and isinstance(node, ast.Attribute | ast.Subscript) and not isinstance(
            node.ctx, ast.Load):
        bound.add(_base(node))
    elif (top and isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
          and node.func.attr in MUTATORS):
        bound.add(_base(node.func))
    for child in ast.iter_child_nodes(node):
        _collect(child, bound, read_, top)


def _base(node: ast.AST) -> str | None:
    """``x`` for ``x.a[0].b``, ``x[1]`` or ``x.f()``; None when it is not a plain name."""
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def depends_on_solutions(cells: list[dict]) -> list[bool]:
    """For each cell: is it a code cell whose output depends on a solution?"""
    tainted: set[str] = set()
    result = []
    for cell in cells:
        depends = False
        if cell["cell_type"] == "code":
            for bound, read_, holds in statements(source(cell)):
                if holds or read_ & tainted:
                    tainted |= bound
                    depends = True
                else:
                    tainted -= bound
            depends = depends or BEGIN in source(cell)
        result.append(depends)
    return result


def is_note(cell: dict) -> bool:
    return cell.get("metadata", {}).get("slideshow", {}).get("slide_type") == "notes"


def student_notebook(nb: dict) -> tuple[dict, int]:
    """The student version of ``nb`` and the number of exercises it blanked."""
    exercises = 0
    for cell, depends in zip(nb["cells"], depends_on_solutions(nb["cells"]), strict=True):
        if cell["cell_type"] == "code" and BEGIN in source(cell):
            exercises += source(cell).count(BEGIN)
            set_source(cell, strip_solutions(source(cell)))
        if depends:
            cell["outputs"], cell["execution_count"] = [], None
    nb["cells"] = [cell for cell in nb["cells"] if not is_note(cell)]
    return nb, exercises


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("student"))
    parser.add_argument("--keep-existing", action="store_true",
                        help="leave notebooks already in --out untouched")
    parser.add_argument("--root", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    total, kept = 0, 0
    for lang in LANGS:
        if (args.root / lang / "rise.css").exists():
            (args.out / lang).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(args.root / lang / "rise.css", args.out / lang / "rise.css")
        for path in sorted((args.root / lang).glob("*.ipynb")):
            target = args.out / lang / path.name
            if args.keep_existing and target.exists():
                kept += 1
                continue
            nb, n = student_notebook(read(path))
            write(target, nb)
            total += n
    note = f", {kept} kept as they were" if kept else ""
    print(f"wrote student notebooks to {args.out}/ ({total} exercises blanked{note})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
