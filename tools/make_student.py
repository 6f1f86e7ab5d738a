"""Write student versions of the notebooks: solutions become ``raise NotImplementedError``.

    python tools/make_student.py --out student

In every code cell, the lines from ``# BEGIN SOLUTION`` to ``# END SOLUTION`` (both included)
are replaced by one ``raise NotImplementedError`` at the marker's indentation, and the cell's
outputs are cleared. Notebooks are read from notebooks/<lang>/ and written to <out>/<lang>/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from notebook_io import LANGS, NOTEBOOKS, read, set_source, source, write

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


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


def student_notebook(nb: dict) -> tuple[dict, int]:
    """The student version of ``nb`` and the number of exercises it blanked."""
    exercises = 0
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and BEGIN in source(cell):
            exercises += source(cell).count(BEGIN)
            set_source(cell, strip_solutions(source(cell)))
            cell["outputs"], cell["execution_count"] = [], None
    return nb, exercises


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("student"))
    parser.add_argument("--root", type=Path, default=NOTEBOOKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    total = 0
    for lang in LANGS:
        for path in sorted((args.root / lang).glob("*.ipynb")):
            nb, n = student_notebook(read(path))
            write(args.out / lang / path.name, nb)
            total += n
    print(f"wrote student notebooks to {args.out}/ ({total} exercises blanked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
