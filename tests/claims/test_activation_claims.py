"""What the lecture says about activations, each claim checked by a small experiment."""

import torch

from course_lib import activations as A
from course_lib import layers as L

X = torch.linspace(-20, 20, 40001, dtype=torch.float64)  # symmetric around 0, contains 0


def test_sigmoid_derivative_never_exceeds_a_quarter():
    assert A.sigmoid_grad(X).max().item() == 0.25
    assert A.sigmoid_grad(torch.zeros(1, dtype=torch.float64)).item() == 0.25


def test_gradients_shrink_through_stacked_sigmoids():
    """Through L sigmoids in a row the gradient is a product of L factors <= 1/4."""
    x = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    h = x
    for depth in range(1, 11):
        h = torch.sigmoid(h)
        (grad,) = torch.autograd.grad(h.sum(), x, retain_graph=True)
        assert grad.abs().max().item() <= 0.25**depth


def test_sigmoid_and_tanh_saturate_far_from_zero():
    far = X[X.abs() >= 8]
    assert A.sigmoid_grad(far).max() < 1e-3
    assert A.tanh_grad(far).max() < 1e-3
    assert A.relu_grad(far[far > 0]).min() == 1  # ReLU does not saturate for x > 0


def layer_with_negative_bias(bias=-100.0):
    """z = x w + b for 256 standard-normal examples, small weights, and a large negative bias."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 10, generator=g, dtype=torch.float64)
    w = 0.1 * torch.randn(10, 5, generator=g, dtype=torch.float64)
    b = torch.full((5,), bias, dtype=torch.float64)
    z, cache = L.affine_forward(x, w, b)
    return z, cache, torch.randn(z.shape, generator=g, dtype=torch.float64)


def test_relu_units_with_a_large_negative_bias_are_dead():
    """Pre-activations x w + b < 0 on every example: no gradient reaches w or b, ever."""
    z, affine_cache, dout = layer_with_negative_bias()
    h, relu_cache = L.relu_forward(z)
    _, dw, db = L.affine_backward(L.relu_backward(dout, relu_cache), affine_cache)
    assert (h == 0).all()
    assert (dw == 0).all() and (db == 0).all()


def test_leaky_relu_has_no_dead_units():
    """The same layer with Leaky ReLU still gets a gradient for every weight and bias."""
    z, affine_cache, dout = layer_with_negative_bias()
    _, dw, db = L.affine_backward(dout * A.leaky_relu_grad(z), affine_cache)
    assert (dw != 0).all() and (db != 0).all()
    assert (A.leaky_relu_grad(X) > 0).all()


def test_tanh_is_zero_centred_and_sigmoid_is_not():
    assert abs(A.tanh(X).mean().item()) < 1e-12
    assert abs(A.sigmoid(X).mean().item() - 0.5) < 1e-12
    assert (A.sigmoid(X) > 0).all()  # all outputs of one sign: gradients on w share a sign
