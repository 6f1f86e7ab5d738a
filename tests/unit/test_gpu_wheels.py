"""tools/gpu_wheels.sh: the offline wheels for the GPU machine, checked through --dry-run."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_wheels.sh"


def dry_run(*args: str) -> list[str]:
    result = subprocess.run(["bash", str(SCRIPT), *args, "--dry-run"], capture_output=True,
                            text=True, timeout=60, check=True)
    return result.stdout.splitlines()


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def listed(lines: list[str]) -> dict[str, str]:
    """``{name: version}`` of the requirement lines the dry run prints."""
    pins = [line.split("==") for line in lines if re.match(r"^[A-Za-z0-9_.-]+==", line)]
    return {normalized(name): version for name, version in pins}


def test_download_fetches_py312_wheels_of_everything_but_torch(tmp_path):
    freeze = tmp_path / "freeze.txt"
    freeze.write_text("torch==2.14.1\ntorchvision==0.29.1\ntriton==3.8.0\n"
                      "nvidia-nccl-cu13==2.30.7\ncuda-bindings==13.5.0\npip==23.2.1\n"
                      "-e /somewhere/course\nnbval==0.11.0\npytest-xdist==3.8.0\n"
                      "setuptools==84.2.1\n")
    dest = tmp_path / "wheels"
    lines = dry_run("download", "--freeze", str(freeze), "--dest", str(dest))
    assert listed(lines) == {"nbval": "0.11.0", "pytest-xdist": "3.8.0", "setuptools": "84.2.1"}
    download = next(line for line in lines if " pip download " in line).split()
    for flag in ("--only-binary=:all:", "--no-deps", "--python-version", "3.12",
                 "manylinux2014_x86_64", "manylinux_2_28_x86_64", f"{dest}/requirements.txt"):
        assert flag in download, flag
    assert not dest.exists()  # a dry run only prints


def test_the_list_is_requirements_txt_at_its_pins_without_torch():
    venv = Path(sys.executable).parents[1]
    pins = listed(dry_run("download", "--venv", str(venv)))
    required = listed((ROOT / "requirements.txt").read_text().splitlines())
    for name in ("torch", "torchvision"):
        assert name in required and name not in pins
        del required[name]
    assert {name: pins.get(name) for name in required} == required
    for name in ("nbclient", "nbformat", "ipykernel", "jupyter-client", "jupyter-core"):
        assert name in pins, name


def test_install_is_offline_on_top_of_the_machines_torch():
    lines = dry_run("install", "--python", "python3.12", "--dest", "wheels/py312")
    assert "+ python3.12 -m venv --system-site-packages .venv" in lines
    installs = [line for line in lines if " pip install " in line]
    assert len(installs) == 2
    assert all("--no-index --find-links wheels/py312" in line for line in installs)
    assert lines[-1] == "+ touch .venv/.installed"


def test_an_unknown_argument_is_refused():
    result = subprocess.run(["bash", str(SCRIPT), "--platfrom", "x"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "--platfrom" in result.stderr
