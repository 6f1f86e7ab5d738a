"""Claims of the regularization lecture: dropout's expectations, L1 versus L2, distillation."""

import torch

from course_lib.losses import distillation_loss, mse
from course_lib.regularization import Dropout, dropout, l1_penalty, l2_penalty, soft_threshold_

DRAWS = 20_000


def monte_carlo_mean(x, p, inverted):
    """The average of many training-mode dropout outputs of the same input ``x``."""
    g = torch.Generator().manual_seed(0)
    batch = x.expand(DRAWS, *x.shape)
    return dropout(batch, p, training=True, inverted=inverted, generator=g).mean(dim=0)


def within_monte_carlo_error(estimate, truth, spread):
    """|estimate - truth| within 5 standard errors, ``spread`` the std of one draw."""
    return torch.all((estimate - truth).abs() <= 5 * spread / DRAWS**0.5 + 1e-12)


def test_inverted_dropout_keeps_the_expected_output_equal_to_the_input():
    x = torch.linspace(-3, 3, 50, dtype=torch.float64)
    for p in [0.1, 0.5, 0.8]:
        q = 1 - p
        spread = x.abs() * (p / q) ** 0.5  # x / q with probability q, else 0
        assert within_monte_carlo_error(monte_carlo_mean(x, p, inverted=True), x, spread)


def test_inverted_dropout_is_the_identity_at_test_time():
    layer = Dropout(0.5).eval()
    x = torch.randn(8, 20, dtype=torch.float64)
    assert torch.equal(layer(x), x)


def test_vanilla_dropout_test_scaling_matches_the_training_expectation():
    """Train: keep with probability q = 1 - p, no scaling; test: multiply by q. Same mean."""
    x = torch.linspace(-3, 3, 50, dtype=torch.float64)
    for p in [0.1, 0.5, 0.8]:
        q = 1 - p
        at_test = dropout(x, p, training=False, inverted=False)
        torch.testing.assert_close(at_test, q * x, rtol=1e-15, atol=0)
        spread = x.abs() * (p * q) ** 0.5  # x with probability q, else 0
        assert within_monte_carlo_error(monte_carlo_mean(x, p, inverted=False), at_test, spread)


def sparse_regression():
    """y = X w* + noise with 20 features of which only the first 4 matter."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(200, 20, generator=g, dtype=torch.float64)
    w_true = torch.zeros(20, dtype=torch.float64)
    w_true[:4] = torch.tensor([3.0, -2.0, 1.5, 1.0], dtype=torch.float64)
    y = x @ w_true + 0.5 * torch.randn(200, generator=g, dtype=torch.float64)
    return x, y


def train(penalty, lam, steps=1000, lr=0.05):
    """Gradient descent on mse + lam * penalty; for L1 the proximal (soft-threshold) step."""
    x, y = sparse_regression()
    w = torch.zeros(20, dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        loss = mse(x @ w, y)
        if penalty == "l2":
            loss = loss + lam * l2_penalty(w)
        (grad,) = torch.autograd.grad(loss, w)
        with torch.no_grad():
            w -= lr * grad
            if penalty == "l1":
                soft_threshold_(w, lr * lam)
    return w.detach()


def test_l1_sets_irrelevant_weights_exactly_to_zero_and_l2_only_shrinks_them():
    plain, lasso, ridge = train(None, 0.0), train("l1", 0.3), train("l2", 0.3)
    irrelevant = slice(4, None)
    assert (lasso[irrelevant] == 0).sum() >= 14
    assert torch.all(lasso[:4] != 0)
    assert torch.all(ridge != 0) and torch.all(plain != 0)
    assert l2_penalty(ridge) < l2_penalty(plain)
    assert l1_penalty(lasso) < l1_penalty(plain)


def test_l1_by_subgradient_only_brings_weights_near_zero():
    """Without the proximal step, weights jitter around 0 by about lr * lam, never landing on it."""
    x, y = sparse_regression()
    w = torch.zeros(20, dtype=torch.float64, requires_grad=True)
    for _ in range(1000):
        (grad,) = torch.autograd.grad(mse(x @ w, y) + 0.3 * l1_penalty(w), w)
        with torch.no_grad():
            w -= 0.05 * grad
    assert torch.all(w[4:].abs() < 0.05) and torch.all(w[4:] != 0)


def logits(seed, n=16, c=10):
    g = torch.Generator().manual_seed(seed)
    return 3 * torch.randn(n, c, generator=g, dtype=torch.float64)


def test_distillation_gradient_is_zero_when_the_student_equals_the_teacher():
    teacher = logits(0)
    student = teacher.clone().requires_grad_(True)
    target = torch.randint(10, (16,))
    (grad,) = torch.autograd.grad(distillation_loss(student, teacher, target, T=4.0, alpha=1.0),
                                  student)
    assert grad.abs().max() < 1e-12
    (grad,) = torch.autograd.grad(distillation_loss(student, teacher, target, T=4.0, alpha=0.5),
                                  student)
    assert grad.abs().max() > 1e-3


def test_the_T2_factor_keeps_the_soft_gradient_scale_independent_of_T():
    """Without T^2 the gradient would fall by 4 from T = 10 to T = 20; with it, it stays put."""
    teacher, student = logits(0), logits(1).requires_grad_(True)
    target = torch.zeros(16, dtype=torch.long)

    def gradient_norm(T):
        loss = distillation_loss(student, teacher, target, T=T, alpha=1.0)
        return torch.autograd.grad(loss, student)[0].norm().item()

    assert 0.9 < gradient_norm(20.0) / gradient_norm(10.0) < 1.1
