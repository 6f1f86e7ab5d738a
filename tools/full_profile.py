"""``make test-full``: every notebook under nbval in the full profile, on the GPU.

    python tools/full_profile.py [--dry-run] [PATH ...]      # default PATH: notebooks

Without CUDA it refuses to start (exit status 2): the full profile's sizes and epochs would take
hours on the CPU. With CUDA it runs pytest-xdist with ``W`` workers, one notebook at a time each
(``--dist loadfile``), in its own kernel:

    W = max(1, min(NOTEBOOKS_PER_GPU * gpus, cores // 2, notebooks))

- ``NOTEBOOKS_PER_GPU = 8`` (ours): a full-profile notebook keeps the GPU busy only part of the
  time (data preparation, evaluation, plots); eight kernels per GPU fill the gaps, more would
  only queue for it, and each holds its own CUDA context (about 0.5 GB);
- ``cores // 2``: a notebook needs a core for its kernel's Python and one for torch's CPU side;
- at most one worker per notebook.

``cores`` are the CPUs this process may run on (``os.sched_getaffinity``). Each kernel gets
``OMP_NUM_THREADS = cores // W`` threads; ``WORKERS_FULL=n`` overrides ``W``. Afterwards it prints
the seconds of every notebook, per language, and the wall time (``python -m bench notebooks
--report build/test-full-report.xml``), naming the notebooks above ``LIMIT_S`` and those that
did not finish.

``--timeout S`` stops the run after ``S`` seconds as Ctrl-C would (SIGINT to pytest and its
workers), so that pytest still writes the report of the cells run so far and the table shows
them; what is left after ``GRACE_S`` more seconds is killed. The kernels run in sessions of
their own (jupyter_client starts them so) and stop with the workers that own them (nbval shuts
them down; ipykernel exits when its parent is gone). On a GPU lent for a few
minutes, give it a timeout below the one of the command around it (e.g. ``--timeout 480`` inside a
600 s call), or a killed run leaves no report at all.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = "build/test-full-report.xml"
NOTEBOOKS_PER_GPU = 8
LIMIT_S = 240  # the bound for one notebook in the full profile
GRACE_S = 60  # after SIGINT: time for pytest to stop its workers and write the report


def workers(gpus: int, cores: int, notebooks: int) -> int:
    """The rule of the module docstring."""
    return max(1, min(NOTEBOOKS_PER_GPU * gpus, cores // 2, notebooks))


def count_notebooks(paths: list[str]) -> int:
    found = 0
    for path in paths:
        path = ROOT / path
        found += 1 if path.suffix == ".ipynb" else len(list(path.rglob("*.ipynb")))
    return found


def commands(paths: list[str], n_workers: int, cores: int) -> tuple[dict, list[list[str]]]:
    """``(environment additions, [pytest command, table command])``."""
    env = {"COURSE_PROFILE": "full", "OMP_NUM_THREADS": str(max(1, cores // n_workers))}
    pytest = [sys.executable, "-m", "pytest", "-n", str(n_workers), "--dist", "loadfile",
              "--nbval-lax", "--nbval-current-env", f"--junitxml={REPORT}", *paths]
    table = [sys.executable, "-m", "bench", "notebooks", "--report", REPORT,
             "--limit", str(LIMIT_S)]
    return env, [pytest, table]


def run_until(command: list[str], env: dict, timeout: float | None,
              grace: float = GRACE_S) -> int:
    """Run ``command`` in its own process group; after ``timeout`` seconds interrupt the group
    (SIGINT, as Ctrl-C does), after ``grace`` more kill it. Returns the exit status."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"\n--timeout {timeout:g} s reached: stopping, the report keeps the cells run so far",
              flush=True)
        os.killpg(process.pid, signal.SIGINT)
    try:
        status = process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        status = None
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # workers that outlived pytest
    return process.wait() if status is None else status


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tools/full_profile.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="print the commands only")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="stop after S seconds, keeping the report of what ran")
    parser.add_argument("paths", nargs="*", default=["notebooks"])
    args = parser.parse_args(argv)
    import torch

    if not torch.cuda.is_available():
        print("make test-full needs a CUDA GPU, and PyTorch sees none "
              "(torch.cuda.is_available() is False): the full profile would take hours on the "
              "CPU. Run `make test` for the quick profile (README: GPU and the full profile).",
              file=sys.stderr)
        return 2
    gpus, cores = torch.cuda.device_count(), len(os.sched_getaffinity(0))
    notebooks = count_notebooks(args.paths)
    n_workers = int(os.environ.get("WORKERS_FULL") or workers(gpus, cores, notebooks))
    env, (pytest, table) = commands(args.paths, n_workers, cores)
    print(f"{notebooks} notebooks, {gpus} GPU(s), {cores} cores: {n_workers} workers, "
          f"{env['OMP_NUM_THREADS']} threads each", flush=True)
    if args.dry_run:
        for command in (pytest, table):
            print(" ".join(f"{k}={v}" for k, v in env.items()), shlex.join(command))
        return 0
    status = run_until(pytest, {**os.environ, **env}, args.timeout)
    subprocess.run(table, cwd=ROOT)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
