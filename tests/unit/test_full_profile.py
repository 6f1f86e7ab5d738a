"""make test-full (tools/full_profile.py): refuses without CUDA, sizes its workers by a rule."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
