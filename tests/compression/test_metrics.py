"""Distortion metrics, checked against direct computations written out in the tests."""
import math

import numpy as np
import pytest

from enb.compression import metrics


def test_mse_pae_and_psnr_of_integer_images_are_exact():
    original = np.array([[[0], [10]], [[250], [255]]], dtype="u1")
    reconstructed = np.array([[[3], [10]], [[255], [250]]], dtype="u1")
    assert metrics.mse(original, reconstructed) == (9 + 0 + 25 + 25) / 4
    assert metrics.pae(original, reconstructed) == 5
    assert metrics.psnr(14.75, 255) == pytest.approx(10 * math.log10(255 ** 2 / 14.75))
    assert metrics.psnr(0, 255) == float("inf")
    wide = np.array([0, 2 ** 32 - 1], dtype=">u4")  # no overflow in the difference
    assert metrics.pae(wide, wide[::-1]) == 2 ** 32 - 1


def _naive_ssim(a, b, max_val, size=11, sigma=1.5):
    """SSIM as the paper writes it: a Gaussian window slid over every valid position."""
    a, b = a.astype(float), b.astype(float)
    size = min(size, a.shape[0], a.shape[1])
    sigma = size * sigma / 11
    offsets = np.arange(size) - (size - 1) / 2
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None, :] ** 2) / (2 * sigma ** 2))
    window /= window.sum()
    c1, c2 = (0.01 * max_val) ** 2, (0.03 * max_val) ** 2
    values = []
    for z in range(a.shape[2]):
        for x in range(a.shape[0] - size + 1):
            for y in range(a.shape[1] - size + 1):
                pa, pb = a[x:x + size, y:y + size, z], b[x:x + size, y:y + size, z]
                mu_a, mu_b = (window * pa).sum(), (window * pb).sum()
                var_a = (window * pa * pa).sum() - mu_a ** 2
                var_b = (window * pb * pb).sum() - mu_b ** 2
                cov = (window * pa * pb).sum() - mu_a * mu_b
                values.append(((2 * mu_a * mu_b + c1) * (2 * cov + c2))
                              / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2)))
    return float(np.mean(values))


@pytest.mark.parametrize("shape", [(20, 16, 1), (13, 14, 2), (6, 9, 1)])
def test_ssim_equals_the_windowed_formula(shape):
    rng = np.random.default_rng(3)
    original = rng.integers(0, 256, shape)
    noisy = np.clip(original + rng.integers(-30, 31, shape), 0, 255)
    assert metrics.ssim(original, noisy, max_val=255) == pytest.approx(
        _naive_ssim(original, noisy, 255), rel=1e-12)
    assert metrics.ssim(original, original) == pytest.approx(1.0)


def test_ms_ssim_is_one_for_equal_images_and_falls_with_noise():
    rng = np.random.default_rng(4)
    original = rng.integers(0, 256, (64, 64, 1)).astype(float)
    assert metrics.ms_ssim(original, original) == pytest.approx(1.0)
    slightly = np.clip(original + rng.normal(0, 2, original.shape), 0, 255)
    badly = np.clip(original + rng.normal(0, 40, original.shape), 0, 255)
    assert 1 > metrics.ms_ssim(original, slightly) > metrics.ms_ssim(original, badly) > 0


def test_spectral_angles_are_the_angles_between_pixel_vectors():
    original = np.zeros((2, 1, 2))
    original[0, 0] = [1, 0]
    original[1, 0] = [1, 1]
    reconstructed = np.zeros((2, 1, 2))
    reconstructed[0, 0] = [0, 3]   # 90 degrees away
    reconstructed[1, 0] = [2, 2]   # same direction
    assert metrics.spectral_angles_deg(original, reconstructed).tolist() == [90.0, 0.0]
