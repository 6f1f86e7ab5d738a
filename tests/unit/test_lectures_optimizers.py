"""course_lib.lectures.optimizers: surfaces, paths and the optimizer factory."""

import matplotlib
import pytest
import torch

from course_lib import optim, schedules
from course_lib.lectures import optimizers as oe
from course_lib.training import History

matplotlib.use("Agg")


def test_surfaces_have_zero_gradient_at_their_minima_and_the_saddle():
    for name, surface in oe.SURFACES.items():
        points = [*surface.minima] + ([(0.0, 0.0)] if name == "saddle" else [])
        for point in points:
            x = torch.tensor(point, dtype=torch.float64, requires_grad=True)
            surface(x).backward()
            assert x.grad.abs().max().item() < 1e-12, (name, point)


def test_path_has_steps_plus_one_points_and_starts_at_the_start():
    path = oe.optimizer_path("bowl", "adam", steps=7)
    assert path.shape == (8, 2)
    assert path[0].tolist() == list(oe.SURFACES["bowl"].start)


def test_make_optimizer_builds_course_lib_optimizers_and_rejects_unknown_names():
    x = torch.zeros(2, requires_grad=True)
    assert isinstance(oe.make_optimizer("nesterov", [x], 0.1), optim.SGD)
    assert isinstance(oe.make_optimizer("adam", [x], 0.1), optim.Adam)
    with pytest.raises(ValueError):
        oe.make_optimizer("newton", [x], 0.1)


def test_noisy_paths_are_reproducible():
    a = oe.optimizer_path("saddle", "sgd", steps=20, noise=0.1, seed=3)
    b = oe.optimizer_path("saddle", "sgd", steps=20, noise=0.1, seed=3)
    assert torch.equal(a, b)


def test_plot_paths_returns_a_figure():
    fig = oe.plot_paths("rosenbrock", {"a": oe.optimizer_path("rosenbrock", "sgd", steps=5)})
    assert fig.axes


def _regression(seed=0):
    """A float64 linear regression in 8 mini-batches of 32; gradient descent on its mean squared
    error diverges for lr > 2 / λ_max, λ_max the largest eigenvalue of the Hessian 2 XᵀX / N."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 5, generator=gen, dtype=torch.float64) * torch.tensor(
        [3.0, 1, 1, 0.5, 0.2], dtype=torch.float64)
    y = x @ torch.ones(5, 1, dtype=torch.float64) + 0.1 * torch.randn(256, 1, generator=gen,
                                                                      dtype=torch.float64)
    torch.manual_seed(seed)
    model = torch.nn.Linear(5, 1, bias=False).double()
    limit = 2 / torch.linalg.eigvalsh(2 * x.T @ x / len(x)).max().item()
    return model, [(x[i:i + 32], y[i:i + 32]) for i in range(0, 256, 32)], limit


def test_lr_range_test_raises_the_rate_exponentially_and_restores_model_and_optimizer():
    model, data, _ = _regression()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    before = [p.detach().clone() for p in model.parameters()]
    result = oe.lr_range_test(model, data, opt, torch.nn.functional.mse_loss, lr_min=1e-4,
                              lr_max=1e-1, steps=30)
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:], strict=False)]
    assert result.lrs[0] == pytest.approx(1e-4)
    assert ratios == pytest.approx([1000 ** (1 / 29)] * len(ratios))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert opt.param_groups[0]["lr"] == 0.01 and not opt.state


def test_lr_range_test_stops_when_the_loss_explodes_and_suggests_a_rate_below_divergence():
    model, data, limit = _regression()
    result = oe.lr_range_test(model, data, torch.optim.SGD(model.parameters()),
                              torch.nn.functional.mse_loss, lr_min=1e-5, lr_max=10.0,
                              steps=200)
    assert len(result.lrs) < 200  # stopped early: the loss blew up
    assert result.lrs[-1] > limit  # ... only past the divergence threshold 2 / λ_max
    best = result.lrs[result.smoothed.index(min(result.smoothed))]
    assert result.suggestion == pytest.approx(best / 10)
    # the minimum of the smoothed curve sits at the edge of stability (the EMA lags a little),
    # so a rate ten times lower is safely below it
    assert limit / 2 < best < 2 * limit
    assert result.suggestion < limit / 4


@pytest.mark.parametrize(("kwargs", "name"), [({"lr_min": 0.0}, "lr_min"),
                                              ({"lr_min": 1.0, "lr_max": 0.5}, "lr_max"),
                                              ({"steps": 1}, "steps"), ({"beta": 1.0}, "beta")])
def test_lr_range_test_names_a_bad_argument(kwargs, name):
    from course_lib.i18n import CourseError

    model, data, _ = _regression()
    with pytest.raises(CourseError) as error:
        oe.lr_range_test(model, data, torch.optim.SGD(model.parameters()), **kwargs)
    assert error.value.fields["name"] == name


def test_adam_with_l2_decays_parameters_with_large_gradients_less_adamw_decays_all_alike():
    decay = oe.effective_decay([0.01, 0.1, 1.0, 10.0], lr=1e-3, weight_decay=1e-2, steps=500)
    assert torch.equal(decay["adamw"], torch.full((4,), 1e-5, dtype=torch.float64))
    l2 = decay["adam_l2"]
    assert all(a > 5 * b for a, b in zip(l2, l2[1:], strict=False))  # about 10x per 10x scale
    assert l2[0] > 1e-5 > l2[-1]


def test_effective_decay_of_adam_with_l2_is_the_decay_part_of_torchs_adam_step():
    # one more step of torch's Adam(weight_decay=λ) at w: the L2 part of the update, measured
    # as the difference to the same step without decay, is (1 - β1) decay_i w for a small w
    # (one step puts (1 - β1) of λw into the momentum; a slowly moving w gets all of it)
    scales = torch.tensor([0.05, 0.5, 5.0], dtype=torch.float64)
    predicted = oe.effective_decay(scales, lr=1e-3, weight_decay=1e-2, steps=300, seed=1)
    moved = []
    for wd in (1e-2, 0.0):
        w = torch.zeros(3, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.Adam([w], lr=1e-3, weight_decay=wd)
        gen = torch.Generator().manual_seed(1)
        for _ in range(300):
            w.grad = scales * torch.randn(3, generator=gen, dtype=torch.float64)
            with torch.no_grad():  # keep w at 0 so that λw adds nothing to the moments
                opt.step()
                w.zero_()
        with torch.no_grad():
            w.fill_(1e-3)
        w.grad = torch.zeros(3, dtype=torch.float64)
        opt.step()
        moved.append(w.detach().clone())
    l2_part = (moved[1] - moved[0]) / 1e-3 / (1 - 0.9)
    torch.testing.assert_close(l2_part, predicted["adam_l2"], rtol=0.02, atol=0)


def test_decay_effect_reads_the_epochs_around_the_decay_and_the_last():
    history = History(train_loss=[2.0, 1.0, 0.4, 0.3, 0.25])
    effect = oe.decay_effect(history, decay_epoch=2)
    assert (effect.before, effect.after, effect.final) == (1.0, 0.4, 0.25)
    assert effect.drop == pytest.approx(0.6)


def test_step_decay_runs_share_start_and_batches_and_decay_the_rate_by_the_step_schedule():
    runs = oe.step_decay_runs(epochs=2, decay_epoch=1, lr=0.2, gamma=0.5, batch_size=256)
    per_epoch = len(runs["step"].step_loss) // 2
    expected = [schedules.step_lr(t // per_epoch, 0.2, step_size=1, gamma=0.5)
                for t in range(2 * per_epoch)]
    assert runs["step"].step_lr == pytest.approx(expected)
    assert runs["constant"].step_lr == [0.2] * (2 * per_epoch)
    assert runs["step"].step_loss[:per_epoch] == runs["constant"].step_loss[:per_epoch]
    assert runs["step"].step_loss[per_epoch:] != runs["constant"].step_loss[per_epoch:]
