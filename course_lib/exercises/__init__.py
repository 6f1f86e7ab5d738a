"""Exercises of the notebooks, one module per notebook (e.g. ``initialization.py``).

Each module registers its reference solutions with ``course_lib.checks.exercise``; a
``Checker`` imports every module here, so ``course.check.<name>`` finds them all. Hints are
catalog keys of the module's own locale domain, passed as ``hint="<domain>.<key>"``.
"""

import importlib
import pkgutil


def load_all() -> None:
    """Import (once) every exercise module of this package, registering its exercises."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
