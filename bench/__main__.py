"""``make bench``: run every ``bench/bench_*.py`` and print its table of ratios against PyTorch.

Each module defines ``run() -> list[Row]``; a ratio above 1 means course_lib is slower. A module
with rows of its own kind also defines ``print_table(title, rows)`` (``bench_training``:
samples per second, where the ratio is ``fit / loop`` and higher is better).
``python -m bench optim`` runs only the modules whose name contains ``optim``. Options
``--name value`` (or ``--name=value``) go to the ``run`` of each module that takes ``name``,
e.g. ``python -m bench training --compile off,reduce-overhead --rounds 4``.
``python -m bench notebooks ...`` prints per-notebook times instead (see ``bench.notebooks``).
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import sys

import torch

from bench.timing import print_table


def split_options(argv: list[str]) -> tuple[list[str], dict[str, str]]:
    """``(names, {option: value})`` from ``["training", "--rounds", "4", "--compile=off"]``."""
    names, options, rest = [], {}, list(argv)
    while rest:
        arg = rest.pop(0)
        if not arg.startswith("--"):
            names.append(arg)
        elif "=" in arg:
            key, value = arg[2:].split("=", 1)
            options[key.replace("-", "_")] = value
        elif rest:
            options[arg[2:].replace("-", "_")] = rest.pop(0)
        else:
            raise SystemExit(f"python -m bench: {arg} needs a value")
    return names, options


def main(argv: list[str]) -> int:
    if argv[:1] == ["notebooks"]:
        from bench import notebooks

        return notebooks.main(argv[1:])
    torch.set_num_threads(max(1, torch.get_num_threads()))
    argv, options = split_options(argv)
    names = sorted(m.name for m in pkgutil.iter_modules(["bench"])
                   if m.name.startswith("bench_"))
    wanted = [n for n in names if not argv or any(a in n for a in argv)]
    modules = [importlib.import_module(f"bench.{name}") for name in wanted]
    takes = [set(inspect.signature(module.run).parameters) for module in modules]
    unused = set(options) - set().union(*takes)
    if unused:
        raise SystemExit(f"python -m bench: no chosen benchmark takes --{sorted(unused)[0]}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for module, accepted in zip(modules, takes, strict=True):
        printer = getattr(module, "print_table", print_table)
        kwargs = {key: value for key, value in options.items() if key in accepted}
        printer(module.__doc__.strip().splitlines()[0], module.run(**kwargs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
