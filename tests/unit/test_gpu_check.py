"""tools/gpu_check.sh: the prepared run for a lent GPU machine, checked through --dry-run."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tools" / "gpu_check.sh"
CALL_LIMIT_S = 600  # the most one command may run on a lent machine


def dry_run(*args: str, **env: str) -> list[str]:
    result = subprocess.run(["bash", str(SCRIPT), "--dry-run", *args], capture_output=True,
                            text=True, timeout=60, check=True, env={"PATH": "/usr/bin:/bin", **env})
    return result.stdout.splitlines()


def limits(lines: list[str]) -> list[int]:
    return [int(line.split()[2]) for line in lines]


def test_by_default_it_installs_then_runs_the_full_profile_then_the_benchmarks():
    lines = dry_run()
    commands = [" ".join(line.split()[3:]) for line in lines]
    assert commands == [
        "tools/gpu_wheels.sh install",
        ".venv/bin/python tools/full_profile.py --timeout 420",
        ".venv/bin/python -m bench training --rounds 4 --compile off\\,reduce-overhead",
        ".venv/bin/python -m bench stacked --rounds 1",
    ]


def test_the_full_profile_stops_itself_before_the_outer_limit_and_fits_one_call():
    [line] = dry_run("test-full", TEST_FULL_S="300")
    outer, inner = int(line.split()[2]), int(line.split()[-1])
    assert inner == 300 and outer > inner  # its own timeout first: the report is written
    assert outer < CALL_LIMIT_S


def test_the_records_phase_trains_what_is_not_shipped_into_the_packages_full_folders():
    lines = dry_run("records")
    assert ("-m course_lib.labs.merging.experiments --profile full --out "
            "course_lib/labs/merging/runs/full") in lines[0]
    assert "-m course_lib.labs.shift_scale --profile full" in lines[1]
    assert "--out course_lib/labs/shift_scale/runs/full --deadline 180" in lines[1]
    assert sum(limits(lines)) < CALL_LIMIT_S
    assert sum(limits(dry_run("bench"))) < CALL_LIMIT_S


def test_an_unknown_phase_is_refused():
    result = subprocess.run(["bash", str(SCRIPT), "tests"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2 and "unknown phase" in result.stderr
