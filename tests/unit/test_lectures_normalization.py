"""course_lib.lectures.normalization: the helpers behind lecture 06."""

import pytest
import torch
from torch import nn

from course_lib import CourseError
from course_lib.lectures import normalization as E
from course_lib.normalization import BatchNorm1d, Scale, Shift


def toy(n=40, d=6, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.randint(classes, (n,), generator=g)


def test_deep_mlp_layers_and_shapes():
    model = E.deep_mlp(6, 3, width=5, depth=2, norm="batchnorm")
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU",
                     "Linear"]
    assert model(torch.randn(4, 1, 2, 3)).shape == (4, 3)


def test_deep_mlp_starts_from_the_same_weights_with_and_without_batchnorm():
    plain, bn = E.deep_mlp(6, 3, depth=3), E.deep_mlp(6, 3, depth=3, norm="batchnorm")
    linears = [[m.weight for m in model if isinstance(m, nn.Linear)] for model in (plain, bn)]
    for a, b in zip(*linears, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(E.deep_mlp(6, 3, seed=1)[1].weight, plain[1].weight)


def test_deep_mlp_leaves_the_global_generator_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    E.deep_mlp(6, 3)
    assert torch.equal(torch.rand(3), expected)


def test_deep_mlp_rejects_an_unknown_norm():
    with pytest.raises(CourseError) as err:
        E.deep_mlp(6, 3, norm="layernorm")
    assert err.value.key == "lecture06.unknown_norm"


def test_train_steps_is_repeatable_and_returns_one_loss_per_step():
    x, y = toy()
    losses = [E.train_steps(E.deep_mlp(6, 3, depth=2, norm="batchnorm"), x, y, 0.05, 7, 16)
              for _ in range(2)]
    assert len(losses[0]) == 7
    assert losses[0] == losses[1]


def test_train_steps_never_makes_a_batch_of_one():
    x, y = toy(n=33)  # 33 = 2 * 16 + 1: the lone last example is left out
    model = E.deep_mlp(6, 3, depth=1, norm="batchnorm")
    assert len(E.train_steps(model, x, y, 0.01, 5, 16)) == 5


class Recorder(nn.Module):
    """Passes batches to ``model`` and records which rows of ``x`` each batch held."""

    def __init__(self, model, x):
        super().__init__()
        self.model, self.x, self.rows = model, x, []

    def forward(self, batch):
        self.rows += [int((self.x == row).all(dim=1).nonzero()) for row in batch]
        return self.model(batch)


def test_train_steps_with_batch_size_one_walks_the_whole_set():
    """Each epoch visits every example once, in a fresh order; a run is repeated by its seed."""
    x, y = toy(n=10)
    model = Recorder(E.deep_mlp(6, 3, depth=1), x)
    assert len(E.train_steps(model, x, y, 0.01, 25, 1, momentum=0.0)) == 25
    epochs = [model.rows[i:i + 10] for i in range(0, 25, 10)]
    assert sorted(epochs[0]) == sorted(epochs[1]) == list(range(10))
    assert len(set(epochs[2])) == 5 and epochs[0] != epochs[1]
    again = Recorder(E.deep_mlp(6, 3, depth=1), x)
    E.train_steps(again, x, y, 0.01, 25, 1, momentum=0.0)
    assert again.rows == model.rows


def test_accuracy_restores_the_mode_and_train_mode_leaves_the_running_statistics():
    x, y = toy()
    model = E.deep_mlp(6, 3, depth=2, norm="batchnorm").eval()
    before = model.state_dict()
    before = {k: v.clone() for k, v in before.items()}
    value = E.accuracy(model, x, y, train_mode=True, batch_size=3)  # 40 = 13 * 3 + 1
    assert 0.0 <= value <= 1.0
    assert not model.training
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[key]), key
    model.train()
    E.accuracy(model, x, y)
    assert model.training


def test_batch_statistics_are_the_biased_moments_of_each_batch():
    population = torch.arange(10.0, dtype=torch.float64)
    means, variances = E.batch_statistics(population, 10, draws=3)
    assert means.shape == variances.shape == (3,)
    torch.testing.assert_close(means, torch.full((3,), 4.5, dtype=torch.float64))
    torch.testing.assert_close(variances, torch.full((3,), 8.25, dtype=torch.float64))


def test_running_mean_trace_follows_the_update_rule():
    population = torch.full((50,), 2.0, dtype=torch.float64)
    trace = E.running_mean_trace(population, 4, 0.25, steps=5)
    expected = torch.tensor([2 * (1 - 0.75**k) for k in range(1, 6)], dtype=torch.float64)
    torch.testing.assert_close(trace, expected)


@pytest.mark.parametrize("kind", [BatchNorm1d, nn.BatchNorm1d])
def test_recompute_running_stats_averages_over_the_batches(kind):
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)) * 2 + 1
    model = nn.Sequential(kind(3, momentum=0.3)).double()
    model.eval()
    E.recompute_running_stats(model, x.double(), batch_size=16)
    layer = model[0]
    chunks = x.double().split(16)
    torch.testing.assert_close(layer.running_mean, torch.stack([c.mean(0) for c in chunks]).mean(0))
    torch.testing.assert_close(layer.running_var, torch.stack([c.var(0) for c in chunks]).mean(0))
    assert layer.momentum == 0.3 and not model.training


def test_reset_running_stats_returns_to_the_start():
    x, y = toy()
    model = E.deep_mlp(6, 3, depth=2, norm="batchnorm")
    E.train_steps(model, x, y, 0.05, 3, 16)
    E.reset_running_stats(model)
    for layer in E.batchnorm_layers(model):
        assert torch.equal(layer.running_mean, torch.zeros(64))
        assert torch.equal(layer.running_var, torch.ones(64))
        assert layer.num_batches_tracked.item() == 0


def test_compare_training_runs_both_nets_at_every_rate():
    x, y = toy()
    runs = E.compare_training(x, y, steps=2, rates=(0.01, 0.1), num_classes=3)
    assert set(runs) == {(None, 0.01), ("batchnorm", 0.01), (None, 0.1), ("batchnorm", 0.1)}
    assert all(len(losses) == 2 for _, losses in runs.values())


def test_online_comparison_inserts_shift_and_scale_into_the_same_starting_net():
    x, y = toy()
    online = E.online_comparison(x, y, steps=3, granularity="channel", num_classes=3)
    assert set(online) == {"plain", "shift_scale"}
    wrapped = online["shift_scale"][0]
    assert sum(isinstance(m, Scale) for m in wrapped) == E.ONLINE_DEPTH + 1
    assert sum(isinstance(m, Shift) for m in wrapped) == E.ONLINE_DEPTH + 1
    assert [len(losses) for _, losses in online.values()] == [3, 3]
    first = [losses[0] for _, losses in online.values()]
    assert first[0] == pytest.approx(first[1], abs=1e-6)  # a = 1, b = 0: the same function
