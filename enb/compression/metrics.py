"""Distortion between an original image and its reconstruction: MSE, PAE, PSNR, SSIM, angles.

Functions of numpy arrays indexed ``[x, y, z]`` (see :mod:`enb.isets.arrays`); the lossy
experiments (:mod:`enb.compression.icompression`) call them on every row. Integer samples are
compared exactly (as 64-bit integers), floats as 64-bit floats.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _difference(original, reconstructed) -> np.ndarray:
    original = np.asarray(original)
    reconstructed = np.asarray(reconstructed)
    if original.shape != reconstructed.shape:
        raise ValueError(f"the reconstruction has shape {reconstructed.shape}, the original "
                         f"{original.shape}")
    if original.dtype.kind == "f" or reconstructed.dtype.kind == "f":
        return original.astype(np.float64) - reconstructed.astype(np.float64)
    return original.astype(np.int64) - reconstructed.astype(np.int64)


def mse(original, reconstructed) -> float:
    """Return the mean squared error between two arrays of the same shape."""
    difference = _difference(original, reconstructed).astype(np.float64)
    return float(np.mean(difference * difference)) if difference.size else 0.0


def pae(original, reconstructed):
    """Return the peak absolute error (largest absolute sample difference)."""
    difference = _difference(original, reconstructed)
    if not difference.size:
        return 0
    peak = np.max(np.abs(difference))
    return peak.item()


def psnr(mean_squared_error: float, peak_value: float) -> float:
    """Return the PSNR in dB for a given MSE and peak signal value (inf when MSE is 0)."""
    if mean_squared_error <= 0:
        return float("inf")
    return 20 * math.log10(peak_value / math.sqrt(mean_squared_error))


def _gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """Return the normalised 1-D Gaussian whose outer product is the SSIM window.

    An even ``size`` centres the window between two samples, as Wang's ``fspecial`` does.
    """
    offset = 0.5 if size % 2 == 0 else 0.0
    radius = size // 2
    positions = np.arange(-radius, radius + (0 if size % 2 == 0 else 1)) + offset
    weights = np.exp(-(positions ** 2) / (2.0 * sigma ** 2))
    return weights / weights.sum()


def _filter_valid(image: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Return the 'valid' 2-D filtering of each component of an [x, y, z] image with the
    separable window ``outer(weights, weights)``."""
    size = weights.size
    along_x = sliding_window_view(image, size, axis=0) @ weights
    return sliding_window_view(along_x, size, axis=1) @ weights


def _ssim_and_contrast(img1, img2, max_val, filter_size, filter_sigma, k1, k2):
    img1 = np.asarray(img1, dtype=np.float64)
    img2 = np.asarray(img2, dtype=np.float64)
    if img1.shape != img2.shape:
        raise ValueError(f"images of different shapes: {img1.shape} and {img2.shape}")
    if img1.ndim == 2:
        img1, img2 = img1[:, :, np.newaxis], img2[:, :, np.newaxis]
    if img1.ndim != 3:
        raise ValueError(f"SSIM needs [x, y] or [x, y, z] images, not {img1.ndim} dimensions")
    size = min(filter_size, img1.shape[0], img1.shape[1])
    if filter_size:
        sigma = size * filter_sigma / filter_size
        window = _gaussian_1d(size, sigma)
        mu1, mu2 = _filter_valid(img1, window), _filter_valid(img2, window)
        sigma11 = _filter_valid(img1 * img1, window) - mu1 * mu1
        sigma22 = _filter_valid(img2 * img2, window) - mu2 * mu2
        sigma12 = _filter_valid(img1 * img2, window) - mu1 * mu2
    else:
        mu1, mu2 = img1, img2
        sigma11 = sigma22 = sigma12 = np.zeros_like(img1)
    c1 = (k1 * max_val) ** 2
    c2 = (k2 * max_val) ** 2
    v1 = 2.0 * sigma12 + c2
    v2 = sigma11 + sigma22 + c2
    ssim_map = ((2.0 * mu1 * mu2 + c1) * v1) / ((mu1 * mu1 + mu2 * mu2 + c1) * v2)
    return float(np.mean(ssim_map)), float(np.mean(v1 / v2))


def ssim(img1, img2, max_val=255, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03) -> float:
    """Return the structural similarity (SSIM, Wang et al. 2004) of two images.

    ``max_val``: the dynamic range of the samples (255 for 8-bit images). The Gaussian window
    (``filter_size``, ``filter_sigma``) shrinks for images smaller than it.
    """
    return _ssim_and_contrast(img1, img2, max_val, filter_size, filter_sigma, k1, k2)[0]


def _downsample(image: np.ndarray) -> np.ndarray:
    """Return the 2x2 block means of an [x, y, z] image (an odd last row or column is kept
    as it is, as a mirrored 2x2 box filter does)."""
    for axis in (0, 1):
        extended = np.concatenate([image, np.take(image, [-1], axis=axis)], axis=axis)
        count = image.shape[axis]
        first = np.take(extended, np.arange(0, count, 2), axis=axis)
        second = np.take(extended, np.arange(1, count + 1, 2), axis=axis)
        image = (first + second) / 2.0
    return image


def ms_ssim(img1, img2, max_val=255, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
            weights=None) -> float:
    """Return the multi-scale structural similarity (MS-SSIM, Wang et al. 2003).

    Five scales by default, with the paper's weights; each scale halves the image.
    """
    weights = np.asarray(weights if weights else [0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
    im1 = np.asarray(img1, dtype=np.float64)
    im2 = np.asarray(img2, dtype=np.float64)
    if im1.ndim == 2:
        im1, im2 = im1[:, :, np.newaxis], im2[:, :, np.newaxis]
    ssims, contrasts = [], []
    for _ in range(weights.size):
        value, contrast = _ssim_and_contrast(im1, im2, max_val, filter_size, filter_sigma,
                                             k1, k2)
        ssims.append(value)
        contrasts.append(contrast)
        im1, im2 = _downsample(im1), _downsample(im2)
    contrasts = np.asarray(contrasts)
    return float(np.prod(contrasts[:-1] ** weights[:-1]) * (ssims[-1] ** weights[-1]))


def spectral_angles_deg(original, reconstructed) -> np.ndarray:
    """Return the angle in degrees between the original and reconstructed spectrum (the
    vector of components) of every pixel, rounded to 1e-5 so that equal spectra give 0."""
    a = np.asarray(original).astype(np.float64).reshape(-1, np.shape(original)[-1])
    b = np.asarray(reconstructed).astype(np.float64).reshape(-1, np.shape(reconstructed)[-1])
    if a.shape != b.shape:
        raise ValueError(f"images of different shapes: {np.shape(original)} and "
                         f"{np.shape(reconstructed)}")
    dots = np.einsum("ij,ij->i", a, b)
    magnitudes = np.maximum(1e-4, np.linalg.norm(a, axis=1)) * \
        np.maximum(1e-4, np.linalg.norm(b, axis=1))
    angles = np.degrees(np.arccos(np.clip(dots / magnitudes, -1, 1)))
    return np.round(angles, 5)
