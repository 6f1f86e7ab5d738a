"""tools/sync_code.py keeps the languages in lock-step; tools/make_student.py blanks solutions."""

import copy
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import make_student  # noqa: E402
import sync_code  # noqa: E402
from notebook_io import read, source, write  # noqa: E402


def notebook(lang: str, extra_code: str = "x = 1") -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# Title in {lang}"),
        nbformat.v4.new_code_cell(f'from course_lib import setup\ncourse = setup(lang="{lang}")'),
        nbformat.v4.new_markdown_cell(f"Text in {lang}"),
        nbformat.v4.new_code_cell(extra_code),
    ]
    for cell in nb.cells:
        cell.metadata["slideshow"] = {"slide_type": "slide"}
    return nbformat.from_dict(nb)


@pytest.fixture
def tree(tmp_path):
    for lang in sync_code.LANGS:
        write(tmp_path / lang / "01_demo.ipynb", notebook(lang))
    return tmp_path


def test_the_course_notebooks_are_in_lock_step():
    assert sync_code.check() == []


def test_check_passes_on_aligned_notebooks(tree):
    assert sync_code.check(tree) == []
    assert sync_code.main(["--check", "--root", str(tree)]) == 0


def test_check_reports_changed_code(tree):
    path = tree / "sr" / "01_demo.ipynb"
    nb = read(path)
    nb["cells"][3]["source"] = "x = 2"
    write(path, nb)
    assert sync_code.check(tree) == ["sr/01_demo.ipynb cell 3: code differs"]
    assert sync_code.main(["--check", "--root", str(tree)]) == 1


def test_check_reports_a_missing_notebook_and_a_wrong_cell_count(tree):
    (tree / "ru" / "01_demo.ipynb").unlink()
    nb = read(tree / "sr" / "01_demo.ipynb")
    nb["cells"].append(copy.deepcopy(nb["cells"][2]))
    write(tree / "sr" / "01_demo.ipynb", nb)
    problems = sync_code.check(tree)
    assert "ru/01_demo.ipynb: missing" in problems
    assert "sr/01_demo.ipynb: 5 cells, the reference has 4" in problems


def test_check_reports_cell_type_slide_metadata_and_language(tree):
    nb = read(tree / "ru" / "01_demo.ipynb")
    nb["cells"][2]["cell_type"] = "raw"
    nb["cells"][0]["metadata"]["slideshow"] = {"slide_type": "fragment"}
    nb["cells"][1]["source"] = 'from course_lib import setup\ncourse = setup(lang="sk")'
    write(tree / "ru" / "01_demo.ipynb", nb)
    problems = " | ".join(sync_code.check(tree))
    assert "cell 2: raw where the reference has markdown" in problems
    assert "cell 0: slide metadata or tags differ" in problems
    assert "cell 1: code differs" in problems


def test_sync_copies_code_and_metadata_but_keeps_language_and_markdown(tree):
    path = tree / "sk" / "01_demo.ipynb"
    nb = read(path)
    nb["cells"][3]["source"] = "y = 42"
    nb["cells"][2]["metadata"]["slideshow"] = {"slide_type": "notes"}
    write(path, nb)
    changed, problems = sync_code.sync(tree, "sk")
    assert sorted(changed) == ["ru/01_demo.ipynb", "sr/01_demo.ipynb"] and problems == []
    ru = read(tree / "ru" / "01_demo.ipynb")
    assert source(ru["cells"][3]) == "y = 42"
    assert 'setup(lang="ru")' in source(ru["cells"][1])
    assert source(ru["cells"][2]) == "Text in ru"
    assert ru["cells"][2]["metadata"]["slideshow"] == {"slide_type": "notes"}
    assert sync_code.check(tree) == []


def test_sync_refuses_to_guess_when_structure_differs(tree):
    nb = read(tree / "sr" / "01_demo.ipynb")
    del nb["cells"][2]
    write(tree / "sr" / "01_demo.ipynb", nb)
    assert sync_code.main(["--root", str(tree)]) == 1


def test_sync_cli_runs_as_a_script(tree):
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "sync_code.py"), "--check", "--root", str(tree)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0 and "lock-step" in result.stdout


SOLVED = """def sigmoid(x):
    # BEGIN SOLUTION
    return 1 / (1 + torch.exp(-x))
    # END SOLUTION

course.check.sigmoid(sigmoid)
"""


def test_student_version_replaces_each_solution_with_not_implemented():
    assert make_student.strip_solutions(SOLVED) == (
        "def sigmoid(x):\n    raise NotImplementedError\n\ncourse.check.sigmoid(sigmoid)\n"
    )


@pytest.mark.parametrize(
    "broken", ["# BEGIN SOLUTION\nx\n", "x\n# END SOLUTION\n", "# BEGIN SOLUTION\n# BEGIN SOLUTION\n"]
)
def test_unbalanced_solution_markers_are_errors(broken):
    with pytest.raises(ValueError):
        make_student.strip_solutions(broken)


def test_make_student_writes_every_language(tree, tmp_path):
    for lang in sync_code.LANGS:
        write(tree / lang / "02_ex.ipynb", notebook(lang, SOLVED))
    out = tmp_path / "student"
    assert make_student.main(["--out", str(out), "--root", str(tree)]) == 0
    for lang in sync_code.LANGS:
        cells = read(out / lang / "02_ex.ipynb")["cells"]
        assert "NotImplementedError" in source(cells[3])
        assert "BEGIN SOLUTION" not in source(cells[3]) and cells[3]["outputs"] == []
