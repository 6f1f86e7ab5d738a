"""Layers from scratch (course_lib.layers), forward + backward, against torch.nn.functional.

Same shapes, same float32 tensors, CPU. Ours: ``out, cache = X_forward(...)`` then
``X_backward(dout, cache)``. Torch: the F.* call on leaves that require grad, then
``out.backward(dout)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bench.timing import Row, best_time
from course_lib import layers as L

REPEAT = 20  # best of 20: the CPU is shared, the minimum is the least disturbed run


def _torch_step(fn, inputs, dout):
    """One forward + backward through torch.autograd on fresh leaves."""
    leaves = [t.detach().requires_grad_() for t in inputs]
    fn(*leaves).backward(dout)


def _case(name, ours, reference, inputs, dout, what):
    def ours_step():
        out, cache = ours[0](*inputs)
        ours[1](dout, cache)

    return Row(
        name=name,
        ours_s=best_time(ours_step, repeat=REPEAT),
        reference_s=best_time(lambda: _torch_step(reference, inputs, dout), repeat=REPEAT),
        reference=what,
    )


def run() -> list[Row]:
    g = torch.Generator().manual_seed(0)

    def randn(*shape):
        return torch.randn(*shape, generator=g)

    x, w, b = randn(256, 1024), randn(1024, 512), randn(512)
    h = randn(256, 4096)
    bn_x, gamma, beta = randn(256, 1024), randn(1024), randn(1024)
    running_mean, running_var = torch.zeros(1024), torch.ones(1024)
    img, filters, bias = randn(16, 16, 32, 32), randn(32, 16, 3, 3), randn(32)
    return [
        _case("affine (256, 1024) x (1024, 512)",
              (L.affine_forward, L.affine_backward),
              lambda x, w, b: F.linear(x, w.T, b), [x, w, b], randn(256, 512),
              "F.linear + autograd"),
        _case("relu (256, 4096)",
              (L.relu_forward, L.relu_backward), F.relu, [h], randn(256, 4096),
              "F.relu + autograd"),
        _case("batchnorm train (256, 1024)",
              (lambda x, gamma, beta: L.batchnorm_forward(x, gamma, beta, running_mean,
                                                          running_var),
               L.batchnorm_backward),
              lambda x, gamma, beta: F.batch_norm(x, running_mean, running_var, gamma, beta,
                                                  training=True),
              [bn_x, gamma, beta], randn(256, 1024), "F.batch_norm + autograd"),
        _case("conv (16, 16, 32, 32) * (32, 16, 3, 3), pad 1",
              (lambda x, w, b: L.conv_forward_naive(x, w, b, stride=1, pad=1),
               L.conv_backward_naive),
              lambda x, w, b: F.conv2d(x, w, b, stride=1, padding=1),
              [img, filters, bias], randn(16, 32, 32, 32), "F.conv2d + autograd"),
    ]
