"""Interactive explorers that degrade to a static figure where no widget front end exists.

    explore(plot, lr=(1e-3, 1.0, 1e-3), optimizer=["sgd", "adam"], steps=50)

``plot(**values)`` draws one matplotlib figure for the given control values and returns it
(without calling ``plt.show``). In JupyterLab's notebook view the explorer shows sliders and
drop-downs above the figure and redraws it on every change. The figure inside the explorer is
an image widget, so nothing is printed into the cell's output beside it; and the output also
carries a PNG of the figure at the default values, so a viewer without a widget manager (a
static HTML export, ``make slides``, GitHub, RISE's slide mode) shows that figure, once,
instead of an empty widget. Outside IPython ``explore`` just draws the static figure.

Controls, as in ``ipywidgets.interact``: ``(min, max, step)`` for a slider whose default is the
first value unless given as ``(min, max, step, default)``, a list for a drop-down (default: the
first item), a bool for a check box, a plain number or string for a fixed value.

Labels are in the course language: control ``name`` is labelled by the catalog entry
``widgets.control.<name>``, a drop-down item ``value`` by ``widgets.option.<value>``; a name or
an item without an entry (a number, say) is shown as it is.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

import matplotlib.pyplot as plt

from .i18n import catalog, check_language, get_language


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


def control_label(name: str, lang: str) -> str:
    """The label of control ``name`` in ``lang`` (the name itself if the catalog has none)."""
    return catalog(lang).get(f"widgets.control.{name}", name)


def option_label(value, lang: str) -> str:
    """The label of drop-down item ``value`` in ``lang`` (``str(value)`` if none)."""
    return catalog(lang).get(f"widgets.option.{value}", str(value))


class Explorer:
    """Labelled controls above an image of ``plot(**values)``, redrawn on every change; its
    display carries a PNG at the default values for viewers without widgets."""

    def __init__(self, plot: Callable, controls: dict, lang: str | None = None):
        import ipywidgets

        self.plot = plot
        self.lang = check_language(lang or get_language())
        self.values = defaults(controls)
        self.png = static_png(plot, self.values)
        self.controls = {name: _control(name, spec, self.values[name], self.lang)
                         for name, spec in controls.items() if _is_control(spec)}
        self.image = ipywidgets.Image(value=self.png, format="png")
        for control in self.controls.values():
            control.observe(self._redraw, names="value")
        # flex-start: the figure at its own size, not stretched to the notebook's width
        self.widget = ipywidgets.VBox([*self.controls.values(), self.image],
                                      layout=ipywidgets.Layout(align_items="flex-start"))

    def current(self) -> dict:
        """The values the figure is drawn for now."""
        return {**self.values, **{name: c.value for name, c in self.controls.items()}}

    def _redraw(self, change=None) -> None:
        self.image.value = static_png(self.plot, self.current())

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.widget._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["image/png"] = base64.b64encode(self.png).decode("ascii")
        shown = ", ".join(f"{name}={value!r}" for name, value in self.values.items())
        data["text/plain"] = f"{getattr(self.plot, '__name__', 'plot')}({shown})"
        return bundle


def _is_control(spec) -> bool:
    return isinstance(spec, tuple | list | bool)


def _control(name: str, spec, value, lang: str):
    import ipywidgets

    if isinstance(spec, list):
        spec = [(option_label(item, lang), item) for item in spec]
    elif isinstance(spec, tuple):
        spec = spec[:3]
    widget = ipywidgets.interactive.widget_from_abbrev(spec, value)
    widget.description = control_label(name, lang)
    widget.style = {"description_width": "initial"}
    return widget


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
