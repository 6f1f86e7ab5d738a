"""make test-full (tools/full_profile.py): refuses without CUDA, sizes its workers by a rule."""

import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import full_profile  # noqa: E402

NO_GPU = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # refused on a GPU machine too


def test_the_script_refuses_to_start_without_cuda():
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "full_profile.py")],
                            capture_output=True, text=True, timeout=120, env=NO_GPU, cwd=ROOT)
    assert result.returncode == 2
    assert "needs a CUDA GPU" in result.stderr and "make test" in result.stderr
    assert result.stdout == ""  # no pytest started, no table printed


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_test_full_is_that_script_and_fails_without_cuda():
    # -o: take the venv as up to date, whatever the time stamps; no rebuild in a test.
    result = subprocess.run(["make", "-o", ".venv/.installed", "test-full"], capture_output=True,
                            text=True, timeout=120, env=NO_GPU, cwd=ROOT)
    assert result.returncode != 0
    assert "tools/full_profile.py" in result.stdout and "needs a CUDA GPU" in result.stderr


@pytest.mark.parametrize(("gpus", "cores", "notebooks", "expected"), [
    (1, 16, 33, 8),    # one H200, 16 cores: eight kernels share the GPU, two cores each
    (1, 6, 33, 3),     # few cores: two per notebook
    (1, 1, 33, 1),
    (2, 64, 33, 16),   # eight per GPU
    (8, 128, 33, 33),  # never more workers than notebooks
    (1, 16, 3, 3),
])
def test_workers_follow_the_gpus_and_the_cores(gpus, cores, notebooks, expected):
    assert full_profile.workers(gpus, cores, notebooks) == expected


def test_the_commands_run_nbval_in_the_full_profile_then_print_the_table():
    env, (pytest_command, table) = full_profile.commands(["notebooks/sk"], 8, 16)
    assert env == {"COURSE_PROFILE": "full", "OMP_NUM_THREADS": "2"}
    assert pytest_command[1:] == ["-m", "pytest", "-n", "8", "--dist", "loadfile", "--nbval-lax",
                                  "--nbval-current-env",
                                  "--junitxml=build/test-full-report.xml", "notebooks/sk"]
    assert table[1:] == ["-m", "bench", "notebooks", "--report", "build/test-full-report.xml",
                         "--limit", "240"]
    assert full_profile.count_notebooks(["notebooks"]) == 3 * full_profile.count_notebooks(
        ["notebooks/sk"])


def test_a_run_past_its_timeout_is_interrupted_and_still_writes_its_report(tmp_path):
    pid_file = tmp_path / "kernel.pid"
    cells = [f"import os, pathlib\npathlib.Path({str(pid_file)!r}).write_text(str(os.getpid()))",
             "import time\ntime.sleep(600)"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(notebook, tmp_path / "slow.ipynb")
    report = tmp_path / "report.xml"
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "1",
               "--dist", "loadfile", "--nbval-lax", "--nbval-current-env",
               f"--junitxml={report}", str(tmp_path / "slow.ipynb")]
    status = full_profile.run_until(command, dict(os.environ), timeout=15, grace=30)
    assert status != 0  # interrupted, not passed
    assert 'name="Cell 0"' in report.read_text()  # the report holds what ran before the timeout
    assert not running(str(tmp_path / "slow.ipynb"))  # no worker left behind
    kernel = int(pid_file.read_text())
    for _ in range(50):  # the kernel notices within a second or two that its worker is gone
        if not alive(kernel):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the notebook's kernel outlived the interrupted run")


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def running(text: str) -> list[int]:
    """Process ids whose command line contains ``text`` (read from /proc)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if text in cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace"):
                found.append(int(cmdline.parent.name))
    return found
