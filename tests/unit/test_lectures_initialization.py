"""course_lib.lectures.initialization and the lecture 03 exercises: shapes, scales, determinism,
plots."""

import math

import matplotlib
import pytest
import torch
from torch import nn

from course_lib.checks import EXERCISES, Checker
from course_lib.exercises import initialization
from course_lib.i18n import LANGUAGES, CourseError, t
from course_lib.init import depth_statistics
from course_lib.lectures import initialization as ie

matplotlib.use("Agg")


def linears(model):
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


def test_deep_net_has_depth_hidden_layers_and_a_linear_output():
    net = ie.deep_net("relu", "he", depth=4, width=16, n_in=8, n_out=3)
    shapes = [tuple(m.weight.shape) for m in linears(net)]
    assert shapes == [(16, 8), (16, 16), (16, 16), (16, 16), (3, 16)]
    assert sum(isinstance(m, nn.ReLU) for m in net) == 4
    assert net(torch.randn(5, 8)).shape == (5, 3)
    assert net(torch.randn(5, 1, 2, 4)).shape == (5, 3)  # images are flattened


@pytest.mark.parametrize("scheme, activation, gain, variance", [
    ("small", "tanh", False, lambda fi, fo: 0.01**2),
    ("large", "relu", False, lambda fi, fo: 1.0),
    ("xavier", "relu", False, lambda fi, fo: 2 / (fi + fo)),
    ("xavier", "tanh", True, lambda fi, fo: (5 / 3) ** 2 * 2 / (fi + fo)),
    ("he", "tanh", False, lambda fi, fo: 2 / fi),
])
def test_deep_net_draws_weights_of_the_schemes_variance(scheme, activation, gain, variance):
    net = ie.deep_net(activation, scheme, depth=2, width=300, n_in=500, xavier_gain=gain)
    for layer in linears(net):
        fan_out, fan_in = layer.weight.shape
        assert layer.weight.var().item() == pytest.approx(variance(fan_in, fan_out), rel=0.05)
        assert torch.all(layer.bias == 0)


def test_constant_scheme_sets_every_weight_to_the_same_value():
    net = ie.deep_net("tanh", "constant", depth=2, width=8)
    assert all(torch.all(layer.weight == 0.1) for layer in linears(net))


def test_the_same_seed_gives_the_same_net_and_another_seed_another():
    a, b = (ie.deep_net("tanh", "xavier", 2, 16, seed=3) for _ in range(2))
    c = ie.deep_net("tanh", "xavier", 2, 16, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(linears(a)[0].weight, linears(c)[0].weight)


def test_inputs_are_standard_normal_and_independent_of_the_first_weights():
    x = ie.inputs(256, 256)
    assert torch.equal(x, ie.inputs(256, 256))
    assert x.std().item() == pytest.approx(1, abs=0.02)
    first = linears(ie.deep_net("relu", "large", 1, 256))[0].weight
    correlation = torch.corrcoef(torch.stack([x.flatten(), first.detach().flatten()]))[0, 1]
    assert abs(correlation.item()) < 0.01


def test_upstream_loss_sends_a_fixed_standard_normal_gradient():
    out = torch.zeros(64, 32, requires_grad=True)
    (g1,) = torch.autograd.grad(ie.upstream_loss(out), out)
    (g2,) = torch.autograd.grad(ie.upstream_loss(out), out)
    assert torch.equal(g1, g2)
    assert g1.std().item() == pytest.approx(1, abs=0.05)


def test_unknown_activation_or_scheme_is_explained():
    with pytest.raises(CourseError) as err:
        ie.deep_net("swish", "he")
    assert "tanh" in str(err.value)
    with pytest.raises(CourseError):
        ie.deep_net("relu", "orthogonal")


def test_layer_values_agree_with_depth_statistics():
    net = ie.deep_net("tanh", "xavier", depth=3, width=32)
    x = ie.inputs(64, 32)
    outputs, grads = ie.layer_values(net, x)
    rows = ie.depth_profile(net, x)
    assert rows == depth_statistics(net, x, loss_fn=ie.upstream_loss)
    assert len(outputs) == len(grads) == len(rows) == 3
    for h, g, row in zip(outputs, grads, rows, strict=True):
        assert h.shape == g.shape == (64, 32)
        assert h.std().item() == pytest.approx(row.act_std)
        assert g.std().item() == pytest.approx(row.grad_std)
    assert all(p.grad is None for p in net.parameters())


def test_distinct_units_counts_rows_up_to_rounding():
    layer = nn.Linear(4, 5)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2, 3, 4]] * 3 + [[1, 2, 3, 5]] * 2))
        layer.bias.zero_()
        layer.weight[1, 0] += 1e-7
    assert ie.distinct_units(layer) == 2
    with torch.no_grad():
        layer.bias[0] = 1.0
    assert ie.distinct_units(layer) == 3


def test_train_digits_is_deterministic_and_returns_the_history():
    _, first = ie.train_digits("relu", "he", depth=2, width=16, epochs=2, lr=0.05)
    model, second = ie.train_digits("relu", "he", depth=2, width=16, epochs=2, lr=0.05)
    assert first.train_loss == second.train_loss
    assert len(second.train_loss) == len(second.val_acc) == 2
    assert [tuple(m.weight.shape) for m in ie.hidden_layers(model)] == [(16, 64), (16, 16)]


def test_train_digits_clips_by_norm_and_records_the_norms_before_clipping():
    kwargs = dict(depth=2, width=16, epochs=1, lr=0.05, grad_norms=True)
    _, free = ie.train_digits("relu", "he", **kwargs)
    _, clipped = ie.train_digits("relu", "he", clip_grad_norm=1e-3, **kwargs)
    assert free.step_grad_norm[0] == clipped.step_grad_norm[0] > 1e-3  # same first batch
    assert free.train_loss != clipped.train_loss
    assert ie.largest_grad_norm(free) == max(free.step_grad_norm)
    free.step_grad_norm.append(math.nan)
    assert ie.largest_grad_norm(free) == math.inf


@pytest.mark.parametrize("lang", LANGUAGES)
def test_clipping_row_and_plot_speak_the_course_language(lang):
    _, history = ie.train_digits("relu", "he", depth=2, width=16, epochs=1, grad_norms=True)
    row = ie.clipping_row("run", history, lang)
    assert row == t("lecture03.clip_run", lang=lang, run="run",
                    norm=max(history.step_grad_norm), loss=history.train_loss[-1],
                    accuracy=history.val_acc[-1], epochs=1)
    fig = ie.plot_clipping({"a": history, "b": history}, lang=lang)
    assert fig.axes[1].get_ylabel() == t("lecture03.grad_norm", lang=lang)
    assert fig.axes[0].get_xlabel() == t("plots.step", lang=lang)
    assert [x.get_text() for x in fig.legends[0].get_texts()] == ["a", "b"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_plots_return_figures_with_localized_labels(lang):
    net = ie.deep_net("relu", "he", depth=3, width=16)
    x = ie.inputs(32, 16)
    rows = ie.depth_profile(net, x)
    fig = ie.plot_std_by_depth({"he": rows, "custom": rows}, lang=lang, title="t")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [ie.scheme_label("he", lang), "custom"]
    outputs, grads = ie.layer_values(net, x)
    fig = ie.plot_histograms({"small": outputs, "he": grads}, [1, 3], lang=lang,
                             magnitudes=True)
    assert len(fig.axes) == 4
    assert fig.axes[0].get_ylabel() == ie.scheme_label("small", lang)


def test_every_scheme_has_its_own_colour():
    assert len({ie.scheme_color(s) for s in ie.SCHEMES}) == len(ie.SCHEMES)


def test_the_clip_by_norm_exercise_is_torchs_clip_grad_norm_on_one_tensor():
    g = torch.randn(6, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    param = torch.zeros_like(g, requires_grad=True)
    param.grad = g.clone()
    norm = torch.nn.utils.clip_grad_norm_([param], 0.5)
    clipped, ours = initialization.clip_by_norm(g, 0.5)
    torch.testing.assert_close(clipped, param.grad, rtol=1e-12, atol=0)
    assert ours == pytest.approx(norm.item(), rel=1e-12)


def test_exercise_references_match_the_library_initializers():
    weight = torch.empty(300, 500, dtype=torch.float64)
    torch.nn.init.xavier_uniform_(weight)
    bound = initialization.xavier_uniform_bound(500, 300)
    assert weight.abs().max().item() <= bound
    assert weight.abs().max().item() == pytest.approx(bound, rel=1e-3)
    assert initialization.he_std(500) == pytest.approx(math.sqrt(2 / 500))
    torch.nn.init.kaiming_normal_(weight, nonlinearity="relu")
    assert weight.std().item() == pytest.approx(initialization.he_std(500), rel=0.02)


TYPICAL_MISTAKES = {  # the normal std given as the uniform bound; Xavier's 1 / fan_in for He
    "xavier_uniform_bound": lambda fan_in, fan_out: math.sqrt(2 / (fan_in + fan_out)),
    "he_std": lambda fan_in: math.sqrt(1 / fan_in),
    # every gradient rescaled to max_norm, also the short ones that should stay as they are
    "clip_by_norm": lambda g, max_norm: (g * max_norm / g.norm(), g.norm()),
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("name", sorted(TYPICAL_MISTAKES))
def test_a_typical_mistake_fails_with_a_nudge_then_the_lectures_hint(name, lang):
    assert EXERCISES[name].hint == f"lecture03.hint_{name}"
    checker = Checker(lang)
    nudges = [checker.check(name, TYPICAL_MISTAKES[name]) for _ in range(Checker.NUDGES)]
    assert not any(r.passed for r in nudges)
    assert all(t(f"checks.nudge.{name}", lang=lang) in r.hint for r in nudges)
    result = checker.check(name, TYPICAL_MISTAKES[name])
    assert not result.passed
    assert result.hint == t(f"lecture03.hint_{name}", lang=lang)
    assert Checker(lang).check(name, EXERCISES[name].reference).passed
