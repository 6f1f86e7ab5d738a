"""Claims of the optimizer lecture, each checked by a small deterministic experiment.

The bowl is the lecture's picture of "the loss changes fast along one axis and slowly along
another": f(x) = ½ Σ_i c_i x_i² in 10 dimensions with curvatures c_i from 1 to 100, so its
condition number is 100. Every optimizer starts at x = (1, ..., 1) and gets 100 steps with its
best learning rate from the same log grid, so no method loses by a badly chosen learning rate.
"""

import torch

from course_lib import optim

F64 = torch.float64
CURVATURES = torch.logspace(0, 2, 10, dtype=F64)
STEPS = 100
LR_GRID = torch.logspace(-4, 0, 17, dtype=F64).tolist()


def bowl(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (CURVATURES * x**2).sum()


def descend(make_optimizer, steps=STEPS) -> list[torch.Tensor]:
    """The points x_0, ..., x_steps that the optimizer visits on the bowl."""
    x = torch.ones(10, dtype=F64, requires_grad=True)
    opt = make_optimizer([x])
    path = [x.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        bowl(x).backward()
        opt.step()
        path.append(x.detach().clone())
    return path


def best_loss(cls, **hyper) -> float:
    """The lowest loss after 100 steps over the learning-rate grid (diverged runs count as inf)."""
    losses = [bowl(descend(lambda p, lr=lr: cls(p, lr=lr, **hyper))[-1]).item()
              for lr in LR_GRID]
    return min(loss for loss in losses if loss == loss)


def test_the_bowl_has_condition_number_100():
    assert CURVATURES.max() / CURVATURES.min() == torch.tensor(100.0, dtype=F64)


def test_adam_reaches_a_lower_loss_than_plain_sgd_on_an_ill_conditioned_bowl():
    sgd, adam = best_loss(optim.SGD), best_loss(optim.Adam)
    assert sgd > 1e-2
    assert adam < sgd / 10


def test_momentum_reaches_a_lower_loss_than_plain_sgd_on_the_same_bowl():
    sgd, momentum = best_loss(optim.SGD), best_loss(optim.SGD, momentum=0.9)
    assert momentum < sgd / 10


def test_plain_sgd_is_limited_by_the_steep_direction_of_the_bowl():
    # stable only for lr < 2 / c_max = 0.02; then the flat direction moves by lr · c_min per step
    def final(lr):
        return descend(lambda p: optim.SGD(p, lr=lr))[-1]

    assert final(0.019).abs().max() < 1
    assert final(0.021).abs().max() > 1e3
    assert final(0.019)[0] > 0.1


def first_steps(bias_correction: bool, gradient: torch.Tensor, steps=10) -> list[torch.Tensor]:
    """|Δw_t| / lr for t = 1 .. steps of Adam (β = 0.9, 0.999) under a constant gradient."""
    lr = 1e-3
    w, m, v = (torch.zeros_like(gradient) for _ in range(3))
    ratios = []
    for t in range(1, steps + 1):
        w_new, m, v = optim.adam_step(w, gradient, m, v, t, lr, eps=1e-12,
                                      bias_correction=bias_correction)
        ratios.append((w_new - w).abs() / lr)
        w = w_new
    return ratios


def test_adams_bias_correction_makes_the_first_steps_exactly_lr_whatever_the_gradient_scale():
    gradient = torch.tensor([1e-4, 1.0, -300.0], dtype=F64)
    for ratio in first_steps(bias_correction=True, gradient=gradient):
        torch.testing.assert_close(ratio, torch.ones(3, dtype=F64), rtol=1e-6, atol=0)


def test_without_bias_correction_the_first_adam_steps_are_several_times_larger_than_lr():
    # m_t = (1 - β1^t) g is too small, but √v_t = √(1 - β2^t) |g| is much smaller still
    gradient = torch.tensor([1e-4, 1.0, -300.0], dtype=F64)
    ratios = first_steps(bias_correction=False, gradient=gradient)
    for t, ratio in enumerate(ratios, start=1):
        expected = (1 - 0.9**t) / (1 - 0.999**t) ** 0.5
        torch.testing.assert_close(ratio, torch.full((3,), expected, dtype=F64), rtol=1e-6,
                                   atol=0)
    assert 3.1 < ratios[0][0] < 3.2  # 0.1 / √0.001 = 3.16 at t = 1
    assert all((ratio > 3).all() for ratio in ratios)


def effective_lrs(optimizer) -> torch.Tensor:
    """The effective learning rate per coordinate, lr / (√G + ε), of AdaGrad or RMSProp."""
    group = optimizer.param_groups[0]
    [x] = group["params"]
    state = optimizer.state[x]
    accumulated = state["sum"] if "sum" in state else state["square_avg"]
    return group["lr"] / (accumulated.sqrt() + group["eps"])


def effective_lr_history(optimizer_class, steps=STEPS, **hyper) -> torch.Tensor:
    """Effective learning rates after each step on a noisy version of the bowl: (steps, 10)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.ones(10, dtype=F64, requires_grad=True)
    opt = optimizer_class([x], **hyper)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        noisy = bowl(x) + 0.1 * (torch.randn(10, generator=gen, dtype=F64) * x).sum()
        noisy.backward()
        opt.step()
        history.append(effective_lrs(opt))
    return torch.stack(history)


def test_adagrad_effective_learning_rate_decreases_monotonically():
    history = effective_lr_history(optim.Adagrad, lr=0.1)
    assert (history[1:] < history[:-1]).all()
    assert (history[-1] < history[0] / 2).all()


def test_rmsprop_effective_learning_rate_grows_again_once_gradients_shrink():
    history = effective_lr_history(optim.RMSprop, lr=0.01, alpha=0.9)
    assert (history[1:] > history[:-1]).any(dim=0).all()
    assert (history[-1] > 2 * history.min(dim=0).values).all()
