"""Magnitude pruning and int8 quantization against PyTorch's own and against closed forms."""

import pytest
import torch
from torch import nn
from torch.nn.utils import prune

from course_lib.compression import (
    dequantize,
    magnitude_prune_,
    pruned,
    quantize_int8,
    quantize_model,
    size_in_bytes,
    sparsity,
    sparsity_curve,
)
from course_lib.i18n import LANGUAGES, CourseError


def net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))


@pytest.mark.parametrize("fraction", [0.0, 0.3, 0.5, 0.9, 1.0])
def test_global_pruning_matches_torch_global_unstructured(fraction):
    ours, theirs = net(), net()
    magnitude_prune_(ours, fraction)
    weights = [(theirs[0], "weight"), (theirs[2], "weight")]
    prune.global_unstructured(weights, pruning_method=prune.L1Unstructured, amount=fraction)
    for a, b in ((ours[0], theirs[0]), (ours[2], theirs[2])):
        torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
        torch.testing.assert_close(a.bias, b.bias, rtol=0, atol=0)


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75])
def test_layer_pruning_matches_torch_l1_unstructured_per_tensor(fraction):
    ours, theirs = net(), net()
    magnitude_prune_(ours, fraction, scope="layer")
    for layer in (theirs[0], theirs[2]):
        prune.l1_unstructured(layer, "weight", amount=fraction)
    for a, b in ((ours[0], theirs[0]), (ours[2], theirs[2])):
        torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


def test_pruning_zeroes_exactly_the_requested_count_and_keeps_biases():
    model = net()
    biases = [model[0].bias.clone(), model[2].bias.clone()]
    magnitude_prune_(model, 0.5)
    assert sparsity(model) == pytest.approx(round(0.5 * 72) / 72)
    assert torch.equal(model[0].bias, biases[0]) and torch.equal(model[2].bias, biases[1])


def test_pruned_leaves_the_original_alone_and_the_curve_falls_to_the_all_zero_model():
    model = net()
    before = [p.clone() for p in model.parameters()]
    copy = pruned(model, 0.7)
    assert sparsity(copy) > 0.69 and sparsity(model) == 0.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert sparsity_curve(model, sparsity, [0.0, 0.5, 1.0]) == pytest.approx([0.0, 0.5, 1.0])


@pytest.mark.parametrize("lang", LANGUAGES)
def test_bad_fraction_and_scope_are_explained(lang):
    with pytest.raises(CourseError) as err:
        magnitude_prune_(net(), 1.5, lang=lang)
    assert err.value.key == "compression.bad_fraction" and "1.5" in str(err.value)
    with pytest.raises(CourseError) as err:
        magnitude_prune_(net(), 0.5, scope="neuron", lang=lang)
    assert err.value.key == "compression.bad_scope"


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor:UserWarning")
def test_int8_matches_torch_quantize_per_tensor():
    w = torch.randn(50, 40, generator=torch.Generator().manual_seed(0))
    q, scale = quantize_int8(w)
    assert q.dtype == torch.int8 and q.abs().max() == 127
    reference = torch.quantize_per_tensor(w, scale.item(), 0, torch.qint8)
    assert torch.equal(q, reference.int_repr())
    torch.testing.assert_close(dequantize(q, scale), reference.dequantize())


def test_int8_rounding_error_is_at_most_half_a_step():
    w = 3 * torch.randn(1000, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    q, scale = quantize_int8(w)
    assert (dequantize(q, scale, torch.float64) - w).abs().max() <= scale / 2 + 1e-12


def test_an_all_zero_tensor_quantizes_to_zeros_with_scale_one():
    q, scale = quantize_int8(torch.zeros(4))
    assert torch.equal(q, torch.zeros(4, dtype=torch.int8)) and scale.item() == 1.0


def test_quantize_model_changes_weights_only_and_size_counts_bytes():
    model = net()
    quantized = quantize_model(model)
    assert torch.equal(quantized[0].bias, model[0].bias)
    for layer in (0, 2):
        q, s = quantize_int8(model[layer].weight)
        torch.testing.assert_close(quantized[layer].weight, dequantize(q, s))
    weights, biases = 6 * 8 + 8 * 3, 8 + 3
    assert size_in_bytes(model) == 4 * (weights + biases)
    assert size_in_bytes(model, int8=True) == weights + 2 * 4 + 4 * biases
