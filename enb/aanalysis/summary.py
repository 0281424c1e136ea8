"""AnalyzerSummary: the per-group table behind every analyzer (a SummaryTable, as in 1.x).

Its :meth:`AnalyzerSummary.get_df` returns one row per group, indexed like any enb table
(``__atable_index`` = ``str((group_label,))``), with the columns of enb 1.x in its order:
``group_label``, ``group_size``, ``row_created``, ``row_updated``, the statistics, then one
``<selection>_render-<mode>`` column per figure holding each group's plot elements.

The statistics of all groups are computed at once, vectorised (:meth:`compute_statistics`);
columns that a script adds with ``add_column_function`` are computed per group afterwards,
with ``self.label_to_df[label]`` giving the group's rows, as in 1.x.
"""
from __future__ import annotations

import collections
import datetime
import functools
import logging

import numpy as np
import pandas as pd

from ..atable import ColumnProperties, KEY_COLUMN, TIMESTAMP_COLUMNS
from ..summary import SummaryTable
from . import grouping

logger = logging.getLogger(__name__)

#: Columns every summary has before its statistics.
LEADING_COLUMNS = ("group_label", "group_size")


class AnalyzerSummary(SummaryTable):
    """The summary of one analysis: groups x statistics x plot elements.

    ``analyzer`` is the :class:`enb.aanalysis.Analyzer` it serves; ``reference_df`` the
    analysed rows (with the reference group's bias applied by
    :meth:`apply_reference_bias`, when a ``reference_group`` is given).
    """

    def __init__(self, analyzer, full_df, target_columns, reference_group, group_by,
                 include_all_group, **render_kwargs):
        include_all_group = analyzer.show_global if include_all_group is None \
            else include_all_group
        super().__init__(full_df=full_df, column_to_properties=analyzer.column_to_properties,
                         copy_df=False, csv_support_path=None, group_by=group_by,
                         include_all_group=include_all_group)
        self.analyzer = analyzer
        self.reference_group = reference_group
        self.group_by = group_by
        self.include_all_group = include_all_group
        self.target_columns = list(target_columns)
        self.render_kwargs = render_kwargs
        # Columns added to this summary belong to it, not to its class.
        self.column_to_properties = collections.OrderedDict(self.column_to_properties)
        self.builtin_columns = set(LEADING_COLUMNS) | set(TIMESTAMP_COLUMNS)
        self.render_column_names = self.add_render_columns()
        self._groups = None
        self._label_to_df = None

    # -- 1.x surface -----------------------------------------------------------------------
    @property
    def column_properties_for_analysis(self) -> dict:
        """The ColumnProperties the analysis uses (labels, plot_min/plot_max)."""
        return getattr(self.analyzer, "analysis_column_to_properties", None) or {}

    def add_render_columns(self) -> list:
        """Declare one plot-element column per selected render mode and target column."""
        names = []
        for mode in self.analyzer.ordered_modes(self.analyzer.selected_render_modes):
            for selection in self.target_columns:
                name = self.analyzer.get_render_column_name(selection, mode)
                self.column_to_properties[name] = ColumnProperties(
                    name=name, has_object_values=True)
                names.append((name, selection, mode))
        self.builtin_columns.update(n for n, _, _ in names)
        self._render_columns = names
        return [n for n, _, _ in names]

    def declare_columns(self, names, **properties) -> None:
        """Record built-in statistic columns (computed by :meth:`compute_statistics`)."""
        for name in names:
            self.column_to_properties.setdefault(name, ColumnProperties(name=name, **properties))
            self.builtin_columns.add(name)

    def move_render_columns_back(self) -> None:
        """Keep the plot-element columns after every other column (enb 1.x name)."""
        render = [n for n in self.render_column_names if n in self.column_to_properties]
        for name in render:
            self.column_to_properties.move_to_end(name)

    def apply_reference_bias(self) -> None:
        """Make the reference group the baseline; analyzers that support one override this."""
        if self.reference_group is not None:
            raise ValueError(f"{type(self.analyzer).__name__} does not support "
                             f"reference_group (got {self.reference_group!r})")

    def remove_nans(self, column_series: pd.Series) -> pd.Series:
        """Return ``column_series`` without NaN and infinite values."""
        return pd.to_numeric(column_series, errors="coerce").replace(
            [np.inf, -np.inf], np.nan).dropna()

    def split_groups(self, reference_df=None, include_all_group=None) -> list:
        """Return the (label, DataFrame) pairs of the analysis, in order."""
        groups = grouping.split(self.reference_df if reference_df is None else reference_df,
                                self.group_by, self.include_all_group
                                if include_all_group is None else include_all_group)
        return list(groups.label_to_df().items())

    @property
    def groups(self) -> grouping.Groups:
        if self._groups is None:
            self._groups = grouping.split(self.reference_df, self.group_by,
                                          self.include_all_group)
        return self._groups

    @property
    def label_to_df(self) -> dict:
        """{group label: its rows} (built on first use)."""
        if self._label_to_df is None:
            self._label_to_df = self.groups.label_to_df()
        return self._label_to_df

    # -- computing ---------------------------------------------------------------------------
    def compute_statistics(self, groups: grouping.Groups) -> dict:
        """Return {column: one value per group} for the summary's statistics (vectorised)."""
        return {}

    def compute_plot_elements(self, groups: grouping.Groups, summary_df: pd.DataFrame,
                              column_selection, render_mode) -> list:
        """Return, per group, the list of plot elements of one figure."""
        raise NotImplementedError(f"{type(self).__name__} must compute the plot elements of "
                                  f"its render modes")

    def get_df(self, *args, **kwargs) -> pd.DataFrame:
        """Return the summary: one row per group (see the module's docstring)."""
        self.apply_reference_bias_once()
        groups = self.groups
        labels = list(groups.labels)
        sizes = np.bincount(groups.codes[groups.codes >= 0], minlength=groups.keyed_count)
        sizes = sizes[:groups.keyed_count].tolist()
        if groups.all_frame is not None:
            sizes.append(len(groups.all_frame))
        now = datetime.datetime.now().isoformat()
        columns = collections.OrderedDict(group_label=labels, group_size=sizes)
        columns["row_created"] = [now] * len(labels)
        columns["row_updated"] = [now] * len(labels)
        for name, values in self.compute_statistics(groups).items():
            columns[name] = list(values) if isinstance(values, np.ndarray) and \
                values.dtype == object else values
        summary_df = pd.DataFrame(columns, index=pd.Index([str((label,)) for label in labels],
                                                          name=KEY_COLUMN))
        self._compute_added_columns(summary_df)
        elements = {name: pd.Series(self.compute_plot_elements(groups, summary_df, selection,
                                                               mode),
                                    index=summary_df.index, dtype=object)
                    for name, selection, mode in self._render_columns}
        if elements:
            summary_df = pd.concat([summary_df, pd.DataFrame(elements)], axis=1)
        return summary_df

    def apply_reference_bias_once(self) -> None:
        if not getattr(self, "_bias_applied", False):
            self._bias_applied = True
            self.apply_reference_bias()
            self._groups = None
            self._label_to_df = None

    def _compute_added_columns(self, summary_df: pd.DataFrame) -> None:
        """Compute the columns a script added, per group, in declaration order."""
        added = [(name, cp) for name, cp in self.column_to_properties.items()
                 if name not in self.builtin_columns and cp.fun is not None
                 and name not in summary_df.columns]
        if not added:
            return
        done = set()
        for key, label in zip(summary_df.index, summary_df["group_label"]):
            row = dict(summary_df.loc[key])
            for name, cp in added:
                if (label, cp.fun) in done:
                    continue
                cp.fun(self, label, row)
                done.add((label, cp.fun))
            for name, _cp in added:
                if name in row:
                    if name not in summary_df.columns:
                        summary_df[name] = pd.Series([None] * len(summary_df),
                                                     index=summary_df.index, dtype=object)
                    summary_df.at[key, name] = row[name]


def partial_column(function, **fixed):
    """Return ``function`` with keyword arguments fixed, as column functions of 1.x were."""
    return functools.partial(function, **fixed)
