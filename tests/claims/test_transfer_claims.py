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
