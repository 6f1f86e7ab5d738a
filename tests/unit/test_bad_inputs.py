"""Bad inputs a student or an instructor gives, module by module: each one raises at once a
``CourseError`` in the chosen language that names the argument (or the value) at fault.

Every case runs in Slovak and in one other language (Serbian or Russian, alternately); the
message must be the catalog's text in that language, not the English one, and name the culprit.
"""

import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_lib import (
    augment,
    autograd,
    compression,
    data,
    datasets,
    distributed,
    ensembles,
    i18n,
    l0,
    layers,
    losses,
    normalization,
    regularization,
    schedules,
    search,
    training,
    transfer,
)
from course_lib.course import setup
from course_lib.i18n import CourseError, t
from course_lib.profile import Profile


@dataclass
class Case:
    """``call(tmp)`` must raise ``kind`` whose message contains ``culprit``."""

    name: str
    call: Callable[[Path], object]
    culprit: str
    kind: type = CourseError
    env: dict = field(default_factory=dict)
    no_cuda: bool = False


def f64(*shape):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def classes(*values):
    return torch.tensor(values)


def mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 3))


def batches(n=8, y=None):
    x = torch.randn(n, 2)
    return DataLoader(TensorDataset(x, torch.zeros(n, dtype=torch.long) if y is None else y),
                      batch_size=4)


def empty_loader():
    return DataLoader(TensorDataset(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)),
                      batch_size=4)


def fit(tmp=None, data=None, **kw):
    model = mlp()
    return training.fit(model, batches() if data is None else data,
                        torch.optim.SGD(model.parameters(), lr=0.1), progress=False, **kw)


def splits(n_train=6):
    part = TensorDataset(torch.zeros(n_train, 2), torch.zeros(n_train, dtype=torch.long))
    return data.Splits(part, part, part)


def file_with(tmp: Path, name: str, content: bytes) -> Path:
    path = tmp / name
    path.write_bytes(content)
    return path


def truncated_checkpoint(tmp: Path) -> Path:
    path = tmp / "model.pt"
    fit(epochs=1, checkpoint=path)
    full = path.read_bytes()
    path.write_bytes(full[: len(full) // 2])
    return path


def pickle_of_missing_module(tmp: Path) -> Path:
    """A CIFAR folder whose first batch pickles a class of a module that does not exist."""
    folder = tmp / "cifar-10-batches-py"
    folder.mkdir()
    for name in datasets.SPECS["cifar10"].required:
        (folder / name).write_bytes(pickle.dumps({"data": 1}))
    (folder / "data_batch_1").write_bytes(pickle.dumps(Gone()).replace(
        Gone.__module__.encode(), b"no_such_module_of_the_course"))
    return tmp


class Gone:
    """Pickled with its module's name replaced by one that cannot be imported."""


def ten_class_weights(tmp: Path) -> Path:
    path = tmp / "resnet18-10-classes.pth"
    torch.save({"fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}, path)
    return path


def gate_model():
    return nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 2))


SPACE = {"lr": search.LogUniform(1e-4, 1e-1)}

CASES = [
    # data
    Case("data.load limit=-5", lambda tmp: data.load("digits", limit=-5), "limit"),
    Case("data.load limit=0", lambda tmp: data.load("digits", limit=0), "limit"),
    Case("data.load limit=2.5", lambda tmp: data.load("digits", limit=2.5), "limit"),
    Case("data.load unknown", lambda tmp: data.load("cifar"), "'cifar'"),
    Case("data.load two fractions", lambda tmp: data.load("digits", fractions=(0.5, 0.5)),
         "fractions"),
    Case("data.load fractions=0.7", lambda tmp: data.load("digits", fractions=0.7), "fractions"),
    Case("data.split x[10] y[5]", lambda tmp: data.split(torch.zeros(10, 2), torch.zeros(5)), "y"),
    Case("data.split no training example",
         lambda tmp: data.split(torch.zeros(1, 2), torch.zeros(1), (0.3, 0.35, 0.35)),
         "fractions"),
    Case("Splits.loaders batch_size=0", lambda tmp: splits().loaders(0), "batch_size"),
    Case("Splits.loaders batch_size=2.0", lambda tmp: splits().loaders(2.0), "batch_size"),
    Case("Splits.loaders eval_batch_size=-1",
         lambda tmp: splits().loaders(2, eval_batch_size=-1), "eval_batch_size"),
    Case("Splits.loaders empty train", lambda tmp: splits(0).loaders(2), "train"),
    Case("noisy_sines n=0", lambda tmp: data.noisy_sines(n=0), "n"),
    Case("noisy_sines noise=-1", lambda tmp: data.noisy_sines(noise=-1.0), "noise"),
    Case("spirals classes=0", lambda tmp: data.spirals(classes=0), "classes"),
    Case("data.photo unknown", lambda tmp: data.photo("dog"), "'dog'"),
    # training
    Case("fit epochs=-1", lambda tmp: fit(epochs=-1), "epochs"),
    Case("fit epochs=2.5", lambda tmp: fit(epochs=2.5), "epochs"),
    Case("fit early_stopping=0", lambda tmp: fit(val_data=batches(), early_stopping=0),
         "early_stopping"),
    Case("fit early_stopping without val_data", lambda tmp: fit(early_stopping=2), "val_data"),
    Case("fit ema=1", lambda tmp: fit(ema=1.0), "ema"),
    Case("fit ema=0", lambda tmp: fit(ema=0), "ema"),
    Case("fit empty train_data", lambda tmp: fit(data=empty_loader()), "train_data"),
    Case("fit empty generator", lambda tmp: fit(data=iter([])), "train_data"),
    Case("fit empty val_data", lambda tmp: fit(val_data=empty_loader()), "val_data"),
    Case("evaluate empty data", lambda tmp: training.evaluate(mlp(), empty_loader()), "data"),
    Case("evaluate empty list", lambda tmp: training.evaluate(mlp(), []), "data"),
    Case("fit resume without checkpoint", lambda tmp: fit(resume=True), "resume"),
    Case("fit resume missing file", lambda tmp: fit(resume=True, checkpoint=tmp / "none.pt"),
         "none.pt"),
    Case("fit checkpoint is a folder", lambda tmp: fit(checkpoint=tmp), "checkpoint"),
    Case("fit checkpoint under a file",
         lambda tmp: fit(checkpoint=file_with(tmp, "plain", b"x") / "model.pt"), "checkpoint"),
    Case("fit labels out of range", lambda tmp: fit(data=batches(y=torch.full((8,), 5))), "y"),
    Case("fit negative labels", lambda tmp: fit(data=batches(y=torch.full((8,), -2))), "y"),
    Case("fit float labels", lambda tmp: fit(data=batches(y=torch.zeros(8))), "y"),
    Case("fit batch sizes differ",
         lambda tmp: fit(data=[(torch.randn(4, 2), torch.zeros(3, dtype=torch.long))]), "y"),
    Case("fit unreduced loss",
         lambda tmp: fit(loss_fn=nn.CrossEntropyLoss(reduction="none")), "loss_fn"),
    Case("fit scheduler_interval", lambda tmp: fit(scheduler_interval="step"), "'step'"),
    Case("fit amp", lambda tmp: fit(amp="yes"), "amp"),
    Case("fit channels_last", lambda tmp: fit(channels_last="x"), "channels_last"),
    Case("fit compile", lambda tmp: fit(compile="x"), "compile"),
    Case("evaluate labels out of range",
         lambda tmp: training.evaluate(mlp(), batches(y=torch.full((8,), 3))), "y"),
    Case("load_checkpoint cut at half",
         lambda tmp: training.load_checkpoint(truncated_checkpoint(tmp), mlp()), "model.pt"),
    Case("load_checkpoint random bytes",
         lambda tmp: training.load_checkpoint(file_with(tmp, "r.pt", bytes(range(256)) * 40),
                                              mlp()), "r.pt"),
    # layers
    Case("affine_forward w rows", lambda tmp: layers.affine_forward(f64(2, 3), f64(4, 5),
                                                                    f64(5)), "w"),
    Case("affine_forward b", lambda tmp: layers.affine_forward(f64(2, 3), f64(3, 5), f64(4)), "b"),
    Case("affine_backward dout", lambda tmp: layers.affine_backward(
        f64(2, 4), layers.affine_forward(f64(2, 3), f64(3, 5), f64(5))[1]), "dout"),
    Case("relu_backward shapes", lambda tmp: layers.relu_backward(f64(3), f64(4)), "dout"),
    Case("sigmoid_backward shapes", lambda tmp: layers.sigmoid_backward(f64(3, 1), f64(3)),
         "dout"),
    Case("tanh_backward shapes", lambda tmp: layers.tanh_backward(f64(2, 2), f64(4)), "dout"),
    Case("softmax_loss 1-d scores", lambda tmp: layers.softmax_loss(f64(5), classes(0)), "x"),
    Case("softmax_loss class 3 of 3", lambda tmp: layers.softmax_loss(f64(2, 3), classes(0, 3)),
         "y"),
    Case("softmax_loss float classes",
         lambda tmp: layers.softmax_loss(f64(2, 3), torch.zeros(2)), "y"),
    Case("softmax_loss y length", lambda tmp: layers.softmax_loss(f64(2, 3), classes(0)), "y"),
    Case("mse_loss (8, 1) vs (8,)", lambda tmp: layers.mse_loss(f64(8, 1), f64(8)), "x"),
    Case("dropout_forward p=1", lambda tmp: layers.dropout_forward(f64(3), p=1.0), "p"),
    Case("batchnorm_forward batch of 1", lambda tmp: layers.batchnorm_forward(
        f64(1, 3), f64(3), f64(3), torch.zeros(3, dtype=torch.float64),
        torch.ones(3, dtype=torch.float64)), "x"),
    Case("batchnorm_forward gamma", lambda tmp: layers.batchnorm_forward(
        f64(4, 3), f64(2), f64(3), None, None), "gamma"),
    Case("batchnorm_forward eval without running stats", lambda tmp: layers.batchnorm_forward(
        f64(4, 3), f64(3), f64(3), None, None, train=False), "running_mean"),
    Case("conv channels", lambda tmp: layers.conv_forward_naive(f64(1, 3, 4, 4),
                                                                f64(2, 2, 3, 3), f64(2)), "w"),
    Case("conv kernel larger than input", lambda tmp: layers.conv_forward_naive(
        f64(1, 1, 2, 2), f64(1, 1, 3, 3), f64(1)), "pad"),
    Case("conv stride=0", lambda tmp: layers.conv_forward_naive(
        f64(1, 1, 4, 4), f64(1, 1, 3, 3), f64(1), stride=0), "stride"),
    Case("conv pad=-1", lambda tmp: layers.conv_forward_naive(
        f64(1, 1, 4, 4), f64(1, 1, 3, 3), f64(1), pad=-1), "pad"),
    Case("conv 3-d input", lambda tmp: layers.conv_forward_naive(f64(1, 4, 4), f64(1, 1, 3, 3),
                                                                 f64(1)), "x"),
    Case("gradcheck integer x", lambda tmp: layers.gradcheck(lambda x: x * x, torch.tensor([1])),
         "x"),
    Case("gradcheck df shape", lambda tmp: layers.gradcheck(lambda x: x * 2, f64(3), f64(4)),
         "df"),
    Case("gradcheck h=0", lambda tmp: layers.gradcheck(lambda x: x.sum(), f64(3), h=0.0), "h"),
    # losses
    Case("losses.mse broadcast", lambda tmp: losses.mse(f64(8, 1), f64(8)), "prediction"),
    Case("cross_entropy class out of range",
         lambda tmp: losses.cross_entropy(f64(2, 3), classes(0, 7)), "target"),
    Case("cross_entropy float target", lambda tmp: losses.cross_entropy(f64(2, 3), f64(2)),
         "target"),
    Case("cross_entropy 1-d logits", lambda tmp: losses.cross_entropy(f64(3), classes(0)),
         "logits"),
    Case("cross_entropy target shape",
         lambda tmp: losses.cross_entropy(f64(2, 3), classes(0, 1, 2)), "target"),
    Case("distillation T=0", lambda tmp: losses.distillation_loss(
        f64(2, 3), f64(2, 3), classes(0, 1), T=0), "T"),
    Case("distillation alpha=1.5", lambda tmp: losses.distillation_loss(
        f64(2, 3), f64(2, 3), classes(0, 1), alpha=1.5), "alpha"),
    Case("distillation teacher shape", lambda tmp: losses.distillation_loss(
        f64(2, 3), f64(2, 4), classes(0, 1)), "teacher_logits"),
    # regularization
    Case("dropout p=1.5", lambda tmp: regularization.dropout(f64(3), p=1.5), "p"),
    Case("Dropout p='0.5'", lambda tmp: regularization.Dropout(p="0.5"), "p"),
    Case("elastic_net l1<0", lambda tmp: regularization.elastic_net_penalty(mlp(), -1.0, 0.1),
         "l1"),
    Case("soft_threshold negative", lambda tmp: regularization.soft_threshold_(f64(3), -0.1),
         "threshold"),
    Case("l1_penalty of numbers", lambda tmp: regularization.l1_penalty([1.0, 2.0]), "params"),
    # autograd
    Case("Value of a string", lambda tmp: autograd.Value("abc"), "data", TypeError),
    Case("Value plus a string", lambda tmp: autograd.Value(2.0) + "x", "other", TypeError),
    Case("Value of a vector", lambda tmp: autograd.Value(torch.ones(3)), "data", TypeError),
    Case("Value divided by 0", lambda tmp: autograd.Value(1.0) / autograd.Value(0.0), "Value"),
    Case("Value log of -1", lambda tmp: autograd.Value(-1.0).log(), "-1"),
    Case("Value ** Value", lambda tmp: autograd.Value(2.0) ** autograd.Value(3.0), "Value ** n",
         TypeError),
    Case("Value (-8) ** 0.5", lambda tmp: autograd.Value(-8.0) ** 0.5, "0.5"),
    Case("Value exp(1000)", lambda tmp: autograd.Value(1000.0).exp(), "exp(1000"),
    # schedules
    Case("step_lr step_size=0", lambda tmp: schedules.step_lr(3, 0.1, step_size=0), "step_size"),
    Case("exponential_lr gamma=-1", lambda tmp: schedules.exponential_lr(3, 0.1, gamma=-1),
         "gamma"),
    Case("cosine_lr T_max=0", lambda tmp: schedules.cosine_lr(3, 0.1, T_max=0), "T_max"),
    Case("warm_restarts T_0=2.5", lambda tmp: schedules.warm_restarts_lr(3, 0.1, T_0=2.5), "T_0"),
    Case("inverse_time k=-1", lambda tmp: schedules.inverse_time_lr(3, 0.1, k=-1), "k"),
    Case("cosine_lr t=-1", lambda tmp: schedules.cosine_lr(-1, 0.1, T_max=10), "t"),
    Case("step_lr lr=-0.1", lambda tmp: schedules.step_lr(1, -0.1, step_size=2), "lr"),
    Case("lr_at unknown", lambda tmp: schedules.lr_at("linear", 3, 0.1), "'linear'"),
    # l0
    Case("sample_hard_concrete NaN noise", lambda tmp: l0.sample_hard_concrete(
        torch.zeros(3), torch.tensor([0.5, float("nan"), 0.2])), "u"),
    Case("sample_hard_concrete u > 1", lambda tmp: l0.sample_hard_concrete(
        torch.zeros(2), torch.tensor([0.5, 1.5])), "u"),
    Case("prob_nonzero gamma=0.5", lambda tmp: l0.prob_nonzero(torch.zeros(2), gamma=0.5),
         "gamma"),
    Case("HardConcreteGate(0)", lambda tmp: l0.HardConcreteGate(0), "num_features"),
    Case("HardConcreteGate init_keep=1", lambda tmp: l0.HardConcreteGate(4, init_keep=1.0),
         "init_keep"),
    Case("HardConcreteGate input", lambda tmp: l0.HardConcreteGate(4)(torch.zeros(2, 5)),
         "HardConcreteGate(4)"),
    # search
    Case("LogUniform(0, 1)", lambda tmp: search.LogUniform(0, 1), "LogUniform"),
    Case("LogUniform high='a'", lambda tmp: search.LogUniform(1e-3, "a"), "high"),
    Case("Uniform(1, 0)", lambda tmp: search.Uniform(1, 0), "low"),
    Case("Choice()", lambda tmp: search.Choice(), "Choice"),
    Case("random_search n_trials=0",
         lambda tmp: search.random_search(lambda lr: 0.5, SPACE, n_trials=0, verbose=False),
         "n_trials"),
    Case("random_search empty space",
         lambda tmp: search.random_search(lambda: 0.5, {}, n_trials=2, verbose=False), "space"),
    Case("random_search space of numbers",
         lambda tmp: search.random_search(lambda lr: 0.5, {"lr": 0.1}, 2, verbose=False),
         "space"),
    Case("random_search objective without val_acc", lambda tmp: search.random_search(
        lambda lr: {"acc": 0.5}, SPACE, n_trials=2, verbose=False), "val_acc"),
    Case("coarse_to_fine keep_top=0", lambda tmp: search.coarse_to_fine(
        lambda lr: 0.5, SPACE, keep_top=0, verbose=False), "keep_top"),
    Case("coarse_to_fine rounds=0", lambda tmp: search.coarse_to_fine(
        lambda lr: 0.5, SPACE, rounds=0, verbose=False), "rounds"),
    Case("Results.plot unknown parameter", lambda tmp: search.random_search(
        lambda lr: 0.5, SPACE, n_trials=2, verbose=False).plot(x="nope"), "'nope'"),
    # augment
    Case("train_transforms size=0", lambda tmp: augment.train_transforms(0), "size"),
    Case("train_transforms crop_scale", lambda tmp: augment.train_transforms(
        32, crop_scale=(0.5, 0.1)), "crop_scale"),
    Case("train_transforms jitter<0", lambda tmp: augment.train_transforms(32, jitter=-0.1),
         "jitter"),
    Case("train_transforms mean only", lambda tmp: augment.train_transforms(32, mean=(0.5,)),
         "mean"),
    Case("eval_transforms mean and std differ", lambda tmp: augment.eval_transforms(
        32, mean=(0.5, 0.5), std=(0.1,)), "std"),
    Case("eval_transforms resize=0", lambda tmp: augment.eval_transforms(32, resize=0),
         "resize"),
    Case("show_augmentations n=0", lambda tmp: augment.show_augmentations(
        torch.zeros(3, 8, 8, dtype=torch.uint8), n=0), "n"),
    # ensembles
    Case("Ensemble([])", lambda tmp: ensembles.Ensemble([]), "Ensemble"),
    Case("Ensemble of numbers", lambda tmp: ensembles.Ensemble([1, 2]), "nn.Module"),
    Case("snapshot epochs not a multiple of cycles", lambda tmp: ensembles.snapshot_ensemble(
        mlp(), batches(), torch.optim.SGD(mlp().parameters()), epochs=4, cycles=3), "cycles"),
    Case("snapshot cycles=0", lambda tmp: ensembles.snapshot_ensemble(
        mlp(), batches(), torch.optim.SGD(mlp().parameters()), epochs=4, cycles=0), "cycles"),
    Case("snapshot_lr t=0", lambda tmp: ensembles.snapshot_lr(0, 0.1, 10, 2), "t"),
    Case("ten_crop_predict crop larger than the image", lambda tmp: ensembles.ten_crop_predict(
        nn.Flatten(), torch.zeros(1, 3, 8, 8), 100), "crop_size"),
    # course and profile
    Case("setup seed=-1", lambda tmp: setup(i18n.get_language(), seed=-1, verbose=False), "seed"),
    Case("setup seed=2**32", lambda tmp: setup(i18n.get_language(), seed=2**32, verbose=False),
         "seed"),
    Case("COURSE_DEVICE=gpu", lambda tmp: setup(i18n.get_language(), verbose=False),
         "COURSE_DEVICE", env={"COURSE_DEVICE": "gpu"}),
    Case("COURSE_DEVICE=cuda without CUDA", lambda tmp: setup(i18n.get_language(), verbose=False),
         "COURSE_DEVICE", env={"COURSE_DEVICE": "cuda"}, no_cuda=True),
    Case("COURSE_DEVICE=mps", lambda tmp: setup(i18n.get_language(), verbose=False),
         "COURSE_DEVICE", env={"COURSE_DEVICE": "mps"}),
    Case("COURSE_PROFILE=fast", lambda tmp: setup(i18n.get_language(), verbose=False),
         "COURSE_PROFILE", env={"COURSE_PROFILE": "fast"}),
    Case("Profile('medium')", lambda tmp: Profile("medium"), "COURSE_PROFILE"),
    # normalization
    Case("BatchNorm1d(0)", lambda tmp: normalization.BatchNorm1d(0), "num_features"),
    Case("BatchNorm1d momentum=2", lambda tmp: normalization.BatchNorm1d(4, momentum=2.0),
         "momentum"),
    Case("BatchNorm1d(4) on 3 features", lambda tmp: normalization.BatchNorm1d(4)(
        torch.randn(8, 3)), "num_features"),
    Case("BatchNorm1d on one example", lambda tmp: normalization.BatchNorm1d(4)(
        torch.randn(1, 4)), "(1, 4)"),
    Case("BatchNorm2d on 2-d input", lambda tmp: normalization.BatchNorm2d(3)(torch.randn(4, 3)),
         "BatchNorm2d"),
    Case("Shift element on another width", lambda tmp: normalization.Shift(4, "element")(
        torch.randn(2, 5)), "Shift"),
    Case("Scale granularity 'pixel'", lambda tmp: normalization.Scale(4, "pixel"), "'pixel'"),
    Case("Shift shape (0,)", lambda tmp: normalization.Shift((0,), "element"), "shape"),
    Case("insert_shift_scale on a Linear", lambda tmp: normalization.insert_shift_scale(
        nn.Linear(2, 2), "layer", example_input=torch.zeros(1, 2)), "nn.Sequential"),
    Case("insert_shift_scale example_input shape", lambda tmp: normalization.insert_shift_scale(
        gate_model(), "layer", example_input=torch.zeros(1, 5)), "example_input"),
    Case("insert_shift_scale example_input of one value",
         lambda tmp: normalization.insert_shift_scale(gate_model(), "layer",
                                                      example_input=torch.zeros(2)),
         "example_input"),
    Case("insert_variant unknown", lambda tmp: normalization.insert_variant(
        gate_model(), "bogus", example_input=torch.zeros(1, 2)), "'bogus'"),
    # compression
    Case("magnitude_prune_ fraction=1.5", lambda tmp: compression.magnitude_prune_(mlp(), 1.5),
         "fraction"),
    Case("magnitude_prune_ scope='row'", lambda tmp: compression.magnitude_prune_(
        mlp(), 0.5, scope="row"), "scope"),
    Case("pruned without weights", lambda tmp: compression.pruned(nn.ReLU(), 0.5), "where"),
    Case("quantize_int8 of integers", lambda tmp: compression.quantize_int8(torch.arange(4)),
         "w"),
    Case("sparsity_curve fraction 2", lambda tmp: compression.sparsity_curve(
        mlp(), lambda m: 0.0, [0.5, 2]), "fraction"),
    # transfer
    Case("freeze up_to=99", lambda tmp: transfer.freeze(gate_model(), up_to=99), "up_to"),
    Case("freeze up_to=1.5", lambda tmp: transfer.freeze(gate_model(), up_to=1.5), "up_to"),
    Case("replace_head num_classes=0", lambda tmp: transfer.replace_head(gate_model(), 0),
         "num_classes"),
    Case("replace_head after a ReLU", lambda tmp: transfer.replace_head(
        nn.Sequential(nn.Linear(2, 2), nn.ReLU()), 3), "nn.Linear"),
    Case("param_groups lr<0", lambda tmp: transfer.param_groups(gate_model(), lr=-1.0), "lr"),
    Case("top_k k=2000", lambda tmp: transfer.top_k(nn.Sequential(nn.Flatten(), nn.Linear(
        12, 1000)), torch.zeros(1, 3, 2, 2), k=2000), "k"),
    Case("top_k 3-d images", lambda tmp: transfer.top_k(nn.Sequential(nn.Flatten(), nn.Linear(
        12, 1000)), torch.zeros(3, 2, 2)), "images"),
    Case("load_backbone unknown", lambda tmp: transfer.load_backbone("vgg"), "'vgg'"),
    Case("resnet18 truncated weights", lambda tmp: transfer.resnet18(
        path=file_with(tmp, "cut.pth", b"PK\x03\x04" + bytes(100))), "cut.pth"),
    Case("resnet18 random bytes", lambda tmp: transfer.resnet18(
        path=file_with(tmp, "random.pth", bytes(range(256)) * 8)), "random.pth"),
    Case("resnet18 weights of a 10-class head", lambda tmp: transfer.resnet18(
        path=ten_class_weights(tmp)), "resnet18-10-classes.pth"),
    Case("Preprocessing images (2, 5)", lambda tmp: transfer.IMAGENET(torch.zeros(2, 5)),
         "(2, 5)"),
    Case("Preprocessing array (4, 4, 4, 4)", lambda tmp: transfer.IMAGENET(
        np.zeros((4, 4, 4, 4))), "(4, 4, 4, 4)"),
    # datasets and distributed
    Case("datasets.load missing", lambda tmp: datasets.load("cifar10", root=tmp), "cifar10"),
    Case("datasets.load val_fraction=1", lambda tmp: datasets.load(
        "cifar10", root=tmp, val_fraction=1.0), "val_fraction"),
    Case("datasets.load limit=0", lambda tmp: datasets.load("cifar10", root=tmp, limit=0),
         "limit"),
    Case("datasets.load unknown", lambda tmp: datasets.load("svhn"), "'svhn'"),
    Case("CIFAR pickle of a missing module", lambda tmp: datasets.load(
        "cifar10", root=pickle_of_missing_module(tmp)), "data_batch_1"),
    Case("per_rank_batch batch_size=0", lambda tmp: distributed.per_rank_batch(0),
         "batch_size"),
]

LANGUAGE_PAIRS = [(case, lang) for i, case in enumerate(CASES)
                  for lang in ("sk", ("sr", "ru")[i % 2])]


def test_there_are_over_a_hundred_bad_inputs_from_every_core_module():
    assert len(CASES) >= 100
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize(("case", "lang"), LANGUAGE_PAIRS,
                         ids=[f"{case.name}-{lang}" for case, lang in LANGUAGE_PAIRS])
def test_a_bad_input_raises_a_localized_error_naming_the_culprit(case, lang, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(i18n, "_current", lang)
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    if case.no_cuda:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    threads = torch.get_num_threads()
    try:
        with pytest.raises(CourseError) as info:
            case.call(tmp_path)
    finally:
        torch.set_num_threads(threads)
    error, message = info.value, str(info.value)
    assert isinstance(error, case.kind)
    assert message == t(error.key, lang=lang, **error.fields)
    assert message != t(error.key, lang="en", **error.fields)
    if lang == "ru":
        assert re.search("[а-яё]{4}", message), message
    assert re.search(rf"(?<!\w){re.escape(case.culprit)}(?!\w)", message), message
    assert "weights_only=False" not in message
