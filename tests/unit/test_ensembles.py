"""Ensembles: probability averaging, the snapshot schedule of Huang et al., 10-crop testing."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision.transforms.v2 import functional as F

from course_lib.ensembles import (
    Ensemble,
    average_predictions,
    multi_scale_views,
    predict_proba,
    resize_shorter,
    snapshot_ensemble,
    snapshot_lr,
    snapshot_schedule,
    ten_crop,
    ten_crop_predict,
    view_probabilities,
)
from course_lib.i18n import LANGUAGES, CourseError, t
from course_lib.training import evaluate


def small_net(seed):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Dropout(0.5), nn.Linear(8, 3))


def test_average_is_the_mean_of_member_probabilities():
    models, x = [small_net(s) for s in range(3)], torch.randn(5, 4)
    models[0].train()
    probs = average_predictions(models, x)
    manual = sum(torch.softmax(m.eval()(x), dim=1) for m in models) / 3
    torch.testing.assert_close(probs, manual)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(5))
    torch.testing.assert_close(Ensemble(models)(x).exp(), manual)
    assert predict_proba(models[0].train(), x).shape == (5, 3) and models[0].training


def test_ensemble_plugs_into_evaluate():
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    data = DataLoader(TensorDataset(x, y), batch_size=8)
    ensemble = Ensemble([small_net(0), small_net(1)])
    result = evaluate(ensemble, data)
    probs = average_predictions(ensemble.members, x)
    assert result.accuracy == pytest.approx((probs.argmax(dim=1) == y).float().mean().item())
    assert result.loss == pytest.approx(nn.functional.nll_loss(probs.log(), y).item(), rel=1e-5)


def test_snapshot_learning_rate_follows_the_formula():
    lr0, total, cycles = 0.2, 100, 4  # cycles of ceil(100 / 4) = 25 iterations
    assert snapshot_lr(1, lr0, total, cycles) == pytest.approx(lr0)
    assert snapshot_lr(13, lr0, total, cycles) == pytest.approx(
        lr0 / 2 * (math.cos(math.pi * 12 / 25) + 1))
    assert snapshot_lr(25, lr0, total, cycles) == pytest.approx(0.1 * (math.cos(math.pi * 0.96)
                                                                       + 1))
    assert snapshot_lr(25, lr0, total, cycles) < 0.002
    assert snapshot_lr(26, lr0, total, cycles) == pytest.approx(lr0)  # warm restart
    assert snapshot_lr(5, 1.0, 10, 3) == pytest.approx(1.0)  # ceil(10 / 3) = 4
    assert snapshot_lr(3, 1.0, 10, 3) == pytest.approx(0.5 * (math.cos(math.pi / 2) + 1))


def test_snapshot_schedule_steps_through_the_formula():
    weight = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    scheduler = snapshot_schedule(optimizer, total=12, cycles=3)
    lrs = []
    for _ in range(12):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert lrs == pytest.approx([snapshot_lr(t, 0.1, 12, 3) for t in range(1, 13)])
    assert scheduler.state_dict()["lr_lambdas"] == [{"total": 12, "cycles": 3}]


def test_snapshot_ensemble_keeps_one_model_per_cycle():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 4, generator=gen)
    data = DataLoader(TensorDataset(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long()),
                      batch_size=16, shuffle=True)
    model = small_net(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    snapshots, history = snapshot_ensemble(model, data, optimizer, epochs=6, cycles=3,
                                           progress=False)
    assert len(snapshots) == 3 and all(not snap.training for snap in snapshots)
    total = 6 * len(data)
    assert history.step_lr == pytest.approx([snapshot_lr(t, 0.5, total, 3)
                                             for t in range(1, total + 1)])
    for key, value in model.state_dict().items():
        assert torch.equal(snapshots[-1].state_dict()[key], value)
    assert not torch.equal(snapshots[0][0].weight, snapshots[1][0].weight)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_snapshot_cycles_must_divide_epochs(lang):
    model = small_net(0)
    with pytest.raises(CourseError) as error:
        snapshot_ensemble(model, [], torch.optim.SGD(model.parameters(), lr=0.1), epochs=5,
                          cycles=2, lang=lang)
    assert str(error.value) == t("ensembles.cycles", lang=lang, epochs=5, cycles=2)


def test_ten_crop_predict_equals_a_loop_over_ten_crop():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 5))
    images = torch.rand(2, 3, 12, 10)
    probs = ten_crop_predict(model, images, crop_size=(8, 6))
    crops = F.ten_crop(images, [8, 6])
    manual = torch.stack([torch.softmax(model(crop), dim=1) for crop in crops]).mean(dim=0)
    assert probs.shape == (2, 5)
    torch.testing.assert_close(probs, manual.detach())
    flipped = ten_crop_predict(model, images.flip(-1), crop_size=(8, 6))
    torch.testing.assert_close(flipped, probs)  # the 10 crops of a mirror image are the same


def test_an_ensemble_without_members_is_refused_when_built_not_when_called():
    with pytest.raises(CourseError) as err:
        Ensemble([])
    assert err.value.key == "ensembles.no_members"


@st.composite
def images_and_crops(draw):
    """An image batch (..., H, W) of float64 or uint8 and a crop size: an int or a pair."""
    height, width = draw(st.integers(1, 24)), draw(st.integers(1, 24))
    lead = draw(st.sampled_from([(), (3,), (2, 1), (2, 3)]))
    seed = draw(st.integers(0, 2**16))
    generator = torch.Generator().manual_seed(seed)
    if draw(st.booleans()):
        images = torch.rand(*lead, height, width, generator=generator, dtype=torch.float64)
    else:
        images = torch.randint(0, 256, (*lead, height, width), generator=generator,
                               dtype=torch.uint8)
    if draw(st.booleans()):
        size = draw(st.integers(1, min(height, width)))
    else:
        size = (draw(st.integers(1, height)), draw(st.integers(1, width)))
    return images, size


@settings(max_examples=150, deadline=None)
@given(images_and_crops())
def test_ten_crop_equals_torchvision_exactly(case):
    images, size = case
    ours = ten_crop(images, size)
    theirs = F.ten_crop(images, list(size) if isinstance(size, tuple) else size)
    assert len(ours) == len(theirs) == 10
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.dtype == reference.dtype
        assert torch.equal(mine, reference)


def test_ten_crop_rounds_the_centre_half_to_even_as_torchvision():
    rows = torch.arange(7.0).view(7, 1).expand(7, 2)  # H - h = 3 and 5: offsets 2 and 2
    assert ten_crop(rows, (4, 2))[4][0, 0] == 2 == F.center_crop(rows, [4, 2])[0, 0]
    assert ten_crop(rows, (2, 2))[4][0, 0] == 2 == F.center_crop(rows, [2, 2])[0, 0]


@pytest.mark.parametrize("size", [0, 9, (8, 9), (2, 3, 4), 2.5])
def test_ten_crop_refuses_a_crop_outside_the_image(size):
    with pytest.raises(CourseError) as error:
        ten_crop(torch.zeros(3, 8, 8), size)
    assert error.value.key == "ensembles.bad_crop"


def test_resize_shorter_keeps_the_aspect_ratio():
    images = torch.rand(2, 3, 30, 45)
    assert resize_shorter(images, 20).shape == (2, 3, 20, 30)
    assert resize_shorter(images.transpose(-1, -2), 20).shape == (2, 3, 30, 20)


def test_multi_scale_views_are_ten_crops_of_each_resized_image_in_order():
    images = torch.rand(2, 3, 30, 40)
    views = multi_scale_views(images, 16, (16, 20))
    assert views.shape == (20, 2, 3, 16, 16)
    for j, side in enumerate((16, 20)):
        expected = F.ten_crop(resize_shorter(images, side), [16, 16])
        for k in range(10):
            assert torch.equal(views[10 * j + k], expected[k])
    with pytest.raises(CourseError) as error:
        multi_scale_views(images, 16, ())
    assert error.value.key == "ensembles.no_scales"


def test_view_probabilities_are_the_softmax_of_each_view_in_any_batching():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 5), nn.Dropout(0.5)).train()
    views = torch.rand(6, 2, 3, 8, 8)
    probs = view_probabilities(model, views, batch_size=5)
    assert probs.shape == (6, 2, 5) and model.training
    for v in range(6):
        torch.testing.assert_close(probs[v], predict_proba(model, views[v]))
    torch.testing.assert_close(view_probabilities(model, views, batch_size=64), probs)
    ten = view_probabilities(model, multi_scale_views(views[0], 6, (8,))).mean(dim=0)
    torch.testing.assert_close(ten, ten_crop_predict(model, views[0], 6))
