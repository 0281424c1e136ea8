"""Per-group statistics, computed for all groups at once with pandas and numpy.

Rows belong to groups through an integer code per row (see :mod:`enb.aanalysis.grouping`);
every statistic is one grouped, vectorised operation over all rows, whatever the number of
groups. Infinite values count as missing, as in enb 1.x.

Where enb 1.x differs from the textbook, the difference is kept only when it is a
convention and not an error: a group with no finite value gets 0 for every statistic and a
group of one value a standard deviation of 0 (1.x's documented behaviour), while groups of
two distinct values get their true min, max, mean, median and standard deviation (1.x
reported the first value for all of them).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SCALAR_STATS = ("min", "max", "avg", "std", "median", "count")
PAIR_STATS = ("pearson_correlation", "pearson_correlation_pvalue", "spearman_correlation",
              "spearman_correlation_pvalue", "linear_lse_slope", "linear_lse_intercept")


def finite_values(frame: pd.DataFrame, columns) -> np.ndarray:
    """Return ``frame[columns]`` as a float matrix with infinities turned into NaN."""
    try:
        values = frame[list(columns)].to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError) as error:
        bad = [c for c in columns if not _is_numeric(frame[c])]
        raise TypeError(f"columns {bad} are not numeric ({error}); numeric analyzers need "
                        f"numbers (or NaN) in every row") from None
    values = values.copy() if not values.flags.writeable else values
    values[~np.isfinite(values)] = np.nan
    return values


def _is_numeric(series: pd.Series) -> bool:
    try:
        pd.to_numeric(series.dropna(), errors="raise")
        return True
    except (TypeError, ValueError):
        return False


def scalar_stats(values: np.ndarray, codes: np.ndarray, group_count: int,
                 names: list[str]) -> dict[str, np.ndarray]:
    """Return ``{f"{name}_{stat}": per-group array}`` for every column of ``values``.

    ``values`` is (rows x columns), ``codes[i]`` the group of row i (0..group_count-1;
    rows with a negative code belong to no group).
    """
    frame = pd.DataFrame(values, columns=range(values.shape[1]))
    grouped = frame.groupby(codes, sort=True)
    count = grouped.count().reindex(range(group_count), fill_value=0).to_numpy()
    results = {}
    for stat, method in (("min", "min"), ("max", "max"), ("avg", "mean"),
                         ("std", "std"), ("median", "median")):
        table = getattr(grouped, method)().reindex(range(group_count)).to_numpy(dtype=float)
        results[stat] = np.where(count > 0, table, 0.0)
    # One value has no spread; NaN here would only stop readers of the CSV.
    results["std"] = np.where(count > 1, results["std"], 0.0)
    out = {}
    for j, name in enumerate(names):
        for stat in SCALAR_STATS:
            out[f"{name}_{stat}"] = count[:, j].astype(int) if stat == "count" \
                else results[stat][:, j]
    return out


def pair_stats(x: np.ndarray, y: np.ndarray, codes: np.ndarray,
               group_count: int) -> dict[str, np.ndarray]:
    """Return per-group Pearson and Spearman correlations with their two-sided p-values,
    and the least-squares line ``y = slope x + intercept``, over the rows where both x and
    y are finite.

    Groups with fewer than two such rows, or where x or y is constant, get inf for all six,
    as in enb 1.x (scipy cannot compute them there).
    """
    from scipy.special import betainc
    keep = ~(np.isnan(x) | np.isnan(y)) & (codes >= 0)
    x, y, codes = x[keep], y[keep], codes[keep]
    n = np.bincount(codes, minlength=group_count).astype(float)[:group_count]
    with np.errstate(invalid="ignore", divide="ignore"):
        r, slope, intercept = _pearson(x, y, codes, n, group_count)
        x_rank = pd.Series(x).groupby(codes).rank(method="average").to_numpy()
        y_rank = pd.Series(y).groupby(codes).rank(method="average").to_numpy()
        rho, _, _ = _pearson(x_rank, y_rank, codes, n, group_count)
        r, rho = np.clip(r, -1.0, 1.0), np.clip(rho, -1.0, 1.0)
        # Two-sided p-value of a t test with n-2 degrees of freedom, written as the
        # regularised incomplete beta function (what scipy.stats.pearsonr evaluates).
        dof = n - 2
        p_r = np.where(dof > 0, betainc(dof / 2, 0.5, np.clip(1 - r * r, 0, 1)), 1.0)
        p_rho = np.where(dof > 0, betainc(dof / 2, 0.5, np.clip(1 - rho * rho, 0, 1)), np.nan)
    degenerate = (n < 2) | ~np.isfinite(r)
    out = {"pearson_correlation": r, "pearson_correlation_pvalue": p_r,
           "spearman_correlation": rho, "spearman_correlation_pvalue": p_rho,
           "linear_lse_slope": slope, "linear_lse_intercept": intercept}
    return {k: np.where(degenerate, np.inf, v) for k, v in out.items()}


def _pearson(x, y, codes, n, group_count):
    """Return per-group (r, slope, intercept), with centred sums (two passes) for accuracy."""
    sum_x = np.bincount(codes, weights=x, minlength=group_count)[:group_count]
    sum_y = np.bincount(codes, weights=y, minlength=group_count)[:group_count]
    mean_x, mean_y = sum_x / n, sum_y / n
    dx = x - mean_x[codes]
    dy = y - mean_y[codes]
    sxx = np.bincount(codes, weights=dx * dx, minlength=group_count)[:group_count]
    syy = np.bincount(codes, weights=dy * dy, minlength=group_count)[:group_count]
    sxy = np.bincount(codes, weights=dx * dy, minlength=group_count)[:group_count]
    # A constant column has no correlation: r is NaN there (and such groups become inf).
    constant = (sxx <= _tiny(mean_x, n)) | (syy <= _tiny(mean_y, n))
    r = np.where(constant, np.nan, sxy / np.sqrt(sxx * syy))
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    return r, slope, intercept


def _tiny(mean, n):
    """Sum of squares below which a column counts as constant (rounding noise of its mean)."""
    return (np.finfo(float).eps * np.abs(mean)) ** 2 * n * 16


def quartiles(values: np.ndarray) -> tuple[float, float, float]:
    """Return the 25%, 50% and 75% quantiles of ``values`` as scipy's ``mquantiles`` computes
    them by default (Hyndman and Fan's plotting positions with alpha = beta = 0.4), which is
    what enb 1.x's box plots show."""
    ordered = np.sort(np.asarray(values, dtype=float))
    n = len(ordered)
    if n == 1:
        return (float(ordered[0]),) * 3
    probabilities = np.array([0.25, 0.5, 0.75])
    alpha = beta = 0.4
    position = n * probabilities + alpha + probabilities * (1 - alpha - beta)
    k = np.floor(np.clip(position, 1, n - 1)).astype(int)
    weight = np.clip(position - k, 0, 1)
    found = (1 - weight) * ordered[k - 1] + weight * ordered[k]
    return float(found[0]), float(found[1]), float(found[2])
