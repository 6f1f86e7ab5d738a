"""What lecture 02 (computation graphs and backpropagation) claims, each checked by an experiment.

Where a claim is about code the notebook shows (the neuron, the two-layer net, the broken
backward pass, the training loop), the test runs that very code, taken from the Slovak notebook
(the code cells are the same in every language), so the two cannot drift apart.
"""

import ast
import math
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from course_lib import layers
from course_lib.autograd import Value

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))

from notebook_io import read, source  # noqa: E402

NOTEBOOK = ROOT / "notebooks" / "sk" / "02_backprop.ipynb"
QUICK = SimpleNamespace(size=lambda quick, full: quick)


def code_cells() -> list[str]:
    return [source(c) for c in read(NOTEBOOK)["cells"] if c["cell_type"] == "code"]


def namespace() -> dict:
    return {"torch": torch, "layers": layers, "Value": Value, "course": QUICK}


def notebook_functions(*names: str) -> dict:
    """The notebook's definitions of ``names`` (only the ``def`` statements are run)."""
    ns = namespace()
    found = set()
    for code in code_cells():
        for node in ast.parse(code).body:
            if isinstance(node, ast.FunctionDef) and node.name in names:
                exec(compile(ast.Module([node], []), str(NOTEBOOK), "exec"), ns)  # noqa: S102
                found.add(node.name)
    assert found == set(names), f"not defined in {NOTEBOOK.name}: {set(names) - found}"
    return ns


def notebook_cell(marker: str, ns: dict) -> dict:
    """Run the one code cell containing ``marker`` in ``ns`` and return ``ns``."""
    (code,) = [c for c in code_cells() if marker in c]
    exec(compile(code, str(NOTEBOOK), "exec"), ns)  # noqa: S102
    return ns


POINT = {"w0": 2.0, "x0": -1.0, "w1": -3.0, "x1": -2.0, "w2": -3.0}


def value_grads(fn, point: dict) -> tuple[float, dict]:
    leaves = {name: Value(v, label=name) for name, v in point.items()}
    out = fn(**leaves)
    out.backward()
    return out.data, {name: leaf.grad for name, leaf in leaves.items()}


def torch_grads(fn, point: dict) -> tuple[float, dict]:
    leaves = {name: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for name, v in point.items()}
    out = fn(**leaves)
    out.backward()
    return out.item(), {name: leaf.grad.item() for name, leaf in leaves.items()}


def random_points(n: int = 20) -> list[dict]:
    g = torch.Generator().manual_seed(2)
    return [dict(zip(POINT, (3 * torch.randn(5, generator=g, dtype=torch.float64)).tolist(),
                     strict=True)) for _ in range(n)]


def test_chain_rule_on_x_plus_y_times_z_gives_minus4_minus4_and_3():
    x, y, z = Value(-2.0), Value(5.0), Value(-4.0)
    q = x + y
    f = q * z
    f.backward()
    assert (q.data, f.data) == (3.0, -12.0)
    assert (x.grad, y.grad, z.grad, q.grad) == (-4.0, -4.0, 3.0, -4.0)
    # upstream times local: df/dx = df/dq * dq/dx with df/dq = z and dq/dx = 1
    assert x.grad == z.data * 1.0 and z.grad == q.data


def test_gradient_is_the_sensitivity_of_f():
    """Speaker note: x = -1.99 instead of -2 changes f by about -4 * 0.01."""
    assert math.isclose((-1.99 + 5.0) * -4.0, -12.04)


def test_neuron_values_and_gradients_printed_in_the_notebook():
    ns = notebook_functions("neuron")
    f, grads = value_grads(ns["neuron"], POINT)
    assert round(f, 4) == 0.7311
    assert {k: round(v, 4) for k, v in grads.items()} == {
        "w0": -0.1966, "x0": 0.3932, "w1": -0.3932, "x1": -0.5898, "w2": 0.1966}


def test_decomposed_neuron_graph_has_15_values():
    from course_lib.autograd import topological_order

    ns = notebook_functions("neuron")
    assert len(topological_order(ns["neuron"](**{k: Value(v) for k, v in POINT.items()}))) == 15


@pytest.mark.parametrize("point", [POINT, *random_points()], ids=lambda p: f"{p['x0']:.2f}")
def test_value_engine_gradients_equal_torch_autograd_on_the_notebooks_neuron(point):
    ns = notebook_functions("neuron")
    f_value, grads_value = value_grads(ns["neuron"], point)
    f_torch, grads_torch = torch_grads(ns["neuron"], point)
    assert f_value == pytest.approx(f_torch, rel=1e-12, abs=1e-15)
    for name in point:
        assert abs(grads_value[name] - grads_torch[name]) < 1e-12


@pytest.mark.parametrize("point", [POINT, *random_points()], ids=lambda p: f"{p['x0']:.2f}")
def test_sigmoid_gate_gives_the_same_gradients_as_the_decomposed_neuron(point):
    ns = notebook_functions("neuron", "neuron_gate")
    f_chain, grads_chain = value_grads(ns["neuron"], point)
    f_gate, grads_gate = value_grads(ns["neuron_gate"], point)
    assert f_gate == pytest.approx(f_chain, rel=1e-12, abs=1e-15)
    for name in point:
        assert abs(grads_gate[name] - grads_chain[name]) < 1e-12


def test_sigmoid_derivative_at_1_is_0_1966():
    s = 1 / (1 + math.exp(-1.0))
    assert round(s, 4) == 0.7311 and round(1 - s, 4) == 0.2689
    assert round(s * (1 - s), 4) == 0.1966


def test_the_notebooks_pattern_example_add_distributes_mul_swaps_max_routes():
    x, y, z, w = (torch.tensor(v, requires_grad=True) for v in (3.0, -4.0, 2.0, -1.0))
    f = 2 * (x * y + torch.maximum(z, w))
    f.backward()
    assert f.item() == -20.0
    assert (x.grad.item(), y.grad.item(), z.grad.item(), w.grad.item()) == (-8.0, 6.0, 2.0, 0.0)


def test_patterns_hold_for_random_inputs_and_upstream_gradients():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        a, b, upstream = (torch.randn((), generator=g, dtype=torch.float64) for _ in range(3))
        a.requires_grad_(), b.requires_grad_()
        da, db = torch.autograd.grad(a + b, (a, b), upstream)
        assert da == upstream and db == upstream  # add distributes
        da, db = torch.autograd.grad(a * b, (a, b), upstream)
        assert da == upstream * b and db == upstream * a  # mul swaps
        da, db = torch.autograd.grad(torch.maximum(a, b), (a, b), upstream)
        bigger, smaller = (da, db) if a > b else (db, da)
        assert bigger == upstream and smaller == 0  # max routes


def test_a_value_used_twice_gets_the_sum_of_both_gradients():
    a = Value(3.0)
    g = a * a + a
    g.backward()
    assert a.grad == 7.0 == 2 * 3.0 + 1


def test_affine_gradients_have_the_shape_of_their_variables_and_match_autograd():
    g = torch.Generator().manual_seed(0)
    x, w, b = (torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)
               for s in ((5, 7), (7, 3), (3,)))
    out, cache = layers.affine_forward(x, w, b)
    dout = torch.randn(out.shape, generator=g, dtype=torch.float64)
    dx, dw, db = layers.affine_backward(dout, cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)
    ex, ew, eb = torch.autograd.grad(out, (x, w, b), dout)
    torch.testing.assert_close((dx, dw, db), (dout @ w.T, x.T @ dout, dout.sum(dim=0)))
    torch.testing.assert_close((dx, dw, db), (ex, ew, eb))


def test_softmax_cross_entropy_gradient_is_p_minus_onehot_over_n():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 4, generator=g, dtype=torch.float64, requires_grad=True)
    y = torch.randint(4, (6,), generator=g)
    loss, ds = layers.softmax_loss(s, y)
    (expected,) = torch.autograd.grad(torch.nn.functional.cross_entropy(s, y), s)
    onehot = torch.nn.functional.one_hot(y, 4).double()
    torch.testing.assert_close(ds, (s.softmax(dim=1) - onehot) / 6)
    torch.testing.assert_close(ds, expected)


def small_problem(ns: dict) -> dict:
    """The notebook's cell with N = 5, D = 6, H = 8, C = 3 (it defines x_small, params, grads)."""
    return notebook_cell("x_small = torch.randn(5, 6", ns)


def test_hand_written_two_layer_backward_equals_torch_autograd():
    ns = small_problem(notebook_functions("two_layer_loss", "init_params"))
    for x, y, params, tolerance in [
        (ns["x_small"], ns["y_small"], ns["params"], 1e-13),  # the notebook prints ~1e-15
        (torch.rand(32, 64, dtype=torch.float64), torch.randint(10, (32,)),
         ns["init_params"](64, 32, 10, torch.Generator().manual_seed(1)), 1e-10),
    ]:
        loss, grads = ns["two_layer_loss"](params, x, y)
        leaf = {k: p.clone().requires_grad_() for k, p in params.items()}
        scores = torch.relu(x @ leaf["w1"] + leaf["b1"]) @ leaf["w2"] + leaf["b2"]
        expected = torch.nn.functional.cross_entropy(scores, y)
        expected.backward()
        assert loss.item() == pytest.approx(expected.item(), rel=1e-12)
        for name in params:
            assert grads[name].shape == params[name].shape
            assert layers.rel_error(grads[name], leaf[name].grad) < tolerance


def test_central_differences_error_shrinks_like_h_squared():
    x = torch.tensor([0.7], dtype=torch.float64)
    exact = math.exp(0.7)
    errors = [abs(layers.gradcheck(torch.exp, x.clone(), h=h).item() - exact)
              for h in (1e-2, 1e-3)]
    assert 80 < errors[0] / errors[1] < 120  # h ten times smaller: error about 100 times smaller


def test_too_small_h_loses_digits_to_rounding():
    x = torch.tensor([0.7], dtype=torch.float64)
    exact = math.exp(0.7)
    good = abs(layers.gradcheck(torch.exp, x.clone(), h=1e-5).item() - exact)
    tiny = abs(layers.gradcheck(torch.exp, x.clone(), h=1e-12).item() - exact)
    assert tiny > 100 * good


def check_all(ns: dict, params: dict, x, y) -> dict:
    _, grads = ns["two_layer_loss"](params, x, y)
    return {name: layers.rel_error(
        layers.gradcheck(lambda _: ns["two_layer_loss"](params, x, y)[0], params[name], h=1e-5),
        grads[name]) for name in params}


def test_gradcheck_of_the_correct_backward_is_below_1e_minus_7_in_float64():
    ns = small_problem(notebook_functions("two_layer_loss", "init_params"))
    errors = check_all(ns, ns["params"], ns["x_small"], ns["y_small"])
    assert max(errors.values()) < 1e-8, errors  # the table: "about 1e-9 and less in float64"


def test_gradcheck_in_float32_flags_even_a_correct_gradient():
    ns = small_problem(notebook_functions("two_layer_loss", "init_params"))
    params32 = {k: p.float() for k, p in ns["params"].items()}
    errors = check_all(ns, params32, ns["x_small"].float(), ns["y_small"])
    assert max(errors.values()) > 1e-2, errors


def test_gradcheck_detects_the_deliberately_wrong_bias_gradient_and_only_it():
    ns = small_problem(notebook_functions("two_layer_loss", "init_params",
                                          "affine_backward_buggy"))
    x, w, b = ns["x_small"], ns["params"]["w1"], ns["params"]["b1"]
    out, cache = layers.affine_forward(x, w, b)
    dout = torch.randn(out.shape, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    numeric = [layers.gradcheck(lambda v, i=i: layers.affine_forward(
        *[v if j == i else t for j, t in enumerate((x, w, b))])[0], t, dout, h=1e-5)
        for i, t in enumerate((x, w, b))]
    right = layers.affine_backward(dout, cache)
    wrong = ns["affine_backward_buggy"](dout, cache)
    assert all(layers.rel_error(n, r) < 1e-7 for n, r in zip(numeric, right, strict=True))
    assert layers.rel_error(numeric[0], wrong[0]) < 1e-7  # dx of the broken version is right
    assert layers.rel_error(numeric[1], wrong[1]) < 1e-7  # so is dw
    n = x.shape[0]
    assert layers.rel_error(numeric[2], wrong[2]) == pytest.approx((1 - 1 / n) / (1 + 1 / n))
    assert layers.rel_error(numeric[2], wrong[2]) > 1e-2


def test_sgd_with_hand_written_gradients_starts_at_ln10_and_beats_90_percent():
    ns = notebook_functions("two_layer_loss", "init_params")
    notebook_cell("digits = data.load(\"digits\")", ns)
    history = ns["history"]
    assert len(history) == 100  # 5 epochs of 20 mini-batches
    assert abs(history[0] - math.log(10)) < 0.1
    assert sum(history[-20:]) / 20 < 0.5 * history[0]
    trained = ns["trained"]
    scores = (torch.relu(ns["x_val"] @ trained["w1"] + trained["b1"]) @ trained["w2"]
              + trained["b2"])
    assert (scores.argmax(dim=1) == ns["y_val"]).double().mean().item() > 0.9


def test_saturated_neuron_has_vanishing_gradients():
    """The explorer: with w2 = 8 (s = 12) every gradient almost vanishes; at w2 = -3 it does not."""
    ns = notebook_functions("neuron_gate")
    _, saturated = value_grads(ns["neuron_gate"], {**POINT, "w2": 8.0})
    _, normal = value_grads(ns["neuron_gate"], POINT)
    assert max(abs(v) for v in saturated.values()) < 1e-4
    assert min(abs(v) for v in normal.values()) > 0.1
