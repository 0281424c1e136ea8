"""TwoNumericAnalyzer: pairs of numeric columns, per group.

Render modes: ``scatter`` (the samples, their average and +-1 std, optionally the least
squares line) and ``line`` (the samples joined in x order; with task families, one point per
task of a family). The summary has each column's statistics and, per pair, the Pearson and
Spearman correlations with their p-values and the least-squares slope and intercept.
"""
from __future__ import annotations

import collections
import logging
import math

import numpy as np

from .. import plotdata
from . import naming, stats, tables
from .base import Analyzer, analysis_dir, column_label
from .grouping import is_family_grouping
from .scalar import ScalarNumericSummary

logger = logging.getLogger(__name__)


class TwoNumericAnalyzer(Analyzer):
    """Analyze pairs ``(x, y)`` of numeric columns: ``target_columns`` is a list of tuples."""
    valid_render_modes = ("scatter", "line")
    selected_render_modes = ("scatter", "line")
    show_count = False
    show_x_std = True
    show_y_std = True
    combine_groups = True
    #: Draw every sample in the scatter plots.
    show_individual_samples = True
    #: In line plots, join points of equal x into one at their average y.
    average_identical_x = False
    #: Draw the least-squares line in the scatter plots.
    show_linear_regression = False

    def build_summary_atable(self, full_df, target_columns, reference_group, group_by,
                             include_all_group, **render_kwargs):
        return TwoNumericSummary(analyzer=self, full_df=full_df, target_columns=target_columns,
                                 reference_group=reference_group, group_by=group_by,
                                 include_all_group=include_all_group)

    def update_render_kwargs_one_case(self, column_selection, reference_group, render_mode,
                                      summary_df, output_plot_dir, group_by,
                                      column_to_properties, show_global, show_count,
                                      **column_kwargs):
        column_kwargs = super().update_render_kwargs_one_case(
            column_selection=column_selection, reference_group=reference_group,
            render_mode=render_mode, summary_df=summary_df, output_plot_dir=output_plot_dir,
            group_by=group_by, column_to_properties=column_to_properties,
            show_global=show_global, show_count=show_count, **column_kwargs)
        try:
            x_column, y_column = column_selection
        except (TypeError, ValueError):
            raise ValueError(f"{type(self).__name__}: each target must be an (x, y) pair of "
                             f"column names, not {column_selection!r}") from None
        if self.average_identical_x and render_mode == "line":
            for elements in column_kwargs["pds_by_group_name"].values():
                for element in elements:
                    by_x = collections.defaultdict(list)
                    for x, y in zip(element.x_values, element.y_values):
                        by_x[x].append(y)
                    element.x_values = sorted(by_x)
                    element.y_values = [sum(by_x[x]) / len(by_x[x]) for x in element.x_values]
        difference = f" difference vs. {reference_group}" if reference_group else ""
        column_kwargs.setdefault("global_x_label", column_label(column_to_properties, x_column)
                                 + (difference if "scatter" in self.selected_render_modes
                                    else ""))
        column_kwargs.setdefault("global_y_label", column_label(column_to_properties, y_column)
                                 + difference)
        for bound, column in (("x", x_column), ("y", y_column)):
            properties = column_to_properties.get(column)
            if f"{bound}_min" not in column_kwargs:
                column_kwargs[f"{bound}_min"] = float(summary_df[f"{column}_min"].min()) \
                    if getattr(properties, "plot_min", None) is None else properties.plot_min
            if f"{bound}_max" not in column_kwargs:
                column_kwargs[f"{bound}_max"] = float(summary_df[f"{column}_max"].max()) \
                    if getattr(properties, "plot_max", None) is None else properties.plot_max
        if len(summary_df) >= 5 and column_kwargs.get("group_row_margin") is None:
            column_kwargs["group_row_margin"] = 0.2 * len(summary_df)
        return column_kwargs

    def save_analysis_tables(self, group_by, reference_group, selected_render_modes, summary_df,
                             summary_table, target_columns, column_to_properties,
                             **render_kwargs) -> list:
        """Write the statistics (scatter mode, CSV and LaTeX) and, for the line mode, each
        pair's plotted points: per group a row of x values and a row of y values."""
        written = []
        for mode in self.ordered_modes(selected_render_modes):
            if mode == "scatter":
                written += super().save_analysis_tables(
                    group_by=group_by, reference_group=reference_group,
                    selected_render_modes=["scatter"], summary_df=summary_df,
                    summary_table=summary_table, target_columns=target_columns,
                    column_to_properties=column_to_properties, **render_kwargs)
                continue
            for pair in target_columns:
                path = naming.output_path(analysis_dir(), type(self).__name__, [pair], mode,
                                          group_by, reference_group, ".csv")
                column = self.get_render_column_name(pair, mode)
                with tables.replacing(path) as stream:
                    for label, elements in zip(summary_df["group_label"], summary_df[column]):
                        line = next((e for e in elements if isinstance(e, plotdata.LineData)),
                                    None)
                        xs, ys = (line.x_values, line.y_values) if line else ((), ())
                        stream.write(",".join([str(label), pair[0]] +
                                              [str(tables.plain(v)) for v in xs]) + "\n")
                        stream.write(",".join(["", pair[1]] +
                                              [str(tables.plain(v)) for v in ys]) + "\n")
                written.append(path)
        return written


class TwoNumericSummary(ScalarNumericSummary):
    """Statistics of each column of the pairs, and per pair ``<x>_<y>_<statistic>`` for the
    correlation statistics of :data:`enb.aanalysis.stats.PAIR_STATS`."""

    def __init__(self, analyzer, full_df, target_columns, reference_group, group_by,
                 include_all_group):
        for pair in target_columns:
            if isinstance(pair, str) or len(pair) != 2:
                raise ValueError(f"{type(analyzer).__name__}: target columns must be (x, y) "
                                 f"pairs of column names, not {pair!r}")
        super().__init__(analyzer=analyzer, full_df=full_df, target_columns=target_columns,
                         reference_group=reference_group, group_by=group_by,
                         include_all_group=include_all_group)
        for x_column, y_column in self.target_columns:
            self.declare_columns(f"{x_column}_{y_column}_{stat}" for stat in stats.PAIR_STATS)
        # 1.x's column order: per pair, x's statistics, y's, then the pair's.
        wanted = []
        for x_column, y_column in self.target_columns:
            for column in (x_column, y_column):
                wanted += [f"{column}_{s}" for s in stats.SCALAR_STATS]
            wanted += [f"{x_column}_{y_column}_{s}" for s in stats.PAIR_STATS]
        self.statistic_order = list(dict.fromkeys(wanted))
        self.move_render_columns_back()

    def scalar_columns(self) -> list:
        return list(dict.fromkeys(c for pair in self.target_columns for c in pair))

    def apply_reference_bias(self) -> None:
        self.reference_avg_by_column = None
        if self.reference_group is None:
            return
        modes = set(self.analyzer.selected_render_modes)
        if {"scatter", "line"} <= modes:
            raise ValueError(f"{type(self.analyzer).__name__}: a reference group applies "
                             f"differently to the scatter and line modes; run the analysis "
                             f"once per mode (selected_render_modes='scatter', then 'line')")
        if "scatter" in modes:
            return super().apply_reference_bias()
        self._apply_line_bias()

    def _apply_line_bias(self) -> None:
        """Subtract, at each x value, the reference group's average y there."""
        if self.group_by is None:
            raise ValueError(f"reference_group={self.reference_group!r} needs a group_by")
        groups = self.groups
        if self.reference_group not in groups.labels[:groups.keyed_count]:
            raise ValueError(f"reference group {self.reference_group!r} is not one of the "
                             f"groups ({', '.join(map(repr, groups.labels))})")
        x_of_y = {}
        for x_column, y_column in self.target_columns:
            if x_of_y.setdefault(y_column, x_column) != x_column:
                raise ValueError(f"with a reference group, each y column can go with one x "
                                 f"column only; {y_column!r} goes with {x_of_y[y_column]!r} "
                                 f"and {x_column!r}")
        reference = groups.frame_of(self.reference_group)
        shifted = self.reference_df.copy()
        for y_column, x_column in x_of_y.items():
            means = reference.groupby(x_column)[y_column].mean()
            offsets = shifted[x_column].map(means)
            missing = offsets.isna() & shifted[x_column].notna()
            if missing.any():
                logger.warning("%d rows have %s values the reference group %r lacks; their %s "
                               "is left as it is", int(missing.sum()), x_column,
                               self.reference_group, y_column)
            shifted[y_column] = shifted[y_column] - offsets.fillna(0)
        self.reference_df = shifted
        self.reference_avg_by_column = {y: 0.0 for y in x_of_y}

    def compute_statistics(self, groups) -> dict:
        results = super().compute_statistics(groups)
        for x_column, y_column in self.target_columns:
            values = stats.finite_values(groups.frame, [x_column, y_column])
            pair = stats.pair_stats(values[:, 0], values[:, 1], groups.codes, groups.keyed_count)
            if groups.all_frame is not None:
                everything = stats.finite_values(groups.all_frame, [x_column, y_column])
                whole = stats.pair_stats(everything[:, 0], everything[:, 1],
                                         np.zeros(len(everything), dtype=np.int64), 1)
                pair = {k: np.concatenate([v, whole[k]]) for k, v in pair.items()}
            for stat, column in pair.items():
                results[f"{x_column}_{y_column}_{stat}"] = column
        return {name: results[name] for name in self.statistic_order}

    def _group_pairs(self, groups, x_column, y_column) -> list:
        """Return each group's (x, y) arrays over the rows where both are finite."""
        frames = [groups.frame_of(label) for label in groups.labels]
        found = []
        for frame in frames:
            values = stats.finite_values(frame, [x_column, y_column])
            keep = ~np.isnan(values).any(axis=1)
            found.append((values[keep, 0], values[keep, 1], frame[keep]))
        return found

    def compute_plot_elements(self, groups, summary_df, column_selection, render_mode):
        x_column, y_column = column_selection
        rows = summary_df.to_dict("records")
        pairs = self._group_pairs(groups, x_column, y_column)
        result = []
        for (x, y, frame), row, label in zip(pairs, rows, groups.labels):
            if render_mode == "scatter":
                elements = self._scatter(x, y, row, x_column, y_column)
            else:
                elements = self._line(x, y, frame, label, x_column, y_column)
            result.append(elements)
        if self.reference_group is not None and render_mode == "scatter" and result:
            # Drawn once, in the first group: the reference's average is now the origin.
            result[0] += [plotdata.VerticalLine(x_position=0, color="black", alpha=0.3,
                                                line_width=1),
                          plotdata.HorizontalLine(y_position=0, color="black", alpha=0.3,
                                                  line_width=1)]
        return result

    def _scatter(self, x, y, row, x_column, y_column):
        analyzer = self.analyzer
        x_avg, y_avg = row[f"{x_column}_avg"], row[f"{y_column}_avg"]
        elements = [plotdata.ScatterData(x_values=[x_avg], y_values=[y_avg],
                                         alpha=analyzer.main_alpha,
                                         marker_size=5 * analyzer.main_marker_size)]
        if analyzer.show_individual_samples:
            elements.append(plotdata.ScatterData(
                x_values=x, y_values=y, alpha=analyzer.main_alpha,
                marker_size=5 * analyzer.secondary_marker_size,
                extra_kwargs={"linewidths": 0}))
        for shown, column, vertical in ((analyzer.show_x_std, x_column, False),
                                        (analyzer.show_y_std, y_column, True)):
            if shown:
                deviation = row[f"{column}_std"]
                elements.append(plotdata.ErrorLines(
                    x_values=[x_avg], y_values=[y_avg], marker_size=0,
                    alpha=analyzer.secondary_alpha, err_neg_values=[deviation],
                    err_pos_values=[deviation], line_width=analyzer.secondary_line_width,
                    vertical=vertical))
        if analyzer.show_linear_regression:
            slope = row[f"{x_column}_{y_column}_linear_lse_slope"]
            intercept = row[f"{x_column}_{y_column}_linear_lse_intercept"]
            low, high = row[f"{x_column}_min"], row[f"{x_column}_max"]
            finite = all(math.isfinite(v) for v in (slope, intercept, low, high))
            elements.append(plotdata.LineData(
                x_values=[low, high] if finite else [],
                y_values=[intercept + slope * low, intercept + slope * high] if finite else [],
                marker_size=0, alpha=analyzer.secondary_alpha,
                line_width=analyzer.secondary_line_width))
        return elements

    def _line(self, x, y, frame, label, x_column, y_column):
        analyzer = self.analyzer
        if is_family_grouping(self.group_by) and label != analyzer.global_group_name:
            family = next(f for f in self.group_by if f.label == label)
            xs, ys = [], []
            for task_name in family.task_names:
                task = frame[frame["task_name"] == task_name]
                if len(task):
                    xs.append(float(task[x_column].mean()))
                    ys.append(float(task[y_column].mean()))
        else:
            order = np.lexsort((y, x))
            xs, ys = x[order].tolist(), y[order].tolist()
        return [plotdata.LineData(x_values=xs, y_values=ys, alpha=analyzer.main_alpha,
                                  marker_size=analyzer.main_marker_size - 1)]
