"""Analysis of experiment results: summaries per group, plots and tables (enb 1.x's API).

Each analyzer's ``get_df(full_df, target_columns, ...)`` summarises a DataFrame per group
(vectorised), renders its figures in parallel through the selected executor, writes the
summary tables and adds them to the run's ``index.html``. Importing this module needs only
pandas; the first analysis needs matplotlib and scipy (``pip install 'enb[plot]'``).
"""
from __future__ import annotations

from .base import Analyzer, PlotExtraMissing, analysis_dir, plot_dir, require_plot_extra  # noqa: F401
from .binning import HistogramKeyBinner  # noqa: F401
from .grouping import GroupingError, get_groupby_str, is_family_grouping  # noqa: F401
from .scalar import ScalarNumericAnalyzer, ScalarNumericSummary  # noqa: F401
from .summary import AnalyzerSummary  # noqa: F401
from .two import TwoNumericAnalyzer, TwoNumericSummary  # noqa: F401
from .dicts import DictNumericAnalyzer, DictNumericSummary  # noqa: F401
from .twod import ScalarNumeric2DAnalyzer, ScalarNumeric2DSummary  # noqa: F401
from .joint import ScalarNumericJointAnalyzer, ScalarNumericJointSummary  # noqa: F401
from ..atable import clean_column_name as _clean_column_name


def columnname_to_labels(column_name):
    """Return (x label, y label) from a column name: "a_to_b" gives ("A", "B"), others
    (cleaned name, None)."""
    parts = str(column_name).split("_to_")
    if len(parts) == 2:
        return _clean_column_name(parts[0]), _clean_column_name(parts[1])
    return _clean_column_name(column_name), None


# The public classes answer to enb 1.x's names (enb.aanalysis.X): in reprs, pickles and in the
# .ini sections that configure them ([enb.aanalysis.ScalarNumericAnalyzer]).
for _cls in (Analyzer, AnalyzerSummary, ScalarNumericAnalyzer, ScalarNumericSummary,
             TwoNumericAnalyzer, TwoNumericSummary, DictNumericAnalyzer, DictNumericSummary,
             ScalarNumeric2DAnalyzer, ScalarNumeric2DSummary, ScalarNumericJointAnalyzer,
             ScalarNumericJointSummary, HistogramKeyBinner):
    _cls.__module__ = __name__
del _cls
