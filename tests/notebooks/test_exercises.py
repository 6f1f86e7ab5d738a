"""Exercises: each solution passes its checker; each student stub fails with a localized hint.

Convention: an exercise cell defines functions with the solution between ``# BEGIN SOLUTION``
and ``# END SOLUTION`` and needs only torch, numpy and math; a later code cell calls
``course.check.<exercise>(<function>)``. Lectures 01-07 have at least two exercises each.
"""

import re
import sys
from pathlib import Path

import pytest

from course_lib.checks import Checker
from course_lib.i18n import t

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from make_student import BEGIN, strip_solutions  # noqa: E402
from notebook_io import read, source  # noqa: E402

CHECK_CALL = re.compile(r"course\.check\.(\w+)\((\w+)\)")
PRELUDE = "import math\nimport numpy as np\nimport torch\nfrom torch import nn\n"


def exercises(path: Path) -> list[tuple[str, str, str]]:
    """(exercise name, function name, exercise cell code) for each checker call."""
    cells = [source(c) for c in read(path)["cells"] if c["cell_type"] == "code"]
    found = []
    for i, code in enumerate(cells):
        if BEGIN not in code:
            continue
        for later in cells[i + 1 :]:
            calls = CHECK_CALL.findall(later)
            if calls:
                found += [(name, fn, code) for name, fn in calls if f"def {fn}(" in code]
                break
    return found


def run(code: str) -> dict:
    namespace: dict = {}
    exec(PRELUDE + code, namespace)  # noqa: S102 - the course's own notebook code
    return namespace


NOTEBOOKS = sorted((ROOT / "notebooks").glob("*/*.ipynb"))
CASES = [(path, *ex) for path in NOTEBOOKS for ex in exercises(path)]


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if re.match(r"0[1-7]_", p.name)],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_lecture_has_at_least_two_checked_exercises(path):
    assert len({name for name, _, _ in exercises(path)}) >= 2


@pytest.mark.parametrize("path, name, fn, code", CASES,
                         ids=[f"{p.parent.name}/{p.stem}:{n}" for p, n, _, _ in CASES])
def test_solution_passes_and_student_stub_fails_with_a_localized_hint(path, name, fn, code):
    lang = path.parent.name
    solved = Checker(lang).check(name, run(code)[fn])
    assert solved.passed, str(solved)

    stub = Checker(lang).check(name, run(strip_solutions(code))[fn])
    assert not stub.passed
    assert stub.message == t("checks.not_implemented", lang=lang, exercise=name)
    assert stub.hint == t("checks.hint_not_implemented", lang=lang)
    assert "Traceback" not in str(stub)


def off_by_one(answer):
    """A wrong answer of the right type, shape and dtype: every entry plus one."""
    if isinstance(answer, tuple):
        return tuple(off_by_one(a) for a in answer)
    return answer + 1


@pytest.mark.parametrize("path, name, fn, code", CASES,
                         ids=[f"{p.parent.name}/{p.stem}:{n}" for p, n, _, _ in CASES])
def test_wrong_answers_get_a_nudge_first_and_the_full_hint_after_repeated_failures(
        path, name, fn, code):
    lang, solution = path.parent.name, run(code)[fn]
    checker = Checker(lang)
    hints = [checker.check(name, lambda *args: off_by_one(solution(*args))).hint
             for _ in range(Checker.NUDGES + 1)]
    nudge = t(f"checks.nudge.{name}", lang=lang)
    assert hints[0].startswith(nudge) and hints[0] == hints[Checker.NUDGES - 1]
    assert t("checks.graded.more", lang=lang, exercise=name) in hints[0]
    assert hints[-1] == checker.hint(name).text != hints[0]
