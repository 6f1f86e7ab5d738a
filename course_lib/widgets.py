"""Interactive explorers that degrade to a static figure where no widget front end exists.

    explore(plot, lr=(1e-3, 1.0, 1e-3), optimizer=["sgd", "adam"], steps=50)

``plot(**values)`` draws one matplotlib figure for the given control values and returns it
(without calling ``plt.show``). In JupyterLab the explorer shows sliders and drop-downs and
redraws on every change. Its output also carries a PNG of the figure at the default values, so
a viewer without a widget manager (a static HTML export, a slide deck, GitHub) shows that
figure instead of an empty widget; outside IPython ``explore`` just draws the static figure.

Controls, as in ``ipywidgets.interact``: ``(min, max, step)`` for a slider whose default is the
first value unless given as ``(min, max, step, default)``, a list for a drop-down (default: the
first item), a bool for a check box, a plain number for a fixed value.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import matplotlib.pyplot as plt


def defaults(controls: dict) -> dict:
    """The value each control starts at."""
    values = {}
    for name, spec in controls.items():
        if isinstance(spec, tuple):
            values[name] = spec[3] if len(spec) == 4 else spec[0]
        elif isinstance(spec, list):
            values[name] = spec[0]
        else:
            values[name] = spec
    return values


def static_png(plot: Callable, values: dict) -> bytes:
    """The figure ``plot(**values)`` as PNG bytes (the figure is closed afterwards)."""
    fig = plot(**values)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


class Explorer:
    """An ``ipywidgets.interactive`` whose display falls back to a PNG at the default values."""

    def __init__(self, plot: Callable, controls: dict):
        import ipywidgets

        self.values = defaults(controls)
        self.png = static_png(plot, self.values)
        specs = {name: _widget_spec(spec) for name, spec in controls.items()}
        self.widget = ipywidgets.interactive(_showing(plot), **specs)
        for control in self.widget.kwargs_widgets:
            control.value = self.values[control.description]

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["image/png"] = base64.b64encode(self.png).decode("ascii")
        return bundle


def _widget_spec(spec):
    if isinstance(spec, tuple) and len(spec) == 4:
        return spec[:3]
    if isinstance(spec, (int, float, str)) and not isinstance(spec, bool):
        import ipywidgets

        return ipywidgets.fixed(spec)
    return spec


def _showing(plot: Callable) -> Callable:
    def draw(**values):
        plot(**values)
        plt.show()

    return draw


def in_ipython_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def explore(plot: Callable, **controls):
    """An explorer of ``plot`` over ``controls`` (see the module docstring)."""
    if not in_ipython_kernel():
        fig = plot(**defaults(controls))
        plt.show()
        return fig
    return Explorer(plot, controls)
