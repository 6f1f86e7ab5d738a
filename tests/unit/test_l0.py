"""course_lib.l0: hard-concrete gates against their closed forms, by Monte Carlo and autograd."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_lib import CourseError, l0

log_alphas = st.floats(-4.0, 4.0)
N = 100_000
N_QUICK = 40_000
"""Samples per Monte Carlo check: N for single checks, N_QUICK for each hypothesis example."""


def samples(log_alpha: float, n: int = N, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, generator=g, dtype=torch.float64)
    return l0.sample_hard_concrete(torch.tensor(log_alpha, dtype=torch.float64), u)


def close_to(frequency, p, n):
    """A frequency within 5 standard errors of the probability ``p``."""
    return abs(frequency - p) <= 5 * math.sqrt(p * (1 - p) / n) + 1e-4


@given(log_alpha=log_alphas)
def test_samples_lie_in_the_unit_interval_with_masses_at_both_ends(log_alpha):
    g = samples(log_alpha, N_QUICK)
    assert g.min() >= 0 and g.max() <= 1
    la = torch.tensor(log_alpha, dtype=torch.float64)
    assert close_to((g == 0).double().mean().item(), l0.prob_zero(la).item(), N_QUICK)
    assert close_to((g == 1).double().mean().item(), l0.prob_one(la).item(), N_QUICK)


@given(log_alpha=log_alphas, seed=st.integers(0, 2**31))
def test_frequency_of_open_gates_matches_prob_nonzero(log_alpha, seed):
    g = samples(log_alpha, N_QUICK, seed)
    p = l0.prob_nonzero(torch.tensor(log_alpha, dtype=torch.float64)).item()
    assert close_to((g > 0).double().mean().item(), p, N_QUICK)


def test_closed_forms_with_the_paper_constants():
    la = torch.linspace(-5, 5, 11, dtype=torch.float64)
    c = math.log(0.1 / 1.1)
    torch.testing.assert_close(l0.prob_nonzero(la), torch.sigmoid(la - 2 / 3 * c))
    torch.testing.assert_close(l0.prob_zero(la) + l0.prob_nonzero(la), torch.ones_like(la))
    torch.testing.assert_close(l0.prob_one(la), torch.sigmoid(la + 2 / 3 * c))
    torch.testing.assert_close(l0.hard_concrete_cdf(torch.zeros(()), la), l0.prob_zero(la))
    below_one = l0.hard_concrete_cdf(torch.tensor(1 - 1e-12, dtype=torch.float64), la)
    torch.testing.assert_close(below_one, 1 - l0.prob_one(la))


@pytest.mark.parametrize("log_alpha", [-2.0, 0.0, 1.5])
def test_cdf_matches_the_empirical_distribution(log_alpha):
    g = samples(log_alpha)
    x = torch.tensor([-0.5, 0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 0.999, 1.0, 1.5], dtype=torch.float64)
    cdf = l0.hard_concrete_cdf(x, torch.tensor(log_alpha, dtype=torch.float64))
    assert cdf[0] == 0 and cdf[-2] == 1 and cdf[-1] == 1
    for xi, ci in zip(x, cdf, strict=True):
        assert close_to((g <= xi).double().mean().item(), ci.item(), N)


@given(log_alpha=log_alphas)
def test_density_is_the_derivative_of_the_cdf_and_completes_the_point_masses(log_alpha):
    la = torch.tensor(log_alpha, dtype=torch.float64)
    x = torch.linspace(0.01, 0.99, 50, dtype=torch.float64, requires_grad=True)
    (dcdf,) = torch.autograd.grad(l0.hard_concrete_cdf(x, la).sum(), x)
    torch.testing.assert_close(l0.hard_concrete_density(x.detach(), la), dcdf)
    grid = torch.linspace(1e-12, 1 - 1e-12, 20_001, dtype=torch.float64)
    mass = torch.trapezoid(l0.hard_concrete_density(grid, la), grid)
    assert mass.item() == pytest.approx((1 - l0.prob_zero(la) - l0.prob_one(la)).item(), abs=1e-7)
    outside = torch.tensor([-1.0, 0.0, 1.0, 2.0], dtype=torch.float64)
    assert torch.all(l0.hard_concrete_density(outside, la) == 0)


def test_monte_carlo_mean_matches_the_distribution():
    la = torch.tensor(0.5, dtype=torch.float64)
    grid = torch.linspace(1e-12, 1 - 1e-12, 20_001, dtype=torch.float64)
    mean = l0.prob_one(la) + torch.trapezoid(grid * l0.hard_concrete_density(grid, la), grid)
    g = samples(0.5)
    assert g.mean().item() == pytest.approx(mean.item(), abs=5 * g.std().item() / math.sqrt(N))


@given(log_alpha=st.lists(log_alphas, min_size=1, max_size=6))
def test_penalty_gradient_matches_the_closed_form(log_alpha):
    gate = l0.HardConcreteGate(len(log_alpha)).double()
    with torch.no_grad():
        gate.log_alpha.copy_(torch.tensor(log_alpha))
    gate.l0_penalty().backward()
    p = torch.sigmoid(gate.log_alpha.detach() - 2 / 3 * math.log(0.1 / 1.1))
    torch.testing.assert_close(gate.log_alpha.grad, p * (1 - p))
    la = gate.log_alpha.detach().clone().requires_grad_(True)
    (reference,) = torch.autograd.grad(l0.prob_nonzero(la).sum(), la)
    torch.testing.assert_close(gate.log_alpha.grad, reference)


def test_sampling_is_differentiable_and_handles_the_ends_of_u():
    la = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    u = torch.tensor([0.0, 0.45, 0.55, 1.0], dtype=torch.float64)
    g = l0.sample_hard_concrete(la, u)
    assert g[0] == 0 and g[-1] == 1 and 0 < g[1] < g[2] < 1
    g.sum().backward()
    assert torch.all(torch.isfinite(la.grad))
    assert la.grad[0] == 0 and la.grad[-1] == 0 and torch.all(la.grad[1:3] > 0)


def test_deterministic_gate_formula():
    la = torch.tensor([-10.0, -2.0, 0.0, 1.0, 10.0], dtype=torch.float64)
    expected = (torch.sigmoid(la) * 1.2 - 0.1).clamp(0, 1)
    torch.testing.assert_close(l0.deterministic_gate(la), expected)
    assert l0.deterministic_gate(la)[0] == 0 and l0.deterministic_gate(la)[-1] == 1
    assert l0.deterministic_gate(torch.tensor(0.0)) == pytest.approx(0.5)


@given(init_keep=st.floats(0.01, 0.99), features=st.integers(1, 5))
def test_init_keep_is_the_initial_probability_of_an_open_gate(init_keep, features):
    gate = l0.HardConcreteGate(features, init_keep=init_keep)
    torch.testing.assert_close(gate.keep_probability(), torch.full((features,), init_keep))
    assert gate.l0_penalty().item() == pytest.approx(features * init_keep, rel=1e-5)


def test_eval_gate_is_deterministic_and_train_gate_is_random():
    gate = l0.HardConcreteGate(6, init_keep=0.7).double()
    x = torch.ones(3, 6, dtype=torch.float64)
    gate.eval()
    first, second = gate(x), gate(x)
    torch.testing.assert_close(first, second)
    torch.testing.assert_close(first[0], gate.gate())
    gate.train()
    first, second = gate(x), gate(x)
    assert not torch.equal(first, second)
    torch.testing.assert_close(first[0], first[1])


def test_per_example_gates_differ_between_examples():
    gate = l0.HardConcreteGate(6, init_keep=0.7, per_example=True)
    out = gate(torch.ones(50, 6))
    assert out.shape == (50, 6)
    assert not torch.equal(out[0], out[1])
    assert out.min() >= 0 and out.max() <= 1
    assert "per_example=True" in repr(gate)


@pytest.mark.parametrize("per_example", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_gates_broadcast_over_channels(per_example, training):
    gate = l0.HardConcreteGate(4, init_keep=0.6, per_example=per_example).train(training)
    x = torch.randn(5, 4, 3, 2)
    y = gate(x)
    assert y.shape == x.shape
    ratio = torch.where(x != 0, y / x, torch.zeros(()))
    per_channel = ratio.flatten(2)
    assert torch.allclose(per_channel, per_channel[..., :1].expand_as(per_channel))
    if not training:
        torch.testing.assert_close(per_channel[:, :, 0], gate.gate().expand(5, 4))


def test_active_marks_the_units_kept_after_pruning():
    gate = l0.HardConcreteGate(3)
    with torch.no_grad():
        gate.log_alpha.copy_(torch.tensor([-5.0, 0.0, 5.0]))
    assert gate.active().tolist() == [False, True, True]
    assert gate.sample(7).shape == (7, 3)


@pytest.mark.parametrize(
    ("call", "key"),
    [
        (lambda: l0.HardConcreteGate(0), "l0.bad_num_features"),
        (lambda: l0.HardConcreteGate(2.5), "l0.bad_num_features"),
        (lambda: l0.HardConcreteGate(3, init_keep=1.0), "l0.bad_init_keep"),
        (lambda: l0.HardConcreteGate(3, init_keep=0.0), "l0.bad_init_keep"),
        (lambda: l0.HardConcreteGate(3)(torch.ones(2, 4)), "l0.bad_input"),
        (lambda: l0.HardConcreteGate(3)(torch.ones(3)), "l0.bad_input"),
        (lambda: l0.prob_nonzero(torch.zeros(1), gamma=0.1), "l0.bad_stretch"),
        (lambda: l0.prob_one(torch.zeros(1), zeta=1.0), "l0.bad_stretch"),
        (lambda: l0.prob_zero(torch.zeros(1), beta=0.0), "l0.bad_stretch"),
        (lambda: l0.deterministic_gate(torch.zeros(1), gamma=0.0), "l0.bad_stretch"),
        (lambda: l0.sample_hard_concrete(torch.zeros(2), torch.tensor([0.5, 1.5])),
         "l0.bad_uniform"),
    ],
)
def test_bad_arguments_raise_a_localized_course_error(call, key):
    with pytest.raises(CourseError) as err:
        call()
    assert err.value.key == key


@pytest.mark.parametrize("beta", [0.1, 2 / 3, 2.0])
def test_other_temperatures_and_stretches_keep_the_closed_forms(beta):
    gamma, zeta = -0.3, 1.2
    la = torch.tensor(0.3, dtype=torch.float64)
    u = torch.rand(N, dtype=torch.float64)
    g = l0.sample_hard_concrete(la, u, beta, gamma, zeta)
    p_open, p_one = l0.prob_nonzero(la, beta, gamma, zeta), l0.prob_one(la, beta, gamma, zeta)
    assert close_to((g > 0).double().mean().item(), p_open.item(), N)
    assert close_to((g == 1).double().mean().item(), p_one.item(), N)


@pytest.mark.parametrize("shape", [(5, 4), (5, 4, 3, 2)], ids=["per-neuron 1-D", "per-channel 2-D"])
def test_gate_module_in_train_and_eval_mode(shape):
    """Eval: ``x * g_test`` with one deterministic gate per neuron or channel. Train: one
    sample in [0, 1] per unit, shared by the batch, some exactly 0 and some exactly 1."""
    gate = l0.HardConcreteGate(4, init_keep=0.5).double()
    with torch.no_grad():
        gate.log_alpha.copy_(torch.tensor([-1.0, 0.0, 1.0, 2.0]))
    x = torch.rand(*shape, dtype=torch.float64) + 0.5
    view = (1, 4, *(1,) * (len(shape) - 2))
    gate.eval()
    torch.testing.assert_close(gate(x), x * gate.gate().view(view))
    gate.train()
    draws = torch.stack([(gate(x) / x).flatten(2).mean(2)[0] if len(shape) > 2
                         else (gate(x) / x)[0] for _ in range(400)])
    assert draws.min() == 0 and draws.max() == 1
    assert ((draws > 0) & (draws < 1)).any()


def test_nan_noise_is_rejected_instead_of_giving_nan_gates():
    u = torch.tensor([0.2, float("nan"), 0.7])
    with pytest.raises(CourseError) as err:
        l0.sample_hard_concrete(torch.zeros(3), u)
    assert err.value.key == "l0.nan_noise" and err.value.fields == {"count": 1, "total": 3}
