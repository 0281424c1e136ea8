"""Shared set-up of the analysis tests: a small fixed table and a project folder."""
import math

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def project(tmp_path, fresh_options):
    """A project root with plot_dir and analysis_dir inside it, as enb 1.x lays them out."""
    root = tmp_path / "project"
    root.mkdir()
    fresh_options.project_root = str(root)
    fresh_options.plot_dir = str(root / "plots")
    fresh_options.analysis_dir = str(root / "analysis")
    fresh_options.cpu_limit = 2
    return root


def small_table() -> pd.DataFrame:
    """24 rows in groups x (10), y (8), z (6), with a NaN, an infinity and tied values."""
    rng = np.random.default_rng(20260101)
    groups = ["x"] * 10 + ["y"] * 8 + ["z"] * 6
    a = np.round(rng.normal(5, 2, 24), 3)
    b = np.round(a * 0.5 + rng.normal(0, 1, 24), 3)
    a[3] = math.nan
    b[20] = math.inf
    b[21] = b[22]
    c = rng.integers(0, 10, 24)
    frame = pd.DataFrame({"g": groups, "a": a, "b": b, "c": c})
    frame["d"] = [{k: float(i * k) for k in range(1 + i % 4)} for i in range(24)]
    frame["cx"] = ["red", "blue", "green"] * 8
    frame["cy"] = ["north"] * 12 + ["south"] * 12
    frame["px"] = np.round(rng.uniform(-1, 1, 24), 3)
    frame["py"] = np.round(rng.uniform(-1, 1, 24), 3)
    return frame
