"""Our defaults are torch's: a layer or optimizer built without arguments behaves like torch's.

A careless edit of a default (BatchNorm's momentum 0.1 -> 0.01, Adam's eps) would otherwise show
only in a notebook's numbers; here it fails by name.
"""

import pytest
import torch
from torch import nn

from course_lib import normalization, optim

TORCH_ONLY = {"foreach", "fused", "capturable", "differentiable"}  # implementation switches
OPTIMIZERS = sorted(name for name, value in vars(optim).items()
                    if isinstance(value, type) and issubclass(value, torch.optim.Optimizer)
                    and value.__module__ == optim.__name__)


def test_every_optimizer_of_the_module_is_compared():
    assert {"SGD", "Adagrad", "RMSprop", "Adam", "AdamW"} <= set(OPTIMIZERS)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_defaults_are_torchs(name):
    params = [nn.Parameter(torch.zeros(3))]
    ours = getattr(optim, name)(params).defaults
    theirs = getattr(torch.optim, name)(params).defaults
    assert ours == {k: v for k, v in theirs.items() if k not in TORCH_ONLY}


@pytest.mark.parametrize("name, shape", [("BatchNorm1d", (8, 4)), ("BatchNorm2d", (8, 4, 3, 3))])
def test_batchnorm_defaults_are_torchs(name, shape):
    ours, theirs = getattr(normalization, name)(4), getattr(nn, name)(4)
    for attribute in ("eps", "momentum", "affine", "track_running_stats"):
        assert getattr(ours, attribute) == getattr(theirs, attribute), attribute
    assert (ours.eps, ours.momentum) == (1e-5, 0.1)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in theirs.state_dict().items():
        assert torch.equal(ours.state_dict()[key], value), key
    x = 3 + 2 * torch.randn(shape)
    torch.testing.assert_close(ours(x), theirs(x))
    for key, value in theirs.state_dict().items():  # one step of the running statistics
        torch.testing.assert_close(ours.state_dict()[key], value, msg=key)
