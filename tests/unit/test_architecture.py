"""The three layers of course_lib and the one-way rule between them, read from the imports.

core (``course_lib/*.py``, ``exercises``, ``locales``) <- ``lectures`` <- nothing;
core <- ``labs/<lab>`` <- nothing: core never imports lectures or labs, lectures never import
labs, and labs never import each other.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "course_lib"
LABS = sorted(p.name for p in (PACKAGE / "labs").iterdir() if (p / "__init__.py").is_file())


def layer(module: str) -> str:
    """``core``, ``lectures`` or ``labs.<lab>`` of a dotted module name under course_lib."""
    parts = module.split(".")[1:]
    if parts[:1] == ["lectures"]:
        return "lectures"
    if parts[:1] == ["labs"]:
        return "labs" if len(parts) == 1 else f"labs.{parts[1]}"
    return "core"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every course_lib module ``path`` imports, relative imports resolved, at any depth."""
    own = module_name(path)
    package = own if path.name == "__init__.py" else own.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("course_lib")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("course_lib"):
                continue
            found.add(target)
            found |= {f"{target}.{a.name}" for a in node.names
                      if (PACKAGE.parent / f"{target}.{a.name}".replace(".", "/")).exists()
                      or (PACKAGE.parent / (f"{target}.{a.name}".replace(".", "/") + ".py"))
                      .exists()}
    return found


def allowed(source: str, target: str) -> bool:
    """Anyone may import the core; otherwise only a module of one's own lecture set or lab."""
    target_layer = layer(target)
    return target == "course_lib" or target_layer == "core" or (
        source != "core" and target_layer == source)


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_one_way(path):
    source = layer(module_name(path))
    bad = sorted(t for t in imported_modules(path) if not allowed(source, t))
    assert not bad, f"{module_name(path)} ({source}) must not import {bad}"


def test_the_tree_shows_three_layers():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert not any(name.startswith("experiments") for name in top)
    assert (PACKAGE / "lectures" / "__init__.py").is_file()
    assert {"shift_scale", "merging"} <= set(LABS)


def test_the_rule_checker_sees_a_forbidden_import(tmp_path):
    assert not allowed("core", "course_lib.lectures.neuron")
    assert not allowed("core", "course_lib.labs.merging.algorithms")
    assert not allowed("lectures", "course_lib.labs.shift_scale.runner")
    assert not allowed("labs.merging", "course_lib.labs.shift_scale.runner")
    assert allowed("labs.merging", "course_lib.labs.merging.joined")
    assert allowed("lectures", "course_lib.training")


def test_relative_imports_are_resolved():
    deps = imported_modules(PACKAGE / "labs" / "merging" / "baselines.py")
    assert "course_lib.labs.merging.algorithms" in deps and "course_lib.training" in deps
