"""The toy task of the merging talk, five noisy sine waves, and our regressor for it.

The talk names the task only ("five noisy sine waves"); the rest is ours. Data: ``y = sin(10 pi
x) + eps``, ``x ~ U(0, 1)``, ``eps ~ N(0, 0.2^2)`` (``data.noisy_sines``, 1000 points split
70 / 15 / 15 by ``data.load("sines")``), so the lowest reachable mean squared error, the noise
floor, is ``0.2^2 = 0.04``. The input is standardized with the training set's mean and standard
deviation (``preprocessing.standardize``): with PyTorch's default initialization the ReLU kinks
then fall where the data is.

The regressor ``mlp([1, 64, 64, 1])`` has two hidden layers, so that the joined model has a
hidden layer joined block-diagonally, whose off-diagonal blocks merging trains, as in the talk's
networks. Trained by Adam (learning rate ``LR``) on mini-batches of ``BATCH_SIZE`` for
``FITTED_EPOCHS`` epochs, the ten teachers of the full-profile comparison reach a mean
validation MSE of 0.058 (at most 0.093): near the noise floor, with all five periods fitted.
These settings were chosen from the teachers' validation error alone, before any comparison was
run (tests/claims/test_merging_claims.py checks the numbers).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from ... import data, models
from ...preprocessing import standardize

NOISE_FLOOR = 0.2**2
"""Variance of the noise: the expected MSE of the true curve ``sin(10 pi x)``."""
SIZES = (1, 64, 64, 1)
LR, BATCH_SIZE, FITTED_EPOCHS = 5e-3, 100, 250


def toy_task(seed: int = 0) -> tuple[data.Splits, Tensor, Tensor]:
    """``(splits, mean, std)``: the sines split by ``seed`` with every input replaced by
    ``(x - mean) / std`` (training statistics, shapes ``(1,)``); targets ``(N, 1)`` unchanged."""
    raw = data.load("sines", seed=seed)
    _, mean, std = standardize(raw.train.tensors[0])

    def scaled(part: TensorDataset) -> TensorDataset:
        x, y = part.tensors
        return TensorDataset((x - mean) / std, y)

    return data.Splits(scaled(raw.train), scaled(raw.val), scaled(raw.test)), mean, std


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one CPU thread (``torch.set_num_threads(1)``), then restore the count.

    Our rule for tiny networks such as the toy regressor: they train on the CPU (a GPU waits
    longer to launch their small kernels than it takes to run them, see
    ``execution.pick_device``) and on one thread, because with more threads every small
    operation waits for the threads to synchronize. Measured on a busy 2-core machine: a short
    toy comparison took 52 s of wall-clock time on two threads and 3 s on one.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def make_toy() -> nn.Sequential:
    """Our toy regressor ``models.mlp([1, 64, 64, 1])``: 4353 parameters."""
    return models.mlp(list(SIZES))
