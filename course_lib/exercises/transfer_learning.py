"""Exercises of lecture 08 (convolutions before transfer learning): the receptive field of a
stack of convolutions and poolings.

The reference agrees with ``course_lib.layers.receptive_field``, whose test checks the formula
against the inputs a pixel of ``torch.nn.functional.conv2d`` actually depends on. Hints live in
the ``lecture08`` locale domain.
"""

from __future__ import annotations

from ..checks import exercise


def _receptive_field_cases(gen):
    return [
        {"kernels": [3], "strides": [1]},
        {"kernels": [3, 3, 3], "strides": [1, 1, 1]},
        {"kernels": [3, 3, 3], "strides": [2, 2, 2]},
        {"kernels": [7, 3, 3, 3], "strides": [2, 2, 1, 1]},
        {"kernels": [5, 2, 5, 2], "strides": [1, 2, 1, 2]},
        {"kernels": [1, 3, 1], "strides": [2, 1, 1]},
    ]


@exercise("receptive_field", cases=_receptive_field_cases, outputs=("r",), atol=0.0, rtol=0.0,
          hint="lecture08.hint_receptive_field")
def receptive_field(kernels: list[int], strides: list[int]) -> int:
    """Receptive field (in input pixels, along one axis) of one output pixel of the last of the
    layers with kernel sizes ``kernels`` and strides ``strides``::

        r_0 = 1,   r_l = r_{l-1} + (k_l - 1) * s_1 * ... * s_{l-1}
    """
    r, jump = 1, 1
    for k, s in zip(kernels, strides, strict=True):
        r += (k - 1) * jump
        jump *= s
    return r
