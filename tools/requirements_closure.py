"""The packages that some root packages need on a target Python, from installed metadata.

    python tools/requirements_closure.py 3.12 nbval pytest-xdist ...

prints the names (normalized as pip does: lower case, runs of ``-_.`` as ``-``), one per line,
of the roots and of every package they require, transitively, whose environment marker holds
on CPython ``3.12`` on x86-64 Linux. A requirement with extras (``bleach[css]``) also brings
the packages that the extra names (``tinycss2; extra == "css"``). The metadata is that of the
packages installed for the running interpreter (``tools/gpu_wheels.sh --test-full`` runs it with
the venv's Python); ``closure(..., path=[...])`` reads it from other folders instead.
"""

from __future__ import annotations

import importlib.metadata as md
import re
import sys

from packaging.requirements import Requirement


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def target(version: str) -> dict[str, str]:
    """Environment-marker values of CPython ``version`` on x86-64 Linux, no extra requested."""
    return {"python_version": version, "python_full_version": f"{version}.0", "os_name": "posix",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
            "implementation_name": "cpython", "platform_python_implementation": "CPython",
            "extra": ""}


def requirements(name: str, path: list[str] | None) -> list[str]:
    """The ``Requires-Dist`` lines of the installed package ``name``."""
    if path is None:
        return md.distribution(name).requires or []
    found = next(iter(md.Distribution.discover(name=name, path=path)), None)
    if found is None:
        raise md.PackageNotFoundError(name)
    return found.requires or []


def closure(roots: list[str], version: str, path: list[str] | None = None) -> set[str]:
    """Normalized names of ``roots`` and of all they need on Python ``version`` (see above)."""
    environment = target(version)
    seen: set[tuple[str, str]] = set()
    todo = [(normalized(name), "") for name in roots]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        for line in requirements(name, path):
            requirement = Requirement(line)
            marker = requirement.marker
            if marker is None or marker.evaluate({**environment, "extra": extra}):
                needed = normalized(requirement.name)
                todo += [(needed, ""), *((needed, normalized(e)) for e in requirement.extras)]
    return {name for name, _ in seen}


if __name__ == "__main__":
    print("\n".join(sorted(closure(sys.argv[2:], sys.argv[1]))))
