"""Zero-order statistics of sample values: entropy, mutual information, KL divergence.

All in bits except the KL divergence, which enb 1.x reports in nats.
"""
from __future__ import annotations

import numpy as np


def _counts(data) -> np.ndarray:
    """Return how many times each distinct value appears in ``data`` (any shape)."""
    values = np.asarray(data).ravel()
    if values.dtype.kind in "ub" and values.dtype.itemsize <= 2:
        counts = np.bincount(values.astype(np.int64, copy=False))
        return counts[counts > 0]
    return np.unique(values, return_counts=True)[1]


def _entropy_of_counts(counts: np.ndarray) -> float:
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts / total
    return float(-(p * np.log2(p)).sum())


def entropy(data) -> float:
    """Return the zero-order entropy of ``data``'s values, in bits per sample."""
    return _entropy_of_counts(_counts(data))


def mutual_information(data1, data2) -> float:
    """Return the mutual information, in bits, of two equally long sequences (flattened)."""
    x = np.asarray(data1).ravel()
    y = np.asarray(data2).ravel()
    if x.size != y.size:
        raise ValueError(f"mutual_information: {x.size} samples against {y.size}")
    _, x_codes = np.unique(x, return_inverse=True)
    _, y_codes = np.unique(y, return_inverse=True)
    joint = x_codes.astype(np.int64) * (int(y_codes.max()) + 1 if y.size else 1) + y_codes
    return (_entropy_of_counts(_counts(x)) + _entropy_of_counts(_counts(y))
            - _entropy_of_counts(np.unique(joint, return_counts=True)[1]))


def kl_divergence(data1, data2) -> tuple[float, float]:
    """Return (KL(P||Q), KL(Q||P)) in nats, P and Q being the value distributions of the data.

    Values present in only one of them are left out of both sums (as in enb 1.x): when the
    supports differ, the two numbers are not a proper divergence and must be read with care.
    """
    x = np.asarray(data1).ravel()
    y = np.asarray(data2).ravel()
    if x.size != y.size:
        raise ValueError(f"kl_divergence: {x.size} samples against {y.size}")
    values_p, counts_p = np.unique(x, return_counts=True)
    values_q, counts_q = np.unique(y, return_counts=True)
    common, in_p, in_q = np.intersect1d(values_p, values_q, return_indices=True)
    p = counts_p[in_p] / x.size
    q = counts_q[in_q] / y.size
    return float((p * np.log(p / q)).sum()), float((q * np.log(q / p)).sum())
