"""``make bench``: run every ``bench/bench_*.py`` and print its table of ratios against PyTorch.

Each module defines ``run() -> list[Row]``; a ratio above 1 means course_lib is slower.
``python -m bench optim`` runs only the modules whose name contains ``optim``.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import torch

from bench.timing import print_table


def main(argv: list[str]) -> int:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    names = sorted(m.name for m in pkgutil.iter_modules(["bench"])
                   if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu")
    for name in wanted:
        module = importlib.import_module(f"bench.{name}")
        print_table(module.__doc__.strip().splitlines()[0], module.run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
