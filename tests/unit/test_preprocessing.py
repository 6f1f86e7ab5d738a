"""Preprocessing: standardization, PCA, whitening, per-channel statistics against closed forms."""

import torch
from hypothesis import given
from hypothesis import strategies as st
from torchvision.transforms import Normalize

from course_lib import preprocessing


def random_matrix(seed, n=50, d=4):
    gen = torch.Generator().manual_seed(seed)
    mixing = torch.randn(d, d, generator=gen, dtype=torch.float64)
    return torch.randn(n, d, generator=gen, dtype=torch.float64) @ mixing + 3.0


@given(st.integers(0, 2**31), st.integers(2, 60), st.integers(1, 6))
def test_standardize_matches_the_formula(seed, n, d):
    x = random_matrix(seed, n, d)
    out, mean, std = preprocessing.standardize(x, eps=1e-8)
    manual_mean = x.sum(dim=0) / n
    manual_std = ((x - manual_mean) ** 2).sum(dim=0).div(n).sqrt()
    assert torch.allclose(mean, manual_mean)
    assert torch.allclose(std, manual_std)
    assert torch.allclose(out, (x - manual_mean) / (manual_std + 1e-8))


def test_a_constant_feature_becomes_zero_not_nan():
    x = torch.tensor([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    out, _, std = preprocessing.standardize(x)
    assert std[1] == 0
    assert torch.equal(out[:, 1], torch.zeros(3))


def test_covariance_matches_torch_cov_with_divisor_n():
    x = random_matrix(0)
    assert torch.allclose(preprocessing.covariance(x), torch.cov(x.T, correction=0))


@given(st.integers(0, 2**31))
def test_pca_components_are_orthonormal_and_variances_descending(seed):
    pca = preprocessing.PCA.fit(random_matrix(seed))
    eye = torch.eye(4, dtype=torch.float64)
    assert torch.allclose(pca.components.T @ pca.components, eye, atol=1e-10)
    assert (pca.variances.diff() <= 0).all()


@given(st.integers(0, 2**31))
def test_rotation_keeps_distances_and_whitening_gives_unit_covariance(seed):
    x = random_matrix(seed)
    pca = preprocessing.PCA.fit(x)
    rotated = pca.rotate(x)
    assert torch.allclose(rotated.norm(dim=1), (x - x.mean(dim=0)).norm(dim=1))
    white = pca.whiten(x, eps=0.0)
    assert torch.allclose(preprocessing.covariance(white), torch.eye(4, dtype=torch.float64),
                          atol=1e-8)


def test_pca_statistics_transform_new_data_with_the_training_numbers():
    train, test = random_matrix(1), random_matrix(2)
    pca = preprocessing.PCA.fit(train)
    assert torch.allclose(pca.rotate(test), (test - train.mean(dim=0)) @ pca.components)


def test_channel_stats_and_normalization_match_torchvision():
    gen = torch.Generator().manual_seed(0)
    images = torch.rand(10, 3, 5, 6, generator=gen)
    mean, std = preprocessing.channel_stats(images)
    for c in range(3):
        assert torch.isclose(mean[c], images[:, c].mean())
        assert torch.isclose(std[c], images[:, c].std(correction=0))
    ours = preprocessing.normalize_channels(images[0], mean, std)
    theirs = Normalize(mean.tolist(), std.tolist())(images[0])
    assert torch.allclose(ours, theirs, atol=1e-6)


def test_mean_image_is_the_average_over_examples():
    images = torch.arange(24.0).reshape(2, 1, 3, 4)
    assert torch.equal(preprocessing.mean_image(images), (images[0] + images[1]) / 2)


def test_correlated_cloud_is_reproducible_with_the_promised_shape_and_spread():
    a, b = preprocessing.correlated_cloud(seed=3), preprocessing.correlated_cloud(seed=3)
    assert torch.equal(a, b) and a.shape == (400, 2)
    big = preprocessing.correlated_cloud(n=50_000, seed=0, angle=30.0, scales=(2.0, 0.5))
    pca = preprocessing.PCA.fit(big)
    assert torch.allclose(pca.variances, torch.tensor([4.0, 0.25], dtype=torch.float64), rtol=0.05)
    assert torch.allclose(big.mean(dim=0), torch.tensor([4.0, 3.0], dtype=torch.float64),
                          atol=0.05)
    angle = torch.rad2deg(torch.atan2(pca.components[1, 0], pca.components[0, 0])) % 180
    assert abs(angle - 30.0) < 2.0
