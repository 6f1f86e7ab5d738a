"""The scalar engine computes the same values and gradients as torch.autograd (float64)."""

import math
import operator

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import assume, given, reject
from hypothesis import strategies as st

from course_lib.autograd import Value, draw, topological_order

# Every op is written once and run on Values and on torch tensors alike. Arguments that must
# be positive (log, a negative or fractional power, a denominator) become a * a + 1.
UNARY = {
    "neg": operator.neg,
    "exp": lambda a: a.exp(),
    "log": lambda a: (a * a + 1).log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "rsqrt": lambda a: (a * a + 1) ** -0.5,
}
BINARY = {
    "add": operator.add,
    "sub": operator.sub,
    "mul": operator.mul,
    "div": lambda a, b: a / (b * b + 1),
}
N_VARS = 3

variables = st.integers(0, N_VARS - 1).map(lambda i: ("var", i))
constants = st.floats(-3, 3).map(lambda c: ("const", c))


def extend(subtrees):
    """One more op on top: a constant appears only next to a subtree, so Value.__r*__ runs."""
    binary = st.sampled_from(sorted(BINARY))
    return st.one_of(
        st.tuples(st.sampled_from(sorted(UNARY)), subtrees),
        st.tuples(binary, subtrees, subtrees),
        st.tuples(binary, constants, subtrees),
        st.tuples(binary, subtrees, constants),
    )


expressions = st.recursive(variables, extend, max_leaves=12)


def evaluate(tree, variables):
    kind, *args = tree
    if kind == "var":
        return variables[args[0]]
    if kind == "const":
        return args[0]
    values = [evaluate(arg, variables) for arg in args]
    return (UNARY[kind] if len(values) == 1 else BINARY[kind])(*values)


@given(tree=expressions, xs=st.lists(st.floats(-2, 2), min_size=N_VARS, max_size=N_VARS))
def test_gradients_equal_torch_autograd_on_random_expressions(tree, xs):
    ours = [Value(x) for x in xs]
    theirs = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
    try:
        out = evaluate(tree, ours)
    except OverflowError:
        reject()
    assume(all(abs(node.data) < 1e6 for node in topological_order(out)))
    reference = evaluate(tree, theirs)
    out.backward()
    reference.backward()
    assert out.data == pytest.approx(reference.item(), rel=1e-10, abs=1e-10)
    for v, t in zip(ours, theirs, strict=True):
        expected = 0.0 if t.grad is None else t.grad.item()
        assert v.grad == pytest.approx(expected, rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_each_unary_op_has_torch_value_and_gradient(name):
    for x in (-1.3, 0.7):
        a, t = Value(x), torch.tensor(x, dtype=torch.float64, requires_grad=True)
        out, reference = UNARY[name](a), UNARY[name](t)
        out.backward()
        reference.backward()
        assert (out.data, a.grad) == pytest.approx((reference.item(), t.grad.item()), rel=1e-12)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_each_binary_op_has_torch_value_and_gradients(name):
    a, b = Value(-1.3), Value(0.7)
    ta, tb = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in (-1.3, 0.7))
    out, reference = BINARY[name](a, b), BINARY[name](ta, tb)
    out.backward()
    reference.backward()
    expected = (reference.item(), ta.grad.item(), tb.grad.item())
    assert (out.data, a.grad, b.grad) == pytest.approx(expected, rel=1e-12)


def test_the_micrograd_neuron():
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    assert o.data == pytest.approx(math.sqrt(0.5))
    assert (x1.grad, w1.grad, x2.grad, w2.grad) == pytest.approx((-1.5, 1.0, 0.5, 0.0))


def test_numbers_on_either_side():
    a = Value(3.0)
    assert (2 + a).data == 5 and (a + 2).data == 5
    assert (2 - a).data == -1 and (a - 2).data == 1
    assert (2 * a).data == 6 and (a * 2).data == 6
    assert (6 / a).data == 2 and (a / 6).data == 0.5
    assert (a**2).data == 9 and (-a).data == -3


def test_a_value_used_twice_gets_both_contributions():
    a = Value(3.0)
    y = a * a + a  # dy/da = 2a + 1
    y.backward()
    assert a.grad == 7.0


def test_leaves_accumulate_over_backward_calls_like_torch():
    a = Value(3.0)
    y = a * 2.0
    y.backward()
    y.backward()
    assert a.grad == 4.0
    t = torch.tensor(3.0, requires_grad=True)
    z = t * 2.0
    z.backward(retain_graph=True)
    z.backward()
    assert t.grad.item() == a.grad


def test_power_takes_only_numbers():
    with pytest.raises(TypeError):
        Value(2.0) ** Value(3.0)


def test_long_chains_need_no_recursion():
    x = Value(1.0)
    total = x
    for _ in range(5000):
        total = total + x
    total.backward()
    assert x.grad == 5001


def test_sigmoid_is_stable_far_out():
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


def test_repr_shows_data_and_grad():
    assert repr(Value(1.5)) == "Value(data=1.5, grad=0)"


def example_graph():
    a, b = Value(2.0, label="a"), Value(-3.0, label="b")
    c = a * b
    c.label = "c"
    loss = (c + a).tanh() + c.exp()
    loss.label = "L"
    loss.backward()
    return loss


def test_draw_has_one_box_per_value_and_one_circle_per_op():
    loss = example_graph()
    nodes = topological_order(loss)
    ax = draw(loss)
    boxes = [p for p in ax.patches if p.get_gid() == "value"]
    circles = [p for p in ax.patches if p.get_gid() == "op"]
    assert len(boxes) == len(nodes) == 7
    assert len(circles) == sum(1 for v in nodes if v._prev) == 5
    texts = " ".join(text.get_text() for text in ax.texts)
    assert "a\ndata 2\ngrad" in texts and "L\n" in texts and "exp" in texts
    ax.figure.canvas.draw()
    plt.close(ax.figure)


def test_draw_into_given_axes_puts_the_root_rightmost():
    loss = example_graph()
    fig, ax = plt.subplots()
    assert draw(loss, ax=ax) is ax
    boxes = [p for p in ax.patches if p.get_gid() == "value"]
    rightmost = max(boxes, key=lambda p: p.get_x())
    root_text = next(text for text in ax.texts if text.get_text().startswith("L\n"))
    assert rightmost.get_x() < root_text.get_position()[0] < rightmost.get_x() + 2
    plt.close(fig)


def test_bad_values_and_operations_without_a_real_result_are_localized_errors():
    from course_lib.i18n import CourseError, t

    cases = [(lambda: Value("2"), "autograd.bad_data"), (lambda: Value(1.0) / 0,
                                                          "autograd.zero_division"),
             (lambda: Value(0.0).log(), "autograd.log_domain"),
             (lambda: Value(-2.0) ** 0.5, "autograd.pow_domain")]
    for call, key in cases:
        with pytest.raises(CourseError) as error:
            call()
        assert error.value.key == key
        assert str(error.value) == t(key, **error.value.fields)
    assert (Value(-2.0) ** 2).data == 4.0 and Value(3).data == 3.0
