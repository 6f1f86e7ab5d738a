"""Explorers: interactive controls in a kernel, a static PNG at the defaults everywhere else."""

import ast
import base64
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

from course_lib import i18n, widgets
from course_lib.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parents[2]


def line(slope=1.0, kind="solid", grid=True):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, slope], linestyle=kind)
    ax.grid(grid)
    return fig


CONTROLS = {"slope": (0.0, 4.0, 0.5, 2.0), "kind": ["dashed", "solid"], "grid": False}


def test_defaults_take_the_fourth_slider_value_the_first_choice_and_fixed_values():
    assert widgets.defaults(CONTROLS) == {"slope": 2.0, "kind": "dashed", "grid": False}
    assert widgets.defaults({"x": (1, 5, 1)}) == {"x": 1}


def test_outside_a_kernel_the_static_figure_is_drawn():
    fig = widgets.explore(line, **CONTROLS)
    assert fig.axes[0].lines[0].get_ydata()[1] == 2.0
    plt.close(fig)


def test_explorer_offers_the_widget_and_a_png_fallback():
    explorer = widgets.Explorer(line, CONTROLS, lang="en")
    assert {name: c.value for name, c in explorer.controls.items()} == {
        "slope": 2.0, "kind": "dashed", "grid": False}
    bundle = explorer._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")
    assert data["text/plain"] == "line(slope=2.0, kind='dashed', grid=False)"


def test_a_change_redraws_the_image_inside_the_widget_and_leaves_no_figure_open():
    """Nothing is drawn beside the widget (so no viewer shows the figure twice): the inline
    backend shows open figures at the end of a cell, and the explorer leaves none."""
    before = plt.get_fignums()
    explorer = widgets.Explorer(line, CONTROLS, lang="en")
    assert explorer.image.value == explorer.png
    explorer.controls["slope"].value = 3.5
    assert explorer.current() == {"slope": 3.5, "kind": "dashed", "grid": False}
    assert explorer.image.value == widgets.static_png(line, explorer.current())
    assert explorer.image.value != explorer.png and plt.get_fignums() == before
    assert list(explorer.widget.children) == [*explorer.controls.values(), explorer.image]


def labelled(slope=1.0, activation="sigmoid", seed="mean"):
    return line(slope)


def test_controls_and_items_are_labelled_in_the_course_language():
    controls = {"slope": (0.0, 1.0, 0.5), "activation": ["sigmoid", "relu"],
                "seed": ["mean", "0"]}
    explorer = widgets.Explorer(labelled, controls, lang="sk")
    labels = {name: c.description for name, c in explorer.controls.items()}
    assert labels == {"slope": "slope", "activation": "aktivačná funkcia", "seed": "seed"}
    assert explorer.controls["activation"].options == (("sigmoida", "sigmoid"), ("ReLU", "relu"))
    assert explorer.controls["seed"].options == (("priemer", "mean"), ("0", "0"))
    assert explorer.current() == {"slope": 0.0, "activation": "sigmoid", "seed": "mean"}


def test_the_explorer_follows_the_course_language(monkeypatch):
    monkeypatch.setattr(i18n, "_current", "ru")
    explorer = widgets.Explorer(labelled, {"activation": ["sigmoid"]})
    assert explorer.controls["activation"].description == "функция активации"


def explorer_calls() -> list[ast.Call]:
    """Every ``explore(...)`` call in the code of the Slovak notebooks (code is the same in
    every language)."""
    calls = []
    for path in sorted((ROOT / "notebooks" / "sk").glob("*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code" and "explore(" in "".join(cell["source"]):
                tree = ast.parse("".join(cell["source"]))
                calls += [node for node in ast.walk(tree) if isinstance(node, ast.Call)
                          and getattr(node.func, "id", None) == "explore"]
    return calls


def test_every_explorer_of_the_notebooks_is_labelled_in_every_language():
    from course_lib import activations
    from course_lib.lectures import optimizers

    names = {"activations": activations, "oe": optimizers}
    calls = explorer_calls()
    assert len(calls) >= 9
    missing = []
    for call in calls:
        for keyword in call.keywords:
            items = eval(compile(ast.Expression(keyword.value), "<explore>", "eval"), names)  # noqa: S307
            keys = [f"widgets.control.{keyword.arg}"] if isinstance(items, tuple | list | bool) \
                else []
            if isinstance(items, list):
                keys += [f"widgets.option.{item}" for item in items
                         if not str(item).replace(".", "").isdigit()]
            missing += [f"{lang}: {key}" for lang in LANGUAGES for key in keys
                        if key not in i18n.catalog(lang)]
    assert missing == []


def test_the_static_figure_is_closed_after_rendering():
    before = plt.get_fignums()
    png = widgets.static_png(line, {"slope": 1.0})
    assert png.startswith(b"\x89PNG") and plt.get_fignums() == before


@pytest.mark.parametrize("shell", [None, object()])
def test_kernel_detection_needs_an_ipython_kernel(monkeypatch, shell):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert widgets.in_ipython_kernel() is False
