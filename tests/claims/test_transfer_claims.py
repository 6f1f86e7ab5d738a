"""Teaching claims of lecture 08 (transfer learning), each a small deterministic experiment."""

import pytest

from course_lib.lectures import transfer_learning as experiments

OPTIONS = {"steps": 8, "batch_size": 16, "image_size": 64, "seed": 0}


@pytest.fixture(scope="module")
def faces():
    return experiments.load_task("faces")


def test_linear_classifier_on_pretrained_features_beats_training_from_scratch(faces):
    """Little data, similar domain: frozen ImageNet features + a linear classifier win.

    Same network (EfficientNet-Lite0), same 8 steps on the same mini-batches of 120 faces and
    non-faces; the pretrained features separate the classes almost at once.
    """
    linear = experiments.run_strategy(faces, "linear", **OPTIONS)
    scratch = experiments.run_strategy(faces, "scratch", **OPTIONS)
    assert linear.accuracy >= 0.85
    assert linear.accuracy >= scratch.accuracy + 0.2
    assert linear.trainable == 1280 * 2 + 2 < scratch.trainable


def test_the_experiment_is_deterministic(faces):
    first = experiments.run_strategy(faces, "linear", **OPTIONS)
    again = experiments.run_strategy(faces, "linear", **OPTIONS)
    assert first.accuracy == again.accuracy


@pytest.fixture(scope="module")
def gradients():
    return experiments.gradient_by_depth((1, 2, 4, 8, 16))


def test_without_skip_connections_the_first_layer_gradient_vanishes_with_depth(gradients):
    """Plain conv net, PyTorch's default initialization: every block multiplies the gradient
    by a factor < 1, so it shrinks at every depth and by more than 10^10 from 4 to 34 layers."""
    plain = [row["plain"] for row in gradients]
    assert all(deeper < shallower for shallower, deeper in zip(plain, plain[1:], strict=False))
    assert plain[-1] < 1e-10 * plain[0]


def test_skip_connections_keep_the_first_layer_gradient_alive(gradients):
    """The same nets with skips (BasicBlock): the first-layer gradient stays within a factor 3
    of the shallowest net's at every depth, and is larger than the plain net's at each depth."""
    residual = [row["residual"] for row in gradients]
    assert max(residual) < 3 * residual[0] and min(residual) > residual[0] / 3
    assert all(row["residual"] > row["plain"] for row in gradients)


def test_a_plain_block_is_a_basic_block_without_its_skip():
    import torch

    torch.manual_seed(0)
    plain, residual = (experiments.deep_conv_net(1, r) for r in (False, True))
    residual.load_state_dict(plain.state_dict())
    x = torch.randn(2, 1, 6, 6)
    stem = plain[0](x)
    torch.testing.assert_close(residual[1](stem), torch.relu(plain[1].conv2(
        torch.relu(plain[1].conv1(stem))) + stem))
    torch.testing.assert_close(plain[1](stem), torch.relu(plain[1].conv2(
        torch.relu(plain[1].conv1(stem)))))


def test_with_batch_norm_the_plain_net_fails_the_other_way_its_gradient_grows():
    """With batch norm in training mode the deep plain net's first-layer gradient is more than
    10 times larger at 34 layers than at 4, and more than 5 times the residual net's."""
    rows = experiments.gradient_by_depth((1, 16), batch_norm=True)
    assert rows[-1]["plain"] > 10 * rows[0]["plain"]
    assert rows[-1]["plain"] > 5 * rows[-1]["residual"]


def test_on_a_different_domain_middle_features_beat_the_last_ones():
    """Little data, different domain (200 digits, our choice of stages): a linear classifier
    on a middle stage's features is the best, more than 15 points above the last features."""
    digits = experiments.load_task("digits", n=200)
    rows = experiments.linear_by_depth(digits, image_size=64)
    best = max(rows, key=lambda row: row["accuracy"])
    head = next(row for row in rows if row["stage"] == "head")
    assert best["stage"] not in ("stem", "head")
    assert best["accuracy"] >= head["accuracy"] + 0.15
