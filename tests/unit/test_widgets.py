"""Explorers: interactive controls in a kernel, a static PNG at the defaults everywhere else."""

import base64

import matplotlib.pyplot as plt
import pytest

from course_lib import widgets


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
    explorer = widgets.Explorer(line, CONTROLS)
    values = {c.description: c.value for c in explorer.widget.kwargs_widgets}
    assert values == {"slope": 2.0, "kind": "dashed", "grid": False}
    bundle = explorer._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert "application/vnd.jupyter.widget-view+json" in data
    assert base64.b64decode(data["image/png"]).startswith(b"\x89PNG")


def test_the_static_figure_is_closed_after_rendering():
    before = plt.get_fignums()
    png = widgets.static_png(line, {"slope": 1.0})
    assert png.startswith(b"\x89PNG") and plt.get_fignums() == before


@pytest.mark.parametrize("shell", [None, object()])
def test_kernel_detection_needs_an_ipython_kernel(monkeypatch, shell):
    import IPython

    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    assert widgets.in_ipython_kernel() is False
