"""Exercises of lab 09 (shift and scale layers against batch norm): a channel-wise shift and
scale, the parameters they add to a network, and the EMA of training errors of the thesis.

The references reuse ``course_lib.normalization`` (``Scale``, ``Shift``, ``parameter_shape``)
and ``course_lib.training.ema_curve``. The cases are chosen so that the usual slips fail:
channels of different sizes catch a parameter broadcast over the wrong dimension, a single
example catches a hard-coded batch size, and a short EMA catches a missing bias correction.
"""

from __future__ import annotations

import math

import torch

from ..checks import exercise
from ..normalization import Scale, Shift, parameter_shape
from ..training import ema_curve


def _randn(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _channel_cases(gen):
    def case(n, c, h, w):
        return {"x": _randn(gen, n, c, h, w), "a": _randn(gen, c), "b": _randn(gen, c)}

    return [case(2, 3, 4, 4), case(1, 5, 2, 3), case(4, 2, 3, 3)]


@exercise("channel_shift_scale", cases=_channel_cases, outputs=("out",),
          hint="lecture09.hint_channel_shift_scale")
def channel_shift_scale(x, a, b):
    """A channel Shift then a channel Scale, the thesis' order:
    ``out[n, c, i, j] = a[c] * (x[n, c, i, j] + b[c])``.

    x: (N, C, H, W); a, b: (C,); out: (N, C, H, W).
    """
    scale, shift = Scale(x.shape[1:], "channel").double(), Shift(x.shape[1:], "channel").double()
    with torch.no_grad():
        scale.a.copy_(a)
        shift.b.copy_(b)
        return scale(shift(x))


def _added_cases(gen):
    fcn = [(3, 32, 32), (32, 32, 32), (32, 16, 16), (64, 16, 16), (64, 8, 8)]
    mlp = [(784,), (256,), (128,)]
    return [
        {"shapes": fcn, "scale": "layer", "shift": "layer"},
        {"shapes": fcn, "scale": "channel", "shift": "channel"},
        {"shapes": mlp, "scale": "element", "shift": None},
        {"shapes": fcn, "scale": None, "shift": "element"},
        {"shapes": mlp, "scale": None, "shift": None},
    ]


@exercise("added_parameters", cases=_added_cases, outputs=("count",),
          hint="lecture09.hint_added_parameters")
def added_parameters(shapes, scale, shift):
    """The number of parameters that Scale(``scale``) and Shift(``shift``) layers add to a
    network, one pair at each place of ``shapes`` (per-example activation shapes such as
    ``(C, H, W)`` or ``(D,)``); ``None`` leaves that layer out. Per place: ``prod(shape)``
    (element), ``shape[0]`` (channel) or 1 (layer)."""
    return sum(math.prod(parameter_shape(shape, granularity))
               for shape in shapes for granularity in (scale, shift) if granularity is not None)


def _ema_cases(gen):
    steps = (torch.rand(300, generator=gen, dtype=torch.float64) < 0.4).double()
    return [
        {"errors": torch.rand(8, generator=gen, dtype=torch.float64), "beta": 0.99},
        {"errors": steps, "beta": 0.99},
        {"errors": torch.rand(50, generator=gen, dtype=torch.float64), "beta": 0.9},
    ]


@exercise("ema_errors", cases=_ema_cases, outputs=("smoothed",),
          hint="lecture09.hint_ema_errors")
def ema_errors(errors, beta):
    """The bias-corrected exponential moving average of per-step errors (T,) -> (T,)::

    m_0 = 0,  m_t = beta m_{t-1} + (1 - beta) e_t,  smoothed_t = m_t / (1 - beta^t)
    """
    return torch.tensor(ema_curve(errors.tolist(), beta), dtype=errors.dtype)


def _means_cases(gen):
    return [{"x": _randn(gen, 5, 3, 4, 2), "granularity": "channel"},
            {"x": _randn(gen, 4, 2, 3, 3), "granularity": "element"},
            {"x": _randn(gen, 3, 4, 2, 5), "granularity": "layer"},
            {"x": _randn(gen, 1, 6, 2, 2), "granularity": "channel"}]


@exercise("input_means", cases=_means_cases, outputs=("means",),
          hint="lecture09.hint_input_means")
def input_means(x, granularity):
    """The mean of activations ``x`` (N, C, H, W) over every value that one shift of
    ``granularity`` meets: ``"element"`` -> (C, H, W), the mean over the examples;
    ``"channel"`` -> (C,), over the examples and positions; ``"layer"`` -> (), over
    everything. A shift ``b = -means`` centres its input."""
    dims = {"element": (0,), "channel": (0, 2, 3), "layer": (0, 1, 2, 3)}[granularity]
    return x.mean(dim=dims)
