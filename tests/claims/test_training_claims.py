"""Teaching claims about training curves and ensembles, each a small deterministic experiment."""

import math

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib.ensembles import Ensemble
from course_lib.training import evaluate, fit


def spirals(n_per_class=100, classes=3, noise=0.25, seed=0):
    """``classes`` interleaved spiral arms in the plane: (N, 2) points, (N,) labels."""
    gen = torch.Generator().manual_seed(seed)
    radius = torch.linspace(0.1, 1.0, n_per_class).repeat(classes)
    labels = torch.arange(classes).repeat_interleave(n_per_class)
    angle = radius * 4 + labels * 2 * math.pi / classes
    angle = angle + noise * torch.randn(len(angle), generator=gen)
    points = torch.stack([radius * angle.sin(), radius * angle.cos()], dim=1)
    return points, labels


def mlp(seed, hidden=32):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 3))


def loader(points, labels, batch_size, seed):
    return DataLoader(TensorDataset(points, labels), batch_size=batch_size, shuffle=True,
                      generator=torch.Generator().manual_seed(seed))


def test_ema_smoothed_training_curve_varies_less_than_the_raw_one():
    points, labels = spirals()
    model = mlp(0)
    history = fit(model, loader(points, labels, batch_size=8, seed=0),
                  torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9), epochs=8,
                  ema=0.99, progress=False)
    raw = torch.tensor(history.step_loss)
    smooth = torch.tensor(history.step_loss_ema)
    late = len(raw) // 2  # the second half, where the trend is flat and the noise dominates
    assert smooth[late:].var() < 0.5 * raw[late:].var()
    assert smooth.diff().abs().mean() < 0.1 * raw.diff().abs().mean()


def test_ensemble_is_at_least_as_accurate_as_its_average_member():
    points, labels = spirals(seed=0)
    test_points, test_labels = spirals(seed=1)
    test_data = DataLoader(TensorDataset(test_points, test_labels), batch_size=300)
    members = []
    for seed in range(5):
        model = mlp(seed)
        fit(model, loader(points, labels, batch_size=32, seed=seed),
            torch.optim.Adam(model.parameters(), lr=0.01), epochs=8, progress=False)
        members.append(model)
    accuracies = [evaluate(model, test_data).accuracy for model in members]
    ensemble = evaluate(Ensemble(members), test_data).accuracy
    assert ensemble >= sum(accuracies) / len(accuracies)
    assert ensemble >= min(accuracies)
