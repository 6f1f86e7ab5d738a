"""The toy task of the merging talk: five noisy sine waves and a 1-100-1 regressor.

Data: ``y = sin(10 pi x) + eps``, ``x ~ U(0, 1)``, ``eps ~ N(0, 0.2^2)`` (``data.noisy_sines``,
1000 points split 70 / 15 / 15 by ``data.load("sines")``). The input is standardized with the
training set's mean and standard deviation (``preprocessing.standardize``): with PyTorch's
default initialization the ReLU kinks ``-b / w`` of a 1-100-1 network then fall where the data
is, and a few dozen epochs fit several waves instead of a nearly flat line.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.utils.data import TensorDataset

from ... import data, models
from ...preprocessing import standardize


def toy_task(seed: int = 0) -> tuple[data.Splits, Tensor, Tensor]:
    """``(splits, mean, std)``: the sines split by ``seed`` with every input replaced by
    ``(x - mean) / std`` (training statistics, shapes ``(1,)``); targets ``(N, 1)`` unchanged."""
    raw = data.load("sines", seed=seed)
    _, mean, std = standardize(raw.train.tensors[0])

    def scaled(part: TensorDataset) -> TensorDataset:
        x, y = part.tensors
        return TensorDataset((x - mean) / std, y)

    return data.Splits(scaled(raw.train), scaled(raw.val), scaled(raw.test)), mean, std


def make_toy() -> nn.Sequential:
    """The talk's toy regressor ``models.mlp([1, 100, 1])``: 301 parameters."""
    return models.mlp([1, 100, 1])
