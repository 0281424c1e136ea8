"""The vectorised statistics against numpy and scipy, group by group (edge cases included)."""
import math

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from enb.aanalysis import stats
from enb.aanalysis.grouping import split


def groups_of(values_by_group):
    labels = list(values_by_group)
    frame = pd.DataFrame({"g": [g for g in labels for _ in values_by_group[g]],
                          "v": [v for g in labels for v in values_by_group[g]]})
    return frame, split(frame, "g", include_all_group=False)


def test_scalar_statistics_match_numpy_per_group():
    rng = np.random.default_rng(7)
    data = {f"g{i}": list(rng.normal(i, 1 + i, 20 + 7 * i)) for i in range(6)}
    data["g1"][3] = math.nan
    data["g2"][0] = math.inf
    data["g3"] = [4.5]                     # one value: no spread
    data["g4"] = [1.0, 3.0]                # two distinct values (enb 1.x reported the first)
    data["g5"] = [math.nan, -math.inf]     # nothing finite: zeros, as enb 1.x
    frame, groups = groups_of(data)
    result = stats.scalar_stats(stats.finite_values(groups.frame, ["v"]), groups.codes,
                                groups.keyed_count, ["v"])
    for i, label in enumerate(groups.labels):
        values = np.array(data[label], dtype=float)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            assert [result[f"v_{s}"][i] for s in stats.SCALAR_STATS] == [0, 0, 0, 0, 0, 0]
            continue
        assert result["v_min"][i] == values.min()
        assert result["v_max"][i] == values.max()
        assert result["v_avg"][i] == pytest.approx(values.mean(), rel=1e-13)
        assert result["v_std"][i] == pytest.approx(
            values.std(ddof=1) if len(values) > 1 else 0.0, rel=1e-12)
        assert result["v_median"][i] == np.median(values)
        assert result["v_count"][i] == len(values)


def test_pair_statistics_match_scipy_per_group():
    rng = np.random.default_rng(11)
    xs, ys, codes = [], [], []
    for g, n in enumerate([40, 3, 17, 1000]):
        x = rng.normal(0, 1, n)
        y = (g - 1.5) * x + rng.normal(0, 1 + g, n)
        xs.append(x), ys.append(y), codes.append(np.full(n, g))
    x, y, codes = np.concatenate(xs), np.concatenate(ys), np.concatenate(codes)
    x[5] = math.nan  # pairs with a missing value are left out
    result = stats.pair_stats(x.copy(), y.copy(), codes, 4)
    for g in range(4):
        keep = (codes == g) & np.isfinite(x)
        pearson = scipy.stats.pearsonr(x[keep], y[keep])
        spearman = scipy.stats.spearmanr(x[keep], y[keep])
        line = scipy.stats.linregress(x[keep], y[keep])
        assert result["pearson_correlation"][g] == pytest.approx(pearson.statistic, rel=1e-11)
        assert result["pearson_correlation_pvalue"][g] == pytest.approx(pearson.pvalue,
                                                                        rel=1e-8)
        assert result["spearman_correlation"][g] == pytest.approx(spearman.statistic, rel=1e-11)
        assert result["spearman_correlation_pvalue"][g] == pytest.approx(spearman.pvalue,
                                                                         rel=1e-8)
        assert result["linear_lse_slope"][g] == pytest.approx(line.slope, rel=1e-11)
        assert result["linear_lse_intercept"][g] == pytest.approx(line.intercept, rel=1e-10,
                                                                  abs=1e-12)


def test_pair_statistics_of_degenerate_groups_are_infinite_as_in_enb1():
    x = np.array([1.0, 1.0, 1.0, 2.0, 5.0, 7.0])
    y = np.array([3.0, 4.0, 5.0, 1.0, 9.0, 2.0])
    codes = np.array([0, 0, 0, 1, 2, 2])    # constant x / a single pair / two pairs
    result = stats.pair_stats(x, y, codes, 3)
    for stat in stats.PAIR_STATS:
        assert result[stat][0] == math.inf and result[stat][1] == math.inf
    assert result["pearson_correlation"][2] == pytest.approx(-1.0)
    assert result["pearson_correlation_pvalue"][2] == 1.0   # scipy's value for two pairs
    assert math.isnan(result["spearman_correlation_pvalue"][2])


def test_non_numeric_columns_are_refused_by_name():
    with pytest.raises(TypeError, match=r"\['name'\] are not numeric"):
        stats.finite_values(pd.DataFrame({"name": ["a", "b"], "v": [1, 2]}), ["v", "name"])


def test_box_plot_quartiles_are_scipys_mquantiles():
    from scipy.stats.mstats import mquantiles
    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 5, 10, 51, 1000):
        values = rng.normal(0, 1, n)
        assert stats.quartiles(values) == pytest.approx(tuple(mquantiles(values)), rel=1e-13,
                                                        abs=1e-13)
