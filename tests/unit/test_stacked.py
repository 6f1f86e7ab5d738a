"""course_lib.stacked: R runs trained together equal R runs trained one by one (float64)."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import models
from course_lib.i18n import LANGUAGES, CourseError, set_language, t
from course_lib.stacked import (
    Orders,
    Stack,
    StackedAdam,
    StackedAdamW,
    StackedSGD,
    fit_stacked,
    seeded,
    train_stacked,
)
from course_lib.training import fit

TOL = {"rtol": 1e-10, "atol": 1e-10}


@pytest.fixture(autouse=True)
def float64():
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def regression(n: int = 37):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=gen)
    return x, torch.sin(2 * x[:, :1]) + 0.3 * x[:, 1:]


def alone(model, x, y, *, seed, epochs, batch_size, optimizer, loss_fn):
    """The ordinary loop: a seeded DataLoader, torch.optim, one model. Returns the step losses."""
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    losses = []
    for _ in range(epochs):
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    return losses


def torch_optimizer(name, params, lr, weight_decay, extra):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, weight_decay=weight_decay, **extra)
    kind = torch.optim.AdamW if name == "adamw" else torch.optim.Adam
    return kind(params, lr=lr, weight_decay=weight_decay, **extra)


sgd_options = st.sampled_from([{}, {"momentum": 0.9}, {"momentum": 0.5, "dampening": 0.3},
                               {"momentum": 0.9, "nesterov": True}])
adam_options = st.sampled_from([{}, {"betas": (0.8, 0.99), "eps": 1e-6}])


# Batches of at least 4: with single examples, momentum 0.9 and lr near 0.1 the training is
# chaotic, and the rounding of a batched matrix product against a single one (1e-16) grows to
# 1e-7 within 100 steps, as any two equivalent implementations would. Elsewhere: about 1e-13.
@settings(max_examples=25, deadline=None)
@given(runs=st.integers(1, 3), epochs=st.integers(1, 3), batch_size=st.integers(4, 40),
       data=st.data(), optimizer=st.sampled_from(["sgd", "adam", "adamw"]))
def test_stacked_runs_equal_the_ordinary_loop_run_by_run(runs, epochs, batch_size, data,
                                                         optimizer):
    lrs = data.draw(st.lists(st.floats(1e-3, 0.1), min_size=runs, max_size=runs))
    decays = data.draw(st.lists(st.sampled_from([0.0, 0.01, 0.1]), min_size=runs,
                                max_size=runs))
    seeds = data.draw(st.lists(st.integers(0, 2**31), min_size=runs, max_size=runs))
    extra = data.draw(sgd_options if optimizer == "sgd" else adam_options)
    x, y = regression()
    nets = seeded(lambda: models.mlp([2, 8, 1], activation="tanh"), seeds)
    references = copy.deepcopy(nets)

    histories = train_stacked(nets, (x, y), seeds=seeds, epochs=epochs, batch_size=batch_size,
                              optimizer=optimizer, lr=lrs, weight_decay=decays,
                              loss_fn=nn.MSELoss(), **extra)

    for r, reference in enumerate(references):
        opt = torch_optimizer(optimizer, reference.parameters(), lrs[r], decays[r], extra)
        losses = alone(reference, x, y, seed=seeds[r], epochs=epochs, batch_size=batch_size,
                       optimizer=opt, loss_fn=nn.MSELoss())
        torch.testing.assert_close(histories[r].step_loss, losses, **TOL)
        for a, b in zip(nets[r].parameters(), reference.parameters(), strict=True):
            torch.testing.assert_close(a, b, **TOL)
        assert histories[r].step_lr == [lrs[r]] * len(losses)
        assert histories[r].epochs == epochs


def conv_net():
    # No bias before batch norm: its gradient is 0 up to rounding, which Adam would magnify.
    return nn.Sequential(nn.Conv2d(1, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 3))


def test_a_convnet_with_batch_norm_matches_fit_history_and_running_statistics():
    # In order, not shuffled: fit wraps the loader in tqdm.auto, whose constructor starts an
    # extra iterator, so fit's shuffled batches are not those of the plain loop (see above).
    gen = torch.Generator().manual_seed(1)
    images = torch.randn(30, 1, 6, 6, generator=gen)
    labels = (images.mean(dim=(1, 2, 3)) > 0).long() + (images[:, 0, 0, 0] > 1).long()
    val = (images[:12], labels[:12])
    seeds = [3, 4]
    nets = seeded(conv_net, seeds)
    references = copy.deepcopy(nets)
    stack = Stack(nets)
    optimizer = StackedAdam(stack.parameters(), lr=[0.01, 0.03])
    histories = fit_stacked(stack, TensorDataset(images, labels), optimizer, seeds=seeds,
                            epochs=3, batch_size=8, val=val, shuffle=False)
    stack.write_to(nets)
    for r, (reference, lr) in enumerate(zip(references, [0.01, 0.03], strict=True)):
        loader = DataLoader(TensorDataset(images, labels), batch_size=8)
        expected = fit(reference, loader, torch.optim.Adam(reference.parameters(), lr=lr),
                       epochs=3, val_data=DataLoader(TensorDataset(*val), batch_size=256),
                       progress=False)
        for name in ("step_loss", "step_loss_ema", "step_lr", "train_loss", "val_loss"):
            torch.testing.assert_close(getattr(histories[r], name), getattr(expected, name),
                                       **TOL)
        assert histories[r].train_acc == expected.train_acc  # counts of correct predictions
        assert histories[r].val_acc == expected.val_acc
        for (name, a), b in zip(nets[r].state_dict().items(), reference.state_dict().values(),
                                strict=True):
            torch.testing.assert_close(a, b, **TOL, msg=name)  # running mean and variance too


@pytest.mark.parametrize(("ours", "theirs"), [(StackedSGD, torch.optim.SGD),
                                               (StackedAdam, torch.optim.Adam),
                                               (StackedAdamW, torch.optim.AdamW)])
def test_the_stacked_optimizers_defaults_are_torchs(ours, theirs):
    param = nn.Parameter(torch.zeros(2, 3))
    expected = theirs([param]).defaults
    for key, value in ours([param]).defaults.items():
        if key != "decoupled":
            assert value == expected[key], key


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (12, 4), (5, 8)])
def test_orders_are_the_batches_of_a_seeded_shuffling_dataloader(n, batch_size):
    orders = Orders([7, 8], n)
    loaders = [DataLoader(torch.arange(n), batch_size=batch_size, shuffle=True,
                          generator=torch.Generator().manual_seed(seed)) for seed in (7, 8)]
    for _ in range(3):
        epoch = orders.epoch()
        for r, loader in enumerate(loaders):
            assert epoch[r].tolist() == torch.cat(list(loader)).tolist()
    assert Orders([7, 8], n, shuffle=False).epoch().tolist() == [list(range(n))] * 2


def test_unstacked_modules_compute_what_the_stack_computes():
    nets = seeded(lambda: models.mlp([2, 5, 3]), [0, 1, 2])
    stack = Stack(nets)
    x = torch.randn(3, 4, 2)
    out = stack(x)
    assert out.shape == (3, 4, 3)
    for r, module in enumerate(stack.unstack()):
        assert isinstance(module, nn.Sequential)
        torch.testing.assert_close(module(x[r]), out[r], rtol=0, atol=0)
        torch.testing.assert_close(nets[r](x[r]), out[r], rtol=0, atol=0)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_bad_arguments_are_explained(lang):
    set_language(lang)
    try:
        x, y = regression()
        nets = seeded(lambda: models.mlp([2, 4, 1]), [0, 1])
        cases = [
            (lambda: Stack([]), "stacked.no_models"),
            (lambda: Stack([nets[0], models.mlp([2, 5, 1])]), "stacked.different_models"),
            (lambda: train_stacked(nets, (x, y), seeds=[0, 1], epochs=1, batch_size=4,
                                   lr=[0.1, 0.2, 0.3]), "stacked.bad_runs"),
            (lambda: train_stacked(nets, (x, y), seeds=[0], epochs=1, batch_size=4),
             "stacked.bad_runs"),
            (lambda: train_stacked(nets, (x, y), seeds=[0, 1], epochs=0, batch_size=4),
             "validation.not_positive_int"),
            (lambda: train_stacked(nets, (x, y), seeds=[0, 1], epochs=1, batch_size=4,
                                   optimizer="lbfgs"), "stacked.unknown_optimizer"),
        ]
        for call, key in cases:
            with pytest.raises(CourseError) as error:
                call()
            assert error.value.key == key
            assert str(error.value) == t(key, lang=lang, **error.value.fields)
            if key == "stacked.different_models":  # the tensors whose shapes differ
                assert error.value.fields == {"index": 1, "names": "0.weight, 0.bias, 2.weight"}
    finally:
        set_language("en")
