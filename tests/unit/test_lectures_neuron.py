"""course_lib.lectures.neuron: the neuron, the collapse of linear layers, dead units, the Cybenko
fit."""

import math

import pytest
import torch
from torch import nn

from course_lib import activations as A
from course_lib.lectures import neuron


def test_neuron_is_f_of_a_weighted_sum_plus_bias():
    x = torch.tensor([1.0, 2.0, -1.0])
    w = torch.tensor([0.5, -0.25, 1.0])
    assert neuron.neuron(x, w, 0.5, A.relu).item() == 0.0
    assert neuron.neuron(x, w, 0.5, A.sigmoid).item() == pytest.approx(1 / (1 + math.exp(0.5)))


@pytest.mark.parametrize("bias1, bias2", [(True, True), (False, True), (True, False),
                                          (False, False)])
def test_merge_linear_with_and_without_biases(bias1, bias2):
    torch.manual_seed(1)
    first = nn.Linear(4, 7, bias=bias1, dtype=torch.float64)
    second = nn.Linear(7, 3, bias=bias2, dtype=torch.float64)
    x = torch.randn(10, 4, dtype=torch.float64)
    assert torch.allclose(neuron.merge_linear(first, second)(x), second(first(x)))


def test_dead_fraction_counts_units_never_positive():
    z = torch.tensor([[-1.0, 0.0, 2.0, -3.0], [-2.0, 0.0, -1.0, 0.5]])
    assert neuron.dead_fraction(z) == 0.5  # columns 0 and 1 are <= 0 everywhere


def test_dead_fractions_are_zero_for_large_positive_and_one_for_large_negative_bias():
    x = torch.randn(200, 8, generator=torch.Generator().manual_seed(0))
    assert neuron.dead_fractions(x, [100.0, -100.0], width=16) == [0.0, 1.0]


def test_step_network_places_evenly_spaced_steps():
    net = neuron.step_network(4)
    centres = -net[0].bias / net[0].weight[:, 0]
    assert torch.allclose(centres, torch.tensor([0.125, 0.375, 0.625, 0.875]))
    assert (net[0].weight == 16.0).all()
    assert (net[2].weight == 0).all() and (net[2].bias == 0).all()


def test_fit_output_layer_is_the_least_squares_optimum():
    x = torch.rand(300, 1, generator=torch.Generator().manual_seed(0))
    y = torch.sin(6 * x)
    net = neuron.fit_output_layer(neuron.step_network(8), x, y)
    loss = nn.functional.mse_loss(net(x), y)
    grads = torch.autograd.grad(loss, [net[2].weight, net[2].bias])
    assert all(g.abs().max() < 1e-4 for g in grads)  # stationary in the output parameters


def test_approximation_error_is_zero_for_the_target_itself():
    class Exact(nn.Module):
        def forward(self, x):
            return neuron.sine_target(x)

    assert neuron.approximation_error(Exact()) == 0.0


def test_train_lowers_the_loss():
    x = torch.linspace(0, 1, 100).unsqueeze(1)
    net = neuron.step_network(4)
    losses = neuron.train(net, x, neuron.sine_target(x, waves=1), steps=50, lr=0.05)
    assert len(losses) == 50 and losses[-1] < losses[0]


def test_activation_table_renders_as_markdown_in_the_language():
    table = neuron.activation_table("sk")
    assert table._repr_markdown_() == str(table) and table.startswith("| Aktivácia")


def test_activation_table_is_two_narrow_tables_with_every_cell_of_the_full_one():
    """The full table (8 columns) is wider than a notebook: its last column was cut off."""
    def cells(table: str) -> list[list[str]]:
        return [[c.strip() for c in line.strip("|").split(" | ")] for line in table.splitlines()
                if not line.startswith("|---")]

    first, second = (cells(t) for t in neuron.activation_table("ru").split("\n\n"))
    assert [len(first[0]), len(second[0])] == [4, 5]
    assert [a + b[1:] for a, b in zip(first, second, strict=True)] == cells(
        A.render_properties(lang="ru"))
