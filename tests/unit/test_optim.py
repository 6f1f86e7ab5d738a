"""course_lib.optim against torch.optim: same trajectories, errors, state and checkpoints."""

import copy
import io
import re

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from course_lib import optim

F64 = torch.float64
NAMES = ["SGD", "Adagrad", "RMSprop", "Adam", "AdamW"]
STEPS = 100


def close(ours, theirs):
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


# ---- random problems: a quadratic bowl over random shapes, or a small tanh MLP --------------

class Problem:
    """A loss f(params) with fixed random data; ``params()`` gives fresh leaf copies of θ_0."""

    def __init__(self, seed: int, kind: str, shapes: list[tuple[int, ...]]):
        gen = torch.Generator().manual_seed(seed)
        self.kind = kind
        if kind == "quadratic":
            self.theta0 = [torch.randn(s, generator=gen, dtype=F64) for s in shapes]
            n = sum(t.numel() for t in self.theta0)
            q = torch.randn(n, n, generator=gen, dtype=F64)
            self.A = q @ q.T / n + 0.1 * torch.eye(n, dtype=F64)
            self.b = torch.randn(n, generator=gen, dtype=F64)
        else:
            hidden = shapes[0][0] if shapes[0] else 3
            self.x = torch.randn(8, 3, generator=gen, dtype=F64)
            self.y = torch.randn(8, 1, generator=gen, dtype=F64)
            self.theta0 = [torch.randn(3, hidden, generator=gen, dtype=F64),
                           torch.randn(hidden, generator=gen, dtype=F64),
                           torch.randn(hidden, 1, generator=gen, dtype=F64)]

    def params(self) -> list[torch.Tensor]:
        return [t.clone().requires_grad_() for t in self.theta0]

    def loss(self, params) -> torch.Tensor:
        if self.kind == "quadratic":
            x = torch.cat([p.reshape(-1) for p in params])
            return 0.5 * x @ self.A @ x + self.b @ x
        w1, b1, w2 = params
        return ((torch.tanh(self.x @ w1 + b1) @ w2 - self.y) ** 2).mean()


problems = st.builds(
    Problem,
    seed=st.integers(0, 2**31 - 1),
    kind=st.sampled_from(["quadratic", "mlp"]),
    shapes=st.lists(st.lists(st.integers(1, 4), max_size=2).map(tuple), min_size=1, max_size=3),
)


def train(optimizer, params, problem, steps=STEPS):
    for _ in range(steps):
        optimizer.zero_grad()
        problem.loss(params).backward()
        optimizer.step()


# ---- random hyper-parameters in the ranges the lecture uses ---------------------------------

weight_decay = st.one_of(st.just(0.0), st.floats(0.0, 0.1))
eps = st.sampled_from([1e-10, 1e-8, 1e-6, 1e-3])


@st.composite
def sgd_hyper(draw):
    momentum = draw(st.one_of(st.just(0.0), st.floats(0.0, 0.95)))
    nesterov = momentum > 0 and draw(st.booleans())
    dampening = 0.0 if nesterov else draw(st.one_of(st.just(0.0), st.floats(0.0, 0.5)))
    return {"lr": draw(st.floats(1e-3, 0.3)), "momentum": momentum, "dampening": dampening,
            "nesterov": nesterov, "weight_decay": draw(weight_decay),
            "maximize": draw(st.booleans())}


HYPER = {
    "SGD": sgd_hyper(),
    "Adagrad": st.fixed_dictionaries({
        "lr": st.floats(1e-3, 0.5), "lr_decay": st.one_of(st.just(0.0), st.floats(0.0, 0.1)),
        "initial_accumulator_value": st.one_of(st.just(0.0), st.floats(0.0, 1.0)), "eps": eps,
        "weight_decay": weight_decay, "maximize": st.booleans()}),
    "RMSprop": st.fixed_dictionaries({
        "lr": st.floats(1e-4, 0.05), "alpha": st.floats(0.5, 0.999), "eps": eps,
        "momentum": st.one_of(st.just(0.0), st.floats(0.0, 0.95)), "centered": st.booleans(),
        "weight_decay": weight_decay, "maximize": st.booleans()}),
    "Adam": st.fixed_dictionaries({
        "lr": st.floats(1e-4, 0.1), "eps": eps,
        "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.5, 0.9999)),
        "weight_decay": weight_decay, "amsgrad": st.booleans(), "maximize": st.booleans(),
        "decoupled_weight_decay": st.booleans()}),
}
HYPER["AdamW"] = HYPER["Adam"].map(
    lambda kw: {k: v for k, v in kw.items() if k != "decoupled_weight_decay"})


def both(name, make_params, kwargs):
    """(course_lib optimizer, torch optimizer, their params) on equal copies of the params."""
    ours_params, torch_params = make_params(), make_params()
    ours = getattr(optim, name)(ours_params, **kwargs)
    theirs = getattr(torch.optim, name)(torch_params, foreach=False, **kwargs)
    return ours, theirs, ours_params, torch_params


# ---- the trajectories --------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_follows_torch_for_100_steps_on_random_problems(name):
    @given(problem=problems, kwargs=HYPER[name])
    def check(problem, kwargs):
        ours, theirs, ours_params, torch_params = both(name, problem.params, kwargs)
        train(ours, ours_params, problem)
        train(theirs, torch_params, problem)
        for p, q in zip(ours_params, torch_params, strict=True):
            close(p, q)
            assert ours.state[p].keys() == theirs.state[q].keys()
            for key, value in ours.state[p].items():
                close(torch.as_tensor(value, dtype=F64),
                      torch.as_tensor(theirs.state[q][key], dtype=F64))

    check()


@pytest.mark.parametrize("name", NAMES)
def test_param_groups_keep_their_own_lr_and_hyper_parameters(name):
    problem = Problem(seed=1, kind="mlp", shapes=[(4,)])

    def groups():
        w1, b1, w2 = problem.params()
        return [{"params": [w1, b1]}, {"params": [w2], "lr": 0.003, "weight_decay": 0.01}]

    ours, theirs, ours_groups, torch_groups = both(name, groups, {"lr": 0.02})
    ours_params = ours_groups[0]["params"] + ours_groups[1]["params"]
    torch_params = torch_groups[0]["params"] + torch_groups[1]["params"]
    train(ours, ours_params, problem, steps=30)
    train(theirs, torch_params, problem, steps=30)
    assert [g["lr"] for g in ours.param_groups] == [0.02, 0.003]
    assert [g["weight_decay"] for g in ours.param_groups][1] == 0.01
    for p, q in zip(ours_params, torch_params, strict=True):
        close(p, q)


@pytest.mark.parametrize("name", NAMES)
def test_parameters_without_gradient_are_left_alone(name):
    used, unused = torch.ones(3, dtype=F64, requires_grad=True), torch.ones(2, dtype=F64)
    opt = getattr(optim, name)([used, unused.requires_grad_()], lr=0.1)
    (used**2).sum().backward()
    opt.step()
    assert torch.equal(unused, torch.ones(2, dtype=F64))
    assert not opt.state[unused]
    assert not torch.equal(used, torch.ones(3, dtype=F64))


# ---- bad hyper-parameters: ValueError with torch's message --------------------------------

BAD = [
    ("SGD", {"lr": -1.0}),
    ("SGD", {"momentum": -0.5}),
    ("SGD", {"weight_decay": -1e-4}),
    ("SGD", {"nesterov": True}),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1}),
    ("Adagrad", {"lr": -0.01}),
    ("Adagrad", {"lr_decay": -1.0}),
    ("Adagrad", {"weight_decay": -1.0}),
    ("Adagrad", {"initial_accumulator_value": -0.1}),
    ("Adagrad", {"eps": -1e-10}),
    ("RMSprop", {"lr": -0.01}),
    ("RMSprop", {"eps": -1e-8}),
    ("RMSprop", {"momentum": -0.9}),
    ("RMSprop", {"weight_decay": -0.1}),
    ("RMSprop", {"alpha": -0.99}),
    ("Adam", {"lr": -1e-3}),
    ("Adam", {"eps": -1e-8}),
    ("Adam", {"betas": (1.0, 0.999)}),
    ("Adam", {"betas": (-0.1, 0.999)}),
    ("Adam", {"betas": (0.9, 1.0)}),
    ("Adam", {"weight_decay": -0.1}),
    ("AdamW", {"lr": -1e-3}),
    ("AdamW", {"betas": (0.9, 1.5)}),
    ("AdamW", {"weight_decay": -0.01}),
]


@pytest.mark.parametrize(("name", "kwargs"), BAD, ids=[f"{n}-{k}" for n, k in BAD])
def test_bad_hyper_parameters_raise_value_error_like_torch(name, kwargs):
    params = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError) as torch_error:
        getattr(torch.optim, name)(params, **kwargs)
    with pytest.raises(ValueError, match=f"^{re.escape(str(torch_error.value))}$"):
        getattr(optim, name)(params, **kwargs)


# ---- checkpoints ---------------------------------------------------------------------------

CONFIGS = [
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "dampening": 0.2}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("RMSprop", {"lr": 0.01, "momentum": 0.9, "centered": True}),
    ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 1e-3}),
    ("AdamW", {"lr": 0.01, "betas": (0.8, 0.99)}),
]
IDS = [f"{n}-{'-'.join(k)}" for n, k in CONFIGS]


def saved(state_dict) -> dict:
    """``state_dict`` after a trip through ``torch.save`` / ``torch.load`` (weights only)."""
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_resuming_from_a_state_dict_matches_an_uninterrupted_run_exactly(name, kwargs):
    problem = Problem(seed=2, kind="mlp", shapes=[(5,)])
    cls = getattr(optim, name)
    straight = problem.params()
    train(cls(straight, **kwargs), straight, problem, steps=20)

    first = problem.params()
    opt = cls(first, **kwargs)
    train(opt, first, problem, steps=7)
    checkpoint = saved(opt.state_dict())
    resumed = [p.detach().clone().requires_grad_() for p in first]
    fresh = cls(resumed, lr=123.0)
    fresh.load_state_dict(checkpoint)
    train(fresh, resumed, problem, steps=13)
    for p, q in zip(resumed, straight, strict=True):
        assert torch.equal(p, q)


@pytest.mark.parametrize("direction", ["torch->course_lib", "course_lib->torch"])
@pytest.mark.parametrize(("name", "kwargs"), CONFIGS, ids=IDS)
def test_checkpoints_move_between_torch_and_course_lib(name, kwargs, direction):
    problem = Problem(seed=3, kind="quadratic", shapes=[(2, 3), (4,)])
    first, then = getattr(torch.optim, name), getattr(optim, name)
    if direction == "course_lib->torch":
        first, then = then, first
    straight = problem.params()
    train(getattr(torch.optim, name)(straight, foreach=False, **kwargs), straight, problem, 20)

    params = problem.params()
    opt = first(params, **kwargs)
    train(opt, params, problem, steps=10)
    resumed = then(params, **kwargs)
    resumed.load_state_dict(saved(opt.state_dict()))
    train(resumed, params, problem, steps=10)
    for p, q in zip(params, straight, strict=True):
        close(p, q)


# ---- a loop written for torch.optim.Adam ----------------------------------------------------

def torch_style_training(adam_class) -> list[float]:
    """A typical loop from a PyTorch tutorial; only the optimizer class is swapped."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 1))
    model = model.double()
    x, y = torch.randn(64, 4, dtype=F64), torch.randn(64, 1, dtype=F64)
    optimizer = adam_class(model.parameters(), lr=1e-2, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=10, gamma=0.5)
    loss_fn = torch.nn.MSELoss()
    losses = []
    for _epoch in range(3):
        for xb, yb in zip(x.split(16), y.split(16), strict=True):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(xb), yb)
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss

    losses.append(optimizer.step(closure).item())
    checkpoint = copy.deepcopy(optimizer.state_dict())
    optimizer.load_state_dict(checkpoint)
    losses.append(loss_fn(model(x), y).item())
    return losses


def test_a_training_loop_written_for_torch_adam_runs_unchanged_with_course_lib_adam():
    assert issubclass(optim.Adam, torch.optim.Optimizer)
    ours, theirs = torch_style_training(optim.Adam), torch_style_training(torch.optim.Adam)
    assert len(ours) == 3 * 4 + 2
    assert ours == pytest.approx(theirs, rel=1e-12, abs=1e-12)


# ---- the exercise reference solutions -------------------------------------------------------

@given(problem=problems, lr=st.floats(1e-3, 0.3), momentum=st.floats(0.0, 0.99))
def test_sgd_momentum_step_follows_sgd_with_momentum(problem, lr, momentum):
    params = problem.params()
    opt = optim.SGD(params, lr=lr, momentum=momentum)
    ws = [t.clone() for t in problem.theta0]
    vs = [torch.zeros_like(w) for w in ws]
    for _ in range(30):
        dws = torch.autograd.grad(problem.loss([w.requires_grad_() for w in ws]), ws)
        ws, vs = map(list, zip(*[optim.sgd_momentum_step(w.detach(), dw, v, lr, momentum)
                                 for w, dw, v in zip(ws, dws, vs, strict=True)], strict=True))
        opt.zero_grad()
        problem.loss(params).backward()
        opt.step()
    for w, p in zip(ws, params, strict=True):
        close(w, p)


@given(problem=problems, lr=st.floats(1e-4, 0.1), beta1=st.floats(0.0, 0.99),
       beta2=st.floats(0.5, 0.9999), eps=eps)
def test_adam_step_follows_adam(problem, lr, beta1, beta2, eps):
    params = problem.params()
    opt = optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps)
    ws = [t.clone() for t in problem.theta0]
    ms, vs = [torch.zeros_like(w) for w in ws], [torch.zeros_like(w) for w in ws]
    for t in range(1, 31):
        dws = torch.autograd.grad(problem.loss([w.requires_grad_() for w in ws]), ws)
        steps = [optim.adam_step(w.detach(), dw, m, v, t, lr, beta1, beta2, eps)
                 for w, dw, m, v in zip(ws, dws, ms, vs, strict=True)]
        ws, ms, vs = map(list, zip(*steps, strict=True))
        opt.zero_grad()
        problem.loss(params).backward()
        opt.step()
    # The slide's √(v / (1 - β2^t)) rounds differently from torch's √v / √(1 - β2^t); with
    # ε near 1e-10 and β1 = 0 the update is nearly sign(g), which amplifies one-ulp differences
    # over 30 steps to about 1e-9.
    for w, p in zip(ws, params, strict=True):
        torch.testing.assert_close(w, p, rtol=1e-8, atol=1e-8)


def test_the_exercise_steps_change_nothing_in_place():
    w, dw, m, v = (torch.randn(3, 2, dtype=F64) for _ in range(4))
    v = v.abs()
    before = [t.clone() for t in (w, dw, m, v)]
    optim.sgd_momentum_step(w, dw, m, lr=0.1, momentum=0.9)
    optim.adam_step(w, dw, m, v, t=3)
    optim.adam_step(w, dw, m, v, t=3, bias_correction=False)
    for t, b in zip((w, dw, m, v), before, strict=True):
        assert torch.equal(t, b)


def test_adam_step_without_bias_correction_is_the_slides_almost_adam():
    w, dw = torch.zeros(2, dtype=F64), torch.tensor([1.0, -2.0], dtype=F64)
    zero = torch.zeros(2, dtype=F64)
    w_new, m_new, v_new = optim.adam_step(w, dw, zero, zero, t=1, lr=1.0, eps=0.0,
                                          bias_correction=False)
    close(m_new, 0.1 * dw)
    close(v_new, 0.001 * dw**2)
    close(w_new, -0.1 / 0.001**0.5 * dw.sign())


def test_adam_step_counts_from_one():
    zero = torch.zeros(2)
    with pytest.raises(ValueError, match="starts at 1"):
        optim.adam_step(zero, zero, zero, zero, t=0)


def test_rmsprop_refuses_alpha_above_one_which_turns_the_weights_nan():
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(ValueError, match="^Invalid alpha value: 1.5$"):
        optim.RMSprop([p], alpha=1.5)
    torch_rmsprop = torch.optim.RMSprop([p], lr=0.1, alpha=1.5)  # torch lets it through
    for _ in range(3):
        p.grad = torch.ones(2)
        torch_rmsprop.step()
    assert torch.isnan(p).all()
    optim.RMSprop([p], alpha=1.0)


@pytest.mark.parametrize("betas", [(0.9,), 0.9, (0.9, 0.99, 0.999), ("a", 0.99)])
def test_malformed_betas_are_a_torch_style_value_error_not_an_index_error(betas):
    p = torch.zeros(2, requires_grad=True)
    for cls in (optim.Adam, optim.AdamW):
        with pytest.raises(ValueError, match=r"^Invalid betas: expected a pair \(beta1, beta2\)"):
            cls([p], betas=betas)
