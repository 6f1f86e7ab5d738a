"""Activations equal torch.nn.functional's; hand derivatives equal torch.autograd's (float64)."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from course_lib import activations as A
from course_lib.i18n import LANGUAGES, CourseError, t

TOL = {"rtol": 1e-10, "atol": 1e-10}

TORCH = {
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "relu": F.relu,
    "leaky_relu": F.leaky_relu,
    "elu": F.elu,
    "gelu": F.gelu,
    "silu": F.silu,
}


def tensors(low=-60.0, high=60.0, max_dims=2):
    """float64 tensors of 1 to ``max_dims`` dimensions, sides 1..6, entries in [low, high]."""
    shapes = hnp.array_shapes(min_dims=1, max_dims=max_dims, max_side=6)
    elements = st.floats(low, high, allow_subnormal=False)
    return hnp.arrays(np.float64, shapes, elements=elements).map(torch.from_numpy)


def autograd_derivative(f, x):
    """d f / d x by torch.autograd, for an elementwise f."""
    x = x.clone().requires_grad_()
    (grad,) = torch.autograd.grad(f(x).sum(), x)
    return grad


@pytest.mark.parametrize("name", sorted(TORCH))
@given(x=tensors())
def test_activation_equals_torch_functional(name, x):
    f, _ = A.ACTIVATIONS[name]
    torch.testing.assert_close(f(x), TORCH[name](x), **TOL)


@pytest.mark.parametrize("name", sorted(TORCH))
@given(x=tensors())
def test_hand_derivative_equals_torch_autograd(name, x):
    _, f_grad = A.ACTIVATIONS[name]
    torch.testing.assert_close(f_grad(x), autograd_derivative(TORCH[name], x), **TOL)


@given(x=tensors(), slope=st.floats(0.0, 1.0))
def test_leaky_relu_with_any_slope(x, slope):
    torch.testing.assert_close(A.leaky_relu(x, slope), F.leaky_relu(x, slope), **TOL)
    reference = autograd_derivative(lambda t: F.leaky_relu(t, slope), x)
    torch.testing.assert_close(A.leaky_relu_grad(x, slope), reference, **TOL)


@given(x=tensors(), alpha=st.floats(0.05, 3.0))
def test_elu_with_any_alpha(x, alpha):
    torch.testing.assert_close(A.elu(x, alpha), F.elu(x, alpha), **TOL)
    reference = autograd_derivative(lambda t: F.elu(t, alpha), x)
    torch.testing.assert_close(A.elu_grad(x, alpha), reference, **TOL)


def test_sigmoid_and_tanh_stay_finite_and_exact_far_out():
    x = torch.tensor([-1000.0, -40.0, 0.0, 40.0, 1000.0], dtype=torch.float64)
    torch.testing.assert_close(A.sigmoid(x), torch.sigmoid(x), rtol=1e-14, atol=0.0)
    torch.testing.assert_close(A.tanh(x), torch.tanh(x), rtol=1e-14, atol=0.0)
    tiny = torch.tensor([1e-300, -1e-12], dtype=torch.float64)
    torch.testing.assert_close(A.tanh(tiny), torch.tanh(tiny), rtol=1e-15, atol=0.0)


@given(x=tensors(max_dims=3), data=st.data())
def test_softmax_equals_torch_along_any_dim(x, data):
    dim = data.draw(st.integers(-x.dim(), x.dim() - 1))
    torch.testing.assert_close(A.softmax(x, dim=dim), F.softmax(x, dim=dim), **TOL)


@given(x=tensors(-1e4, 1e4), shift=st.floats(-1e5, 1e5))
def test_softmax_is_stable_for_large_inputs_and_ignores_a_shift(x, shift):
    s = A.softmax(x)
    assert torch.isfinite(s).all()
    torch.testing.assert_close(s.sum(dim=-1), torch.ones(x.shape[:-1], dtype=x.dtype), **TOL)
    torch.testing.assert_close(s, F.softmax(x, dim=-1), **TOL)
    torch.testing.assert_close(A.softmax(x + shift), s, rtol=1e-6, atol=1e-10)


def test_softmax_without_the_max_shift_would_overflow():
    x = torch.tensor([1000.0, 999.0], dtype=torch.float64)
    naive = x.exp() / x.exp().sum()
    assert naive.isnan().all()
    torch.testing.assert_close(A.softmax(x), F.softmax(x, dim=0), **TOL)


@given(x=tensors(-30, 30, max_dims=3), data=st.data())
def test_softmax_grad_is_the_vector_jacobian_product_of_autograd(x, data):
    dim = data.draw(st.integers(-x.dim(), x.dim() - 1))
    dout = torch.randn(x.shape, dtype=x.dtype)
    leaf = x.clone().requires_grad_()
    (reference,) = torch.autograd.grad(F.softmax(leaf, dim=dim), leaf, dout)
    torch.testing.assert_close(A.softmax_grad(x, dout, dim=dim), reference, **TOL)


@given(x=tensors(-30, 30, max_dims=1))
def test_softmax_jacobian_equals_autograd_jacobian(x):
    reference = torch.autograd.functional.jacobian(lambda t: F.softmax(t, dim=-1), x)
    torch.testing.assert_close(A.softmax_jacobian(x), reference, **TOL)


def test_softmax_jacobian_is_batched_over_leading_dimensions():
    x = torch.randn(4, 3, dtype=torch.float64)
    jacobians = A.softmax_jacobian(x)
    assert jacobians.shape == (4, 3, 3)
    torch.testing.assert_close(jacobians[2], A.softmax_jacobian(x[2]), **TOL)


def maxout_inputs():
    """(x, k) with x of shape (N, k*m), distinct entries so that the max is unique."""
    return st.tuples(st.integers(1, 4), st.integers(1, 4), st.integers(1, 4)).flatmap(
        lambda s: st.tuples(
            hnp.arrays(np.float64, (s[0], s[1] * s[2]), elements=st.floats(-50, 50),
                       unique=True).map(torch.from_numpy),
            st.just(s[1]),
        )
    )


def torch_maxout(x, k):
    """Maxout by F.max_pool1d: columns [j*m, (j+1)*m) of x hold piece j."""
    n, km = x.shape
    pieces = x.reshape(n, k, km // k).transpose(1, 2)  # (N, m, k)
    return F.max_pool1d(pieces, kernel_size=k).squeeze(-1)


@given(xk=maxout_inputs())
def test_maxout_equals_max_pooling_over_the_pieces(xk):
    x, k = xk
    torch.testing.assert_close(A.maxout(x, k), torch_maxout(x, k), **TOL)
    pieces = x.chunk(k, dim=-1)
    torch.testing.assert_close(A.maxout(pieces), torch_maxout(x, k), **TOL)


@given(xk=maxout_inputs())
def test_maxout_grad_equals_torch_autograd(xk):
    x, k = xk
    leaf = x.clone().requires_grad_()
    (reference,) = torch.autograd.grad(torch_maxout(leaf, k).sum(), leaf)
    torch.testing.assert_close(A.maxout_grad(x, k), reference, **TOL)
    masks = A.maxout_grad(x.chunk(k, dim=-1))
    torch.testing.assert_close(torch.cat(masks, dim=-1), reference, **TOL)


def test_maxout_of_x_and_ax_is_leaky_relu():
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    torch.testing.assert_close(A.maxout([x, 0.1 * x]), A.leaky_relu(x, 0.1), **TOL)


@pytest.mark.parametrize("k", [None, 0, 3])
def test_maxout_refuses_a_k_that_does_not_divide_the_width(k):
    with pytest.raises(CourseError) as error:
        A.maxout(torch.zeros(2, 4), k)
    assert error.value.key == "activations.maxout_groups"


def test_properties_table_covers_every_activation():
    assert set(A.PROPERTIES) == set(A.ACTIVATIONS) | {"softmax", "maxout"}


GRID = torch.linspace(-40, 40, 8001, dtype=torch.float64)  # symmetric around 0


@pytest.mark.parametrize("name", sorted(A.ACTIVATIONS))
def test_properties_agree_with_the_functions(name):
    f, f_grad = A.ACTIVATIONS[name]
    p = A.PROPERTIES[name]
    low, high = p.bounds
    assert low <= f(GRID).min() and f(GRID).max() <= high
    assert p.zero_centred == (abs(f(GRID).mean().item()) < 1e-12)
    far = f_grad(torch.tensor([-30.0, 30.0], dtype=torch.float64))
    assert p.saturating == bool((far < 1e-6).all())
    negative = torch.linspace(-10, -0.1, 100, dtype=torch.float64)
    assert p.dead_units == bool((f_grad(negative) == 0).all())


def test_softmax_properties_hold():
    x = 30 * torch.randn(1000, 5, dtype=torch.float64)
    s = A.softmax(x)
    assert 0 <= s.min() and s.max() <= 1
    peaked = torch.tensor([40.0, 0.0, -40.0], dtype=torch.float64)
    assert A.PROPERTIES["softmax"].saturating
    assert A.softmax_jacobian(peaked).abs().max() < 1e-6


@pytest.mark.parametrize("lang", LANGUAGES)
def test_properties_table_has_localized_headers_and_a_row_per_activation(lang):
    rows = A.properties_table(lang)
    assert len(rows) == len(A.PROPERTIES)
    assert list(rows[0])[0] == t("activations.column.name", lang=lang)
    assert all(row[t("activations.column.when", lang=lang)] for row in rows)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_language_renders_markdown_and_html(lang):
    markdown = A.render_properties(lang)
    lines = markdown.splitlines()
    assert len(lines) == 2 + len(A.PROPERTIES)
    columns = len(A.properties_table(lang)[0])
    assert all(len(re.split(r"(?<!\\)\|", line)) == columns + 2 for line in lines)
    html = A.render_properties(lang, fmt="html")
    assert html.startswith("<table>") and html.count("<tr>") == 1 + len(A.PROPERTIES)
    for p in A.PROPERTIES.values():
        assert p.name(lang) in markdown


def test_table_decimals_follow_the_language():
    leaky = {lang: A.properties_table(lang)[3][t("activations.column.formula", lang=lang)]
             for lang in ("sk", "en")}
    assert "a = 0{,}01" in leaky["sk"] and "a = 0.01" in leaky["en"]


def test_serbian_table_is_in_latin_script():
    assert not re.search("[\u0400-\u04ff]", A.render_properties("sr"))


def test_notes_are_translated():
    notes = {lang: A.PROPERTIES["relu"].when(lang) for lang in LANGUAGES}
    assert len(set(notes.values())) == len(LANGUAGES)


def test_unknown_table_format_is_a_localized_error():
    with pytest.raises(CourseError, match="LaTeX") as error:
        A.render_properties("sk", fmt="LaTeX")
    assert error.value.key == "activations.unknown_format"
