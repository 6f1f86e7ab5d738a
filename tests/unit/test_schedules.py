"""course_lib.schedules against torch.optim.lr_scheduler: the same learning rates, step by step."""

import re

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

from course_lib import i18n, schedules
from course_lib.i18n import CourseError, t

STEPS = 200
base_lrs = st.lists(st.floats(1e-4, 1.0), min_size=1, max_size=3)


def optimizer(lrs):
    """An SGD over one parameter per group, group i starting from lrs[i]."""
    return torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr}
                            for lr in lrs])


def curve(scheduler, steps=STEPS) -> list[list[float]]:
    """The learning rates of every group at t = 0 .. steps - 1, as a training loop sees them."""
    lrs = []
    for _ in range(steps):
        lrs.append([group["lr"] for group in scheduler.optimizer.param_groups])
        assert scheduler.get_last_lr() == lrs[-1]
        scheduler.optimizer.step()
        scheduler.step()
    return lrs


def assert_same_curve(ours, theirs, lrs):
    # torch updates recursively (lr_t from lr_{t-1}); ours is the closed form
    torch.testing.assert_close(torch.tensor(ours, dtype=torch.float64),
                               torch.tensor(theirs, dtype=torch.float64),
                               rtol=1e-12, atol=1e-14 * max(lrs))


@given(lrs=base_lrs, step_size=st.integers(1, 40), gamma=st.floats(0.05, 1.0))
def test_step_lr_equals_torch(lrs, step_size, gamma):
    ours = curve(schedules.StepLR(optimizer(lrs), step_size, gamma))
    theirs = curve(torch.optim.lr_scheduler.StepLR(optimizer(lrs), step_size, gamma))
    assert_same_curve(ours, theirs, lrs)


@given(lrs=base_lrs, gamma=st.floats(0.9, 1.0))
def test_exponential_lr_equals_torch(lrs, gamma):
    ours = curve(schedules.ExponentialLR(optimizer(lrs), gamma))
    theirs = curve(torch.optim.lr_scheduler.ExponentialLR(optimizer(lrs), gamma))
    assert_same_curve(ours, theirs, lrs)


@given(lrs=base_lrs, k=st.floats(0.0, 1.0))
def test_inverse_time_lr_equals_torch_lambda_lr_of_one_over_one_plus_k_t(lrs, k):
    ours = curve(schedules.InverseTimeLR(optimizer(lrs), k))
    theirs = curve(torch.optim.lr_scheduler.LambdaLR(optimizer(lrs), lambda t: 1 / (1 + k * t)))
    assert_same_curve(ours, theirs, lrs)


@given(lrs=base_lrs, T_max=st.integers(1, 250), eta_min=st.sampled_from([0.0, 1e-5, 1e-4]))
def test_cosine_annealing_lr_equals_torch(lrs, T_max, eta_min):
    ours = curve(schedules.CosineAnnealingLR(optimizer(lrs), T_max, eta_min))
    theirs = curve(torch.optim.lr_scheduler.CosineAnnealingLR(optimizer(lrs), T_max, eta_min))
    assert_same_curve(ours, theirs, lrs)


@given(lrs=base_lrs, T_0=st.integers(1, 60), T_mult=st.integers(1, 3),
       eta_min=st.sampled_from([0.0, 1e-5, 1e-4]))
def test_cosine_annealing_warm_restarts_equals_torch(lrs, T_0, T_mult, eta_min):
    ours = curve(schedules.CosineAnnealingWarmRestarts(optimizer(lrs), T_0, T_mult, eta_min))
    theirs = curve(torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        optimizer(lrs), T_0, T_mult, eta_min))
    assert_same_curve(ours, theirs, lrs)


@given(lrs=base_lrs, total_steps=st.integers(2, 300), pct_start=st.floats(0.0, 0.99),
       anneal=st.sampled_from(["cos", "linear"]), div_factor=st.floats(1.0, 100.0),
       final_div_factor=st.floats(1.0, 1e5))
def test_one_cycle_lr_equals_torch_without_momentum_cycling(lrs, total_steps, pct_start, anneal,
                                                            div_factor, final_div_factor):
    assume(pct_start * total_steps != 1)  # a warm-up of zero length: torch divides by zero
    hyper = {"total_steps": total_steps, "pct_start": pct_start, "anneal_strategy": anneal,
             "div_factor": div_factor, "final_div_factor": final_div_factor}
    ours = curve(schedules.OneCycleLR(optimizer([0.5]), lrs[:1], **hyper), total_steps)
    theirs = curve(torch.optim.lr_scheduler.OneCycleLR(optimizer([0.5]), lrs[:1],
                                                       cycle_momentum=False, **hyper),
                   total_steps)
    assert_same_curve(ours, theirs, lrs[:1])


def test_one_cycle_warms_up_to_max_lr_then_anneals_far_below_the_start():
    lrs = [schedules.one_cycle_lr(t, 0.1, 100, pct_start=0.25) for t in range(100)]
    peak = lrs.index(max(lrs))
    assert lrs[0] == pytest.approx(0.1 / 25) and max(lrs) == pytest.approx(0.1)
    assert peak == 24  # pct_start * total_steps - 1
    assert all(a < b for a, b in zip(lrs[:peak], lrs[1:peak + 1], strict=True))
    assert all(a > b for a, b in zip(lrs[peak:-1], lrs[peak + 1:], strict=True))
    assert lrs[-1] == pytest.approx(0.1 / 25 / 1e4)


def test_warm_restarts_start_over_at_lr_0_after_t_0_then_t_0_t_mult_steps():
    lrs = [lr for [lr] in curve(schedules.CosineAnnealingWarmRestarts(optimizer([0.1]), 5, 2), 40)]
    assert [t for t, lr in enumerate(lrs) if lr == 0.1] == [0, 5, 15, 35]
    assert all(lrs[t + 1] < lrs[t] for t in range(4))


CLASSES = {
    "step": (schedules.StepLR, {"step_size": 7, "gamma": 0.5}),
    "exponential": (schedules.ExponentialLR, {"gamma": 0.97}),
    "inverse_time": (schedules.InverseTimeLR, {"k": 0.1}),
    "cosine": (schedules.CosineAnnealingLR, {"T_max": 50, "eta_min": 1e-4}),
    "warm_restarts": (schedules.CosineAnnealingWarmRestarts,
                      {"T_0": 10, "T_mult": 2, "eta_min": 1e-4}),
    # peaking at the optimizer's rate, so that lr_at's lr is the scheduler's max_lr
    "one_cycle": (lambda opt, **hyper: schedules.OneCycleLR(
        opt, [group["lr"] for group in opt.param_groups], **hyper),
        {"total_steps": STEPS, "pct_start": 0.2, "div_factor": 10.0}),
}


@pytest.mark.parametrize("name", schedules.SCHEDULES)
def test_lr_at_draws_the_curve_the_scheduler_follows(name):
    cls, hyper = CLASSES[name]
    expected = [lr for [lr] in curve(cls(optimizer([0.1]), **hyper))]
    assert [schedules.lr_at(name, t, 0.1, **hyper) for t in range(STEPS)] == expected


def test_lr_at_follows_the_slide_formulas():
    assert schedules.lr_at("step", 30, 0.1, step_size=10, gamma=0.5) == 0.1 * 0.5**3
    assert schedules.lr_at("exponential", 4, 0.1, gamma=0.5) == 0.1 / 16
    assert schedules.lr_at("inverse_time", 9, 0.1, k=1.0) == pytest.approx(0.01)
    assert schedules.lr_at("cosine", 25, 0.1, T_max=50) == pytest.approx(0.05)
    assert schedules.lr_at("cosine", 50, 0.1, T_max=50, eta_min=0.01) == pytest.approx(0.01)


@pytest.mark.parametrize("name", schedules.SCHEDULES)
def test_a_resumed_scheduler_continues_the_same_curve(name):
    cls, hyper = CLASSES[name]
    straight = curve(cls(optimizer([0.1, 0.02]), **hyper), 60)
    first = cls(optimizer([0.1, 0.02]), **hyper)
    head = curve(first, 25)
    second = cls(optimizer([0.1, 0.02]), **hyper)
    second.optimizer.load_state_dict(first.optimizer.state_dict())
    second.load_state_dict(first.state_dict())
    assert head + curve(second, 35) == straight


# ---- bad arguments --------------------------------------------------------------------------

TORCH_REJECTS = [
    {"T_0": 0},
    {"T_0": 2.5},
    {"T_0": 10, "T_mult": 0},
    {"T_0": 10, "T_mult": 1.5},
    {"T_0": 10, "eta_min": "0"},
]


@pytest.mark.parametrize("kwargs", TORCH_REJECTS, ids=str)
def test_bad_warm_restart_arguments_raise_value_error_like_torch(kwargs):
    with pytest.raises(ValueError) as torch_error:
        torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(optimizer([0.1]), **kwargs)
    with pytest.raises(ValueError, match=f"^{re.escape(str(torch_error.value))}$"):
        schedules.CosineAnnealingWarmRestarts(optimizer([0.1]), **kwargs)


BAD = [
    (schedules.StepLR, {"step_size": 0}),
    (schedules.StepLR, {"step_size": 2.0}),
    (schedules.StepLR, {"step_size": 10, "gamma": 0.0}),
    (schedules.ExponentialLR, {"gamma": -0.9}),
    (schedules.InverseTimeLR, {"k": -0.1}),
    (schedules.CosineAnnealingLR, {"T_max": 0}),
    (schedules.CosineAnnealingLR, {"T_max": 10, "eta_min": -1e-3}),
    (schedules.CosineAnnealingWarmRestarts, {"T_0": 10, "eta_min": -1e-3}),
]

ONE_CYCLE_REJECTS = [
    {"total_steps": 0},
    {"total_steps": 10, "pct_start": 1.5},
    {"total_steps": 10, "anneal_strategy": "step"},
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE_REJECTS, ids=str)
def test_bad_one_cycle_arguments_raise_torchs_value_error(kwargs):
    with pytest.raises(ValueError) as torch_error:
        torch.optim.lr_scheduler.OneCycleLR(optimizer([0.1]), 0.1, **kwargs)
    with pytest.raises(ValueError, match=f"^{re.escape(str(torch_error.value))}$"):
        schedules.OneCycleLR(optimizer([0.1]), 0.1, **kwargs)


def test_one_cycle_refuses_to_step_past_its_total_steps_like_torch():
    ours = schedules.OneCycleLR(optimizer([0.1]), 0.1, total_steps=3)
    theirs = torch.optim.lr_scheduler.OneCycleLR(optimizer([0.1]), 0.1, total_steps=3)
    for scheduler in (ours, theirs):
        for _ in range(3):
            scheduler.optimizer.step()
            scheduler.step()
    with pytest.raises(ValueError) as torch_error:
        theirs.step()
    with pytest.raises(ValueError, match=f"^{re.escape(str(torch_error.value))}$"):
        ours.step()


@pytest.mark.parametrize(("cls", "kwargs"), BAD, ids=[f"{c.__name__}-{k}" for c, k in BAD])
def test_bad_schedule_arguments_raise_value_error_before_touching_the_optimizer(cls, kwargs):
    opt = optimizer([0.1])
    with pytest.raises(ValueError, match="Invalid|Expected"):
        cls(opt, **kwargs)
    assert "initial_lr" not in opt.param_groups[0]


def test_lr_at_names_the_known_schedules_for_an_unknown_one():
    with pytest.raises(ValueError, match="'linear'.*step, exponential, inverse_time, cosine"):
        schedules.lr_at("linear", 3, 0.1)
    with pytest.raises(CourseError, match="gamma = 0 .*gamma must lie in \\(0, ∞\\)"):
        schedules.lr_at("exponential", 3, 0.1, gamma=0)


@pytest.mark.parametrize("lang", ["sk", "ru"])
def test_pure_schedule_functions_name_a_bad_argument_in_the_students_language(lang, monkeypatch):
    monkeypatch.setattr(i18n, "_current", lang)
    for call, name in [(lambda: schedules.step_lr(3, 0.1, step_size=0), "step_size"),
                       (lambda: schedules.cosine_lr(-1, 0.1, T_max=10), "t"),
                       (lambda: schedules.warm_restarts_lr(3, 0.1, T_0=10, T_mult=0), "T_mult"),
                       (lambda: schedules.one_cycle_lr(11, 0.1, total_steps=10), "t"),
                       (lambda: schedules.one_cycle_lr(1, 0.1, 10, pct_start=2.0), "pct_start")]:
        with pytest.raises(CourseError) as error:
            call()
        assert str(error.value) == t("schedules.bad_argument", lang=lang, **error.value.fields)
        assert error.value.fields["name"] == name
