"""Data preprocessing: zero-centering, scaling, PCA decorrelation and whitening.

A data matrix ``X`` holds one example per row (N x D). Every statistic is computed on the
**training set** only and then applied unchanged to the validation and test sets::

    mu      = (1/N) sum_i x_i                          per feature, shape (D,)
    X_c     = X - mu                                   zero-centering
    sigma   = sqrt((1/N) sum_i (x_i - mu)^2)           per feature (population std)
    X_n     = X_c / (sigma + eps)                      scaling: unit variance per feature
    Sigma   = X_c^T X_c / N = U diag(lambda) U^T       covariance, eigenvalues descending
    X_rot   = X_c U                                    PCA: covariance diag(lambda)
    X_white = X_rot / sqrt(lambda + eps)               whitening: covariance (almost) I

    x_norm, mean, std = standardize(x_train)
    pca = PCA.fit(x_train); pca.whiten(x_val)

For images the usual choice is simpler: subtract the mean image (AlexNet) or the mean of each
colour channel (VGG), often dividing by the channel's standard deviation too
(``channel_stats``); PCA and whitening are rarely used there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


def standardize(x: Tensor, eps: float = 1e-8) -> tuple[Tensor, Tensor, Tensor]:
    """Zero-center and scale every feature (column) of ``x`` (N, D).

    Returns ``((x - mean) / (std + eps), mean, std)`` with the mean and the population standard
    deviation (divisor N) of each column; keep ``mean`` and ``std`` to transform new data the same
    way. A constant feature has ``std = 0`` and becomes 0 (``eps`` avoids dividing by zero).
    """
    mean = x.mean(dim=0)
    std = x.std(dim=0, correction=0)
    return (x - mean) / (std + eps), mean, std


def covariance(x: Tensor) -> Tensor:
    """Covariance matrix (D, D) of the rows of ``x`` (N, D): ``X_c^T X_c / N``."""
    centered = x - x.mean(dim=0)
    return centered.T @ centered / len(x)


@dataclass
class PCA:
    """Mean, principal directions (columns of ``components``) and their variances, descending."""

    mean: Tensor
    components: Tensor
    variances: Tensor

    @classmethod
    def fit(cls, x: Tensor) -> PCA:
        """Eigen-decomposition of the covariance of ``x`` (N, D)."""
        variances, components = torch.linalg.eigh(covariance(x))
        order = variances.argsort(descending=True)
        return cls(x.mean(dim=0), components[:, order], variances[order].clamp_min(0))

    def rotate(self, x: Tensor) -> Tensor:
        """``(x - mean) U``: coordinates along the principal directions (decorrelated)."""
        return (x - self.mean) @ self.components

    def whiten(self, x: Tensor, eps: float = 1e-5) -> Tensor:
        """``rotate(x) / sqrt(lambda + eps)``: every direction scaled to unit variance."""
        return self.rotate(x) / torch.sqrt(self.variances + eps)


def channel_stats(images: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and population standard deviation of each channel of ``images`` (N, C, H, W) -> (C,)."""
    per_channel = images.transpose(0, 1).flatten(start_dim=1)
    return per_channel.mean(dim=1), per_channel.std(dim=1, correction=0)


def normalize_channels(images: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """``(images - mean_c) / std_c`` per channel, as ``torchvision.transforms.Normalize``."""
    return (images - mean[:, None, None]) / std[:, None, None]


def mean_image(images: Tensor) -> Tensor:
    """The average image (C, H, W) of ``images`` (N, C, H, W)."""
    return images.mean(dim=0)


def correlated_cloud(n: int = 400, seed: int = 0, center=(4.0, 3.0), angle: float = 30.0,
                     scales=(2.0, 0.5)) -> Tensor:
    """A 2-D Gaussian cloud (n, 2) away from the origin, stretched and tilted by ``angle`` degrees.

    ``z ~ N(0, I)``, ``x = z diag(scales) R(angle)^T + center``: its covariance has eigenvalues
    ``scales^2`` along the directions at ``angle`` and ``angle + 90`` degrees.
    """
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, 2, generator=gen, dtype=torch.float64)
    a = math.radians(angle)
    rotation = torch.tensor([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]],
                            dtype=torch.float64)
    return z * torch.tensor(scales, dtype=torch.float64) @ rotation.T + torch.tensor(
        center, dtype=torch.float64)
