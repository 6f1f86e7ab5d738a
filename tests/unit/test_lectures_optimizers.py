"""course_lib.lectures.optimizers: surfaces, paths and the optimizer factory."""

import matplotlib
import pytest
import torch

from course_lib import optim
from course_lib.lectures import optimizers as oe

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
