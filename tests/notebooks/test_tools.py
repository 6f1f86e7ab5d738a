"""The notebook tools: languages in lock-step, student versions, JupyterLab-stable files,
portable outputs, nbval tags and slides that work offline."""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

import make_student  # noqa: E402
import sync_code  # noqa: E402
from notebook_io import WIDGET_VIEW, dumps, normalize, read, source, write  # noqa: E402

NBVAL_TAG = "nbval-check-output"


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


@pytest.mark.parametrize("broken", [
    "# BEGIN SOLUTION\nx\n", "x\n# END SOLUTION\n", "# BEGIN SOLUTION\n# BEGIN SOLUTION\n"])
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


# --- student versions: exercises blank, nothing that depends on a solution shown, no notes

EXERCISE = """def double(x):
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION
"""


def executed(code: str, text: str) -> dict:
    cell = nbformat.v4.new_code_cell(code, execution_count=1)
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
    return cell


def exercise_notebook() -> dict:
    nb = notebook("sk")
    note = nbformat.v4.new_markdown_cell("Only for the instructor")
    note.metadata["slideshow"] = {"slide_type": "notes"}
    nb.cells += [
        executed("y = 3\nprint(y)", "3\n"),
        executed(EXERCISE, ""),
        executed("course.check.double(double)", "✔ double: correct!\n"),
        executed("z = double(y)\nprint(z)", "6\n"),
        executed("print(z + 1)", "7\n"),
        note,
        executed("z = 5\nprint(z, y)", "5 3\n"),
        executed("print(z)", "5\n"),
    ]
    return nbformat.from_dict(nb)


def test_student_version_clears_every_output_that_depends_on_a_solution():
    nb, blanked = make_student.student_notebook(exercise_notebook())
    outputs = {source(c).splitlines()[0]: c.get("outputs") for c in nb["cells"]
               if c["cell_type"] == "code"}
    assert blanked == 1
    assert outputs["def double(x):"] == [] and outputs["course.check.double(double)"] == []
    assert outputs["z = double(y)"] == [] and outputs["print(z + 1)"] == []
    assert [o["text"] for o in outputs["y = 3"]] == ["3\n"]
    assert [o["text"] for o in outputs["z = 5"]] == ["5 3\n"]  # z is redefined: shown again
    assert [o["text"] for o in outputs["print(z)"]] == ["5\n"]


def test_student_version_drops_the_instructors_notes():
    nb, _ = make_student.student_notebook(exercise_notebook())
    assert [source(c) for c in nb["cells"] if c["cell_type"] == "markdown"] == [
        "# Title in sk", "Text in sk"]


@pytest.mark.parametrize(("code", "bound", "read_"), [
    ("a, b = f(x)", {"a", "b"}, {"f", "x"}),
    ("import numpy as np", {"np"}, set()),
    ("def g(v):\n    w = v + c\n    return w", {"g"}, {"v", "c", "w"}),
    ("rows.append(f(1))", {"rows"}, {"rows", "f"}),
    ("m.weight[0] = t", {"m"}, {"m", "t"}),
    ("out = [k * k for k in ks]", {"out"}, {"k", "ks"}),
    ("%timeit f(x)", set(), {"timeit", "f", "x"}),
])
def test_statements_name_what_they_bind_and_read(code, bound, read_):
    assert make_student.statements(code) == [(bound, read_, False)]


def test_make_student_keeps_a_students_work_and_copies_the_slide_style(tree, tmp_path):
    for lang in sync_code.LANGS:
        (tree / lang / "rise.css").write_text(".jp-Notebook-footer { display: none }\n")
    out = tmp_path / "student"
    assert make_student.main(["--out", str(out), "--root", str(tree)]) == 0
    work = out / "sk" / "01_demo.ipynb"
    nb = read(work)
    nb["cells"][3]["source"] = "x = 'my answer'"
    write(work, nb)
    assert make_student.main(["--out", str(out), "--root", str(tree), "--keep-existing"]) == 0
    assert source(read(work)["cells"][3]) == "x = 'my answer'"
    assert (out / "ru" / "rise.css").read_text() == ".jp-Notebook-footer { display: none }\n"
    assert make_student.main(["--out", str(out), "--root", str(tree)]) == 0
    assert source(read(work)["cells"][3]) == "x = 1"


@pytest.fixture(scope="module")
def course_student(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    make_student.main(["--out", str(out)])
    return out


def test_course_student_notebooks_show_no_verdict_under_a_blank_exercise(course_student):
    from course_lib.i18n import t

    passed = [t("checks.passed", lang=lang, exercise="@", n=0).split("@")[1][:12]
              for lang in sync_code.LANGS]
    checked, blanked = 0, 0
    for path in sorted(course_student.glob("*/*.ipynb")):
        for cell in read(path)["cells"]:
            text = source(cell)
            if cell["cell_type"] == "code" and "course.check." in text:
                checked += 1
                assert cell["outputs"] == [] and cell["execution_count"] is None, path
            blanked += text.count("raise NotImplementedError")
            shown = json.dumps(cell.get("outputs", []), ensure_ascii=False)
            assert "#2e7d32" not in shown and not any(p in shown for p in passed), path
            assert not make_student.is_note(cell), path
    assert checked >= 70 and blanked >= 70


def test_course_student_notebooks_keep_the_outputs_that_need_no_solution(course_student):
    for lang in sync_code.LANGS:
        solved = read(ROOT / "notebooks" / lang / "01_neuron_activations.ipynb")
        student = read(course_student / lang / "01_neuron_activations.ipynb")
        shown = [c for c in student["cells"] if c["cell_type"] == "code" and c["outputs"]]
        assert 0.6 * sum(bool(c.get("outputs")) for c in solved["cells"]) < len(shown)
        assert (course_student / lang / "rise.css").exists()


# --- committed notebooks: stable under a JupyterLab save, tagged for nbval, portable outputs

NOTEBOOK_PATHS = sorted((ROOT / "notebooks").glob("*/*.ipynb"))


def test_normalize_drops_widget_state_and_views_and_writes_numbers_as_a_browser_does():
    nb = nbformat.from_dict(notebook("sk"))
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata["scale"] = 4.0
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    nb.cells[3].outputs = [
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: view, "image/png": "iVBOR"}),
        nbformat.v4.new_output("display_data", data={WIDGET_VIEW: view}),
        nbformat.v4.new_output("stream", name="stdout", text="0.5\n"),
    ]
    normalized = normalize(nb)
    assert "widgets" not in normalized["metadata"] and normalized["metadata"]["scale"] == 4
    assert isinstance(normalized["metadata"]["scale"], int)
    assert [o.get("data") for o in normalized["cells"][3]["outputs"]] == [
        {"image/png": "iVBOR"}, None]


def test_portable_outputs_name_paths_relative_to_the_repository(tmp_path):
    import execute_notebooks

    nb = nbformat.from_dict(notebook("sk"))
    nb.cells[3].metadata["execution"] = {"iopub.status.busy": "2026-01-01T00:00:00Z"}
    nb.cells[3].outputs = [nbformat.v4.new_output(
        "stream", name="stdout", text=f"missing: {tmp_path}/data/cifar-10\n")]
    portable = execute_notebooks.portable(nb, root=tmp_path)
    assert portable["cells"][3]["outputs"][0]["text"] == "missing: data/cifar-10\n"
    assert "execution" not in portable["cells"][3]["metadata"]


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_notebook_is_already_in_the_form_a_jupyterlab_save_writes(path):
    """No widget state, no widget views, numbers as JavaScript writes them, nbformat's bytes:
    opening the notebook in JupyterLab and saving it (RISE's preview does) changes nothing."""
    text = path.read_text(encoding="utf-8")
    assert dumps(normalize(read(path))) == text


@pytest.mark.parametrize("path", NOTEBOOK_PATHS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_outputs_name_no_path_of_the_machine_that_ran_them(path):
    shown = json.dumps([c.get("outputs", []) for c in read(path)["cells"]], ensure_ascii=False)
    assert str(ROOT) not in shown
    assert not re.search(r"(?<![\w.])/(home|root|work|tmp|Users)/\w", shown)


def test_output_checks_are_cell_tags_that_nbval_honours_not_comments():
    from nbval.plugin import find_comment_markers, find_metadata_tags

    assert dict(find_metadata_tags({"tags": [NBVAL_TAG]})) == {"check": True}
    for lang in sync_code.LANGS:
        tagged = 0
        for path in sorted((ROOT / "notebooks" / lang).glob("*.ipynb")):
            for cell in read(path)["cells"]:
                if cell["cell_type"] == "code":
                    assert not list(find_comment_markers(source(cell))), (path, source(cell))
                    tagged += NBVAL_TAG in cell["metadata"].get("tags", [])
        assert tagged >= 50, lang


# --- offline slides

def test_slides_load_every_script_and_style_from_local_copies(tmp_path):
    import make_slides

    deck = make_slides.make_decks([ROOT / "notebooks" / "ru" / "00_pytorch_basics.ipynb"],
                                  tmp_path)[0]
    html = deck.read_text(encoding="utf-8")
    loads = re.findall(r"<(?:script|link)\b[^>]*\b(?:src|href)=\"([^\"#]+)\"", html)
    required = re.search(r"require\(\s*\{[^}]*\},\s*\[([^\]]*)\]", html)[1]
    loads += re.findall(r"\"([^\"]+)\"", required)
    assert {"../assets/reveal.js/dist/reveal.js", "../assets/jquery/jquery.min.js",
            "../assets/requirejs/require.js"} <= set(loads)
    assert any(url.startswith("../assets/mathjax/MathJax.js?config=") for url in loads)
    remote = [url for url in loads if re.match(r"(https?:)?//", url)]
    assert remote == []
    for url in loads:
        target = (deck.parent / url.split("?")[0]).resolve()
        assert target.is_file(), url
        if target.suffix == ".css":
            assert not re.search(r"@import\s+url\(\s*['\"]?(https?:)?//",
                                 target.read_text(encoding="utf-8")), url
    assert not re.search(r"""\bimport\b[^;]*?['"](https?:)?//""", html)  # no remote module
