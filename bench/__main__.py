"""``make bench``: run every ``bench/bench_*.py`` and print its table of ratios against PyTorch.

Each module defines ``run() -> list[Row]``; a ratio above 1 means course_lib is slower. A module
with rows of its own kind also defines ``print_table(title, rows)`` (``bench_training``:
samples per second, where the ratio is ``fit / loop`` and higher is better).
``python -m bench optim`` runs only the modules whose name contains ``optim``.
``python -m bench notebooks ...`` prints per-notebook times instead (see ``bench.notebooks``).
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import torch

from bench.timing import print_table


def main(argv: list[str]) -> int:
    if argv[:1] == ["notebooks"]:
        from bench import notebooks

        return notebooks.main(argv[1:])
    torch.set_num_threads(max(1, torch.get_num_threads()))
    names = sorted(m.name for m in pkgutil.iter_modules(["bench"])
                   if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        printer = getattr(module, "print_table", print_table)
        printer(module.__doc__.strip().splitlines()[0], module.run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
