"""Transfer learning: offline pretrained backbones, preprocessing, freezing, heads, features."""

import socket

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import data, transfer
from course_lib.i18n import LANGUAGES, CourseError, catalog, format_number, format_percent
from course_lib.lectures import transfer_learning as experiments


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No test may reach the network, find a user's weight files, or write outside tmp_path."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in the tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("COURSE_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))


@pytest.fixture(scope="module")
def lite0():
    return transfer.efficientnet_lite0()


@pytest.fixture(scope="module")
def photos():
    return data.photos()


def test_efficientnet_lite0_loads_its_packaged_weights_as_named_stages(lite0):
    names = [name for name, _ in lite0.named_children()]
    assert names[:2] == ["stem", "block1"] and names[-4:] == ["head", "pool", "dropout",
                                                              "classifier"]
    assert len(lite0) == 21 and lite0.index("block16") == 16
    assert sum(p.numel() for p in lite0.parameters()) == 4_652_008
    fresh = transfer.efficientnet_lite0(pretrained=False)
    assert not torch.equal(fresh.classifier.weight, lite0.classifier.weight)
    assert len(transfer.imagenet_categories()) == 1000


@pytest.mark.parametrize("photo, expected", [
    ("chelsea", {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}),
    ("coffee", {"cup", "coffee mug", "espresso"}),
    ("rocket", {"missile", "projectile", "space shuttle"}),
])
def test_pretrained_model_puts_the_right_class_in_its_top_5(lite0, photos, photo, expected):
    x = lite0.preprocessing(photos[photo])
    assert x.shape == (1, 3, 224, 224)
    (top5,) = transfer.top_k(lite0, x, k=5, lang="en")
    names = [name for name, _ in top5]
    assert expected & set(names), names
    probs = [p for _, p in top5]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6


def test_class_names_are_translated_where_the_catalog_has_them():
    categories = transfer.imagenet_categories()
    cat = categories.index("Egyptian cat")
    assert transfer.class_names("sk")[cat] == "egyptská mačka"
    assert transfer.class_names("sr")[cat] == "egipatska mačka"
    assert transfer.class_names("ru")[cat] == "египетская кошка"
    assert transfer.class_names("en")[cat] == "Egyptian cat"
    assert transfer.class_names("sk")[0] == categories[0]
    translated = {k.split(".", 2)[2] for k in catalog("en") if k.startswith("transfer.imagenet.")}
    assert translated <= set(categories) and len(translated) >= 60


@pytest.mark.parametrize("image", [
    np.zeros((40, 60), dtype=np.uint8),
    np.zeros((40, 60, 3), dtype=np.uint8),
    np.zeros((60, 40, 4), dtype=np.uint8),
    np.zeros((40, 60), dtype=np.float64),
    torch.zeros(5, 1, 25, 25),
    torch.zeros(3, 30, 30),
])
def test_preprocessing_gives_three_channel_crops_of_the_requested_size(image):
    x = transfer.TF_LITE(image, size=64)
    assert x.shape[1:] == (3, 64, 64) and x.dtype == torch.float32


def test_preprocessing_normalizes_each_channel_with_mean_and_std():
    grey = torch.full((1, 3, 10, 10), 0.5)
    x = transfer.IMAGENET(grey, size=8)
    expected = (0.5 - torch.tensor(transfer.IMAGENET.mean)) / torch.tensor(transfer.IMAGENET.std)
    torch.testing.assert_close(x[0, :, 3, 3], expected)
    assert transfer.TF_LITE(np.full((9, 9), 127, np.uint8), size=8).abs().max() < 1e-6


def test_preprocessing_rejects_images_it_cannot_read():
    with pytest.raises(CourseError) as err:
        transfer.TF_LITE(torch.zeros(2, 5, 8, 8))
    assert err.value.key == "transfer.bad_images"


def test_freeze_by_depth_counts_the_trainable_parameters(lite0):
    model = transfer.replace_head(transfer.efficientnet_lite0(pretrained=False), 2)
    total = sum(p.numel() for p in model.parameters())
    head = 1280 * 2 + 2
    assert transfer.trainable_parameters(transfer.freeze(model)) == head
    assert transfer.trainable_parameters(transfer.freeze(model, up_to=-1)) == head
    assert transfer.trainable_parameters(
        transfer.freeze(model, up_to=model.index("block16"))) == 605_440 + 412_160 + head
    assert transfer.trainable_parameters(transfer.freeze(model, up_to=len(model))) == 0
    assert transfer.trainable_parameters(transfer.freeze(model, up_to=0)) == total
    transfer.freeze(model)
    assert transfer.trainable_parameters(transfer.unfreeze(model)) == total


def test_frozen_layers_get_no_gradient_and_keep_their_batchnorm_statistics():
    model = transfer.replace_head(transfer.efficientnet_lite0(pretrained=False), 3)
    transfer.freeze(model, up_to=model.index("head"))
    running_mean = model.stem[1].running_mean.clone()
    transfer.train_mode(model)
    assert not model.stem[1].training and model.head[1].training and model.classifier.training
    model(torch.rand(4, 3, 32, 32)).sum().backward()
    assert model.stem[0].weight.grad is None and model.block16._project_conv.weight.grad is None
    assert model.head[0].weight.grad is not None and model.classifier.weight.grad is not None
    assert torch.equal(model.stem[1].running_mean, running_mean)


def test_bad_depth_is_a_localized_error():
    model = transfer.efficientnet_lite0(pretrained=False)
    with pytest.raises(CourseError) as err:
        transfer.freeze(model, up_to=len(model) + 1)
    assert err.value.key == "transfer.bad_depth" and str(len(model)) in str(err.value)


def test_replace_head_gives_logits_for_k_classes():
    model = transfer.replace_head(transfer.efficientnet_lite0(pretrained=False), 7)
    assert isinstance(model.classifier, nn.Linear) and model.classifier.in_features == 1280
    assert model.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 7)
    resnet = transfer.replace_head(transfer.resnet18(pretrained=False), 4)
    assert resnet.classifier.weight.shape == (4, 512)
    assert resnet.eval()(torch.rand(2, 3, 64, 64)).shape == (2, 4)


def test_param_groups_give_pretrained_layers_a_lower_learning_rate():
    model = transfer.replace_head(transfer.efficientnet_lite0(pretrained=False), 2)
    body, head = transfer.param_groups(model, lr=1e-3)
    assert body["lr"] == pytest.approx(1e-4) and head["lr"] == 1e-3
    assert sum(p.numel() for p in head["params"]) == 1280 * 2 + 2
    count = sum(p.numel() for g in (body, head) for p in g["params"])
    assert count == transfer.trainable_parameters(model)
    optimizer = torch.optim.Adam(transfer.param_groups(model, lr=1e-2, backbone_lr=1e-5))
    assert [g["lr"] for g in optimizer.param_groups] == [1e-5, 1e-2]
    transfer.freeze(model)
    (only,) = transfer.param_groups(model, lr=1e-3)
    assert only["lr"] == 1e-3


@pytest.mark.parametrize("lang", LANGUAGES)
def test_missing_resnet18_weights_name_the_expected_path_in_each_language(lang, tmp_path):
    expected = f"$COURSE_DATA/models/{transfer.RESNET18_FILE}"  # COURSE_DATA is tmp_path/data
    with pytest.raises(CourseError) as err:
        transfer.resnet18(lang=lang)
    assert isinstance(err.value, ValueError) and err.value.key == "transfer.missing_weights"
    assert expected in str(err.value) and transfer.RESNET18_URL in str(err.value)
    given = tmp_path / "elsewhere.pth"
    with pytest.raises(CourseError) as err:
        transfer.resnet18(path=given, lang=lang)
    assert str(given) in str(err.value)


def test_resnet18_loads_a_local_weight_file_and_downloads_only_when_asked(tmp_path, monkeypatch):
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    calls = []

    def fake_download(url, dst, hash_prefix=None):
        calls.append((url, dst, hash_prefix))
        torch.save(reference.state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    with pytest.raises(CourseError):
        transfer.resnet18()
    assert calls == []
    model = transfer.resnet18(download=True)
    target = tmp_path / "data" / "models" / transfer.RESNET18_FILE
    assert calls == [(transfer.RESNET18_URL, str(target), "f37072fd")]
    assert torch.equal(model.stem[0].weight, reference.conv1.weight)
    assert transfer.resnet18().name == "resnet18" and len(calls) == 1
    assert transfer.load_backbone("resnet18", path=target).preprocessing == transfer.IMAGENET


def test_unknown_backbone_names_the_available_ones():
    with pytest.raises(CourseError) as err:
        transfer.load_backbone("vgg16")
    assert "efficientnet_lite0" in str(err.value) and "resnet18" in str(err.value)


def test_extract_features_returns_one_row_per_image_and_restores_modes():
    model = transfer.replace_head(transfer.efficientnet_lite0(pretrained=False), 2)
    transfer.freeze(model)
    transfer.train_mode(model)
    loader = DataLoader(TensorDataset(torch.rand(10, 3, 64, 64), torch.arange(10)), batch_size=4)
    features, labels = transfer.extract_features(model, loader)
    assert features.shape == (10, 1280) and torch.equal(labels, torch.arange(10))
    assert model.classifier.training and not model.stem[1].training
    resnet = transfer.resnet18(pretrained=False)
    features, labels = transfer.extract_features(resnet.features, loader)
    assert features.shape == (10, 512) and labels.shape == (10,)


def test_faces_task_is_lfw_subset_split_once_and_for_all():
    task = experiments.load_task("faces")
    (x, y), (x_test, y_test) = task.train, task.test
    assert x.shape == (120, 1, 25, 25) and x_test.shape == (80, 1, 25, 25)
    assert int(y.sum() + y_test.sum()) == 100 and task.size == "small"
    again = experiments.load_task("faces")
    assert torch.equal(again.train[0], x)
    assert experiments.load_task("digits", n=200).train[0].shape == (120, 1, 8, 8)


def test_batches_visit_every_example_once_per_epoch():
    idx = torch.cat(list(experiments.batches(10, batch_size=5, steps=4, seed=0)))
    assert sorted(idx[:10].tolist()) == list(range(10)) == sorted(idx[10:].tolist())
    assert [len(b) for b in experiments.batches(3, batch_size=8, steps=2, seed=0)] == [8, 8]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_results_table_is_written_in_the_students_language(lang):
    results = experiments.Results([
        experiments.Result("faces", "small", "similar", "linear", 0.95, 1.5, 2562),
        experiments.Result("digits", "small", "different", "scratch", 0.1, 9.0, 3383818),
    ])
    table = results.table(lang)
    text = str(table)
    for key in ("column.strategy", "strategy.linear", "strategy.scratch", "task.faces"):
        assert catalog(lang)[f"transfer.{key}"] in text
    assert format_percent(0.95, 1, lang) in text and format_number(3383818, ",", lang) in text
    assert len(text.splitlines()) == 4 and table._repr_html_().count("<tr>") == 3


def test_unknown_task_and_strategy_are_localized_errors():
    with pytest.raises(CourseError) as err:
        experiments.load_task("cifar")
    assert "faces" in str(err.value)
    task = experiments.load_task("faces")
    with pytest.raises(CourseError) as err:
        experiments.run_strategy(task, "half", steps=1)
    assert "linear" in str(err.value)


@pytest.mark.parametrize("damage", ["truncated", "random", "objects", "10 classes"])
def test_a_bad_resnet18_weight_file_is_explained_without_suggesting_weights_only_false(
        tmp_path, damage):
    import torchvision

    path = tmp_path / "resnet18.pth"
    full = torchvision.models.resnet18(weights=None, num_classes=10).state_dict()
    if damage == "truncated":
        torch.save(full, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "random":
        path.write_bytes(bytes(range(256)) * 64)
    elif damage == "objects":
        torch.save({"weights": transfer.Preprocessing(1, 1, (0, 0, 0), (1, 1, 1))}, path)
    else:
        torch.save(full, path)
    with pytest.raises(CourseError) as err:
        transfer.resnet18(path=path, lang="sk")
    assert err.value.key == "transfer.bad_weights" and str(path) in str(err.value)
    assert "weights_only" not in str(err.value)


def test_top_k_asks_for_at_most_as_many_classes_as_there_are():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 1000))
    images = torch.zeros(2, 3, 2, 2)
    assert len(transfer.top_k(model, images, k=1000)[0]) == 1000
    with pytest.raises(CourseError) as err:
        transfer.top_k(model, images, k=2000, lang="ru")
    assert err.value.fields == {"k": 2000, "classes": 1000}


def test_stage_features_of_the_head_are_the_networks_own_features(lite0):
    x = torch.rand(3, 3, 64, 64)
    found = transfer.stage_features(lite0, x, ["block5", "head"], batch_size=2)
    with transfer.evaluating(lite0), torch.no_grad():
        expected = lite0.features(x)
        block5 = lite0[: lite0.index("block5") + 1](x).mean(dim=(2, 3))
    torch.testing.assert_close(found["head"], expected)
    torch.testing.assert_close(found["block5"], block5)
    assert found["block5"].shape == (3, 40)


def test_stage_features_names_the_known_stages_for_an_unknown_one(lite0):
    with pytest.raises(CourseError, match="block5"):
        transfer.stage_features(lite0, torch.rand(1, 3, 32, 32), ["block99"])
