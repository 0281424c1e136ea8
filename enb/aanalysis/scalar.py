"""ScalarNumericAnalyzer: distributions of numeric columns, per group.

Render modes: ``histogram`` (relative frequencies, the average and +-1 std), ``hbar`` (one
bar per group at its average) and ``boxplot`` (quartile box, median, min-max span).
"""
from __future__ import annotations

import numpy as np

from .. import plotdata
from ..render.figure import pattern_cycle, sorted_group_names
from . import stats
from .base import Analyzer, column_label
from .summary import AnalyzerSummary


class ScalarNumericAnalyzer(Analyzer):
    """Analyze columns of numbers: min, max, average, std, median and count per group."""
    valid_render_modes = ("histogram", "hbar", "boxplot")
    selected_render_modes = ("histogram", "hbar", "boxplot")
    show_x_std = True
    secondary_marker_size = 4
    show_legend = True
    #: Number of bars of the histograms.
    histogram_bin_count = 50
    #: Width of the histogram bars, as a fraction of the bin (0: no bars).
    bar_width_fraction = 1
    #: Order the groups by their average.
    sort_by_average = False
    #: Draw every sample in the box plots.
    show_individual_samples = False

    def build_summary_atable(self, full_df, target_columns, reference_group, group_by,
                             include_all_group, **render_kwargs):
        return ScalarNumericSummary(analyzer=self, full_df=full_df,
                                    target_columns=target_columns,
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
        if self.sort_by_average:
            averages = dict(zip(summary_df["group_label"], summary_df[f"{column_selection}_avg"]))
            column_kwargs["group_name_order"] = sorted(
                (g for g in averages if g in column_kwargs["pds_by_group_name"]),
                key=lambda g: averages[g])
        label = column_label(column_to_properties, column_selection)
        suffix = f" difference vs. {reference_group}" if reference_group is not None else ""
        # A reference group makes the values differences: the column's own plot limits
        # (plot_min/plot_max) no longer apply.
        properties = column_to_properties.get(column_selection) if reference_group is None \
            else None
        forced = {k: column_kwargs.get(k) is not None for k in ("x_min", "x_max")}
        if "x_min" not in column_kwargs:
            column_kwargs["x_min"] = float(summary_df[f"{column_selection}_min"].min()) \
                if getattr(properties, "plot_min", None) is None else properties.plot_min
        if "x_max" not in column_kwargs:
            column_kwargs["x_max"] = float(summary_df[f"{column_selection}_max"].max()) \
                if getattr(properties, "plot_max", None) is None else properties.plot_max
        update = {"histogram": self._histogram_kwargs, "hbar": self._hbar_kwargs,
                  "boxplot": self._boxplot_kwargs}[render_mode]
        update(column_kwargs, column_selection, render_mode, summary_df, reference_group,
               label, suffix, forced)
        return column_kwargs

    def _bars_shown(self) -> bool:
        return self.main_alpha > 0 and self.bar_width_fraction > 0

    def _histogram_kwargs(self, kwargs, column, mode, summary_df, reference_group, label,
                          suffix, forced):
        if "global_x_label" not in kwargs:
            kwargs["global_x_label"] = (label if self._bars_shown() else f"Average {label}") \
                                       + suffix
        if "global_y_label" not in kwargs:
            if self._bars_shown():
                text = "Histogram"
                if self.secondary_alpha != 0:
                    text += ", average" if self.show_x_std else " and average"
                if self.show_x_std:
                    text += r" and $\pm 1\sigma$"
            else:
                text = ""
            kwargs["global_y_label"] = text
        if not self._bars_shown():
            kwargs["y_tick_list"] = []
            kwargs["y_tick_label_list"] = []
        if self.common_group_scale and ("y_min" not in kwargs or "y_max" not in kwargs):
            self.adjust_common_row_axes(kwargs, column, mode, summary_df)
        if kwargs.get("combine_groups"):
            # One axes for all groups: bars only, each group with its own hatch.
            kwargs["pds_by_group_name"] = {
                name: [e for e in elements
                       if not isinstance(e, (plotdata.ScatterData, plotdata.ErrorLines))]
                for name, elements in kwargs["pds_by_group_name"].items()}
            for i, name in enumerate(sorted(kwargs["pds_by_group_name"])):
                for element in kwargs["pds_by_group_name"][name]:
                    if isinstance(element, plotdata.BarData):
                        element.pattern = pattern_cycle[i]
            kwargs["global_y_label"] = "Relative frequency"
        if reference_group is not None:
            for name, elements in kwargs["pds_by_group_name"].items():
                elements.append(plotdata.VerticalLine(x_position=0, alpha=0.3, color="black"))

    def _ordered_rows(self, kwargs, reference_group, drop_reference):
        """Return the groups bottom to top (the first shown group on top)."""
        names = sorted_group_names(kwargs["pds_by_group_name"], kwargs.get("group_name_order"))
        if drop_reference:
            names = [n for n in names if n != reference_group]
        return list(reversed(names))

    def _rows_kwargs(self, kwargs, names, reference_group, align):
        elements_by_group = kwargs["pds_by_group_name"]
        kwargs["pds_by_group_name"] = {}
        for i, name in enumerate(names):
            elements = elements_by_group[name]
            for element in elements:
                align(element, i)
            if reference_group is not None:
                elements.append(plotdata.VerticalLine(x_position=0, alpha=0.3, color="black"))
            kwargs["pds_by_group_name"][name] = elements
        labels = kwargs.get("y_labels_by_group_name") or {}
        kwargs["combine_groups"] = True
        kwargs["y_tick_list"] = list(range(len(names)))
        kwargs["y_tick_label_list"] = [labels.get(name, name) for name in names]
        kwargs["y_min"] = -0.5
        kwargs["y_max"] = len(names) - 0.5
        kwargs["show_legend"] = False

    def _hbar_kwargs(self, kwargs, column, mode, summary_df, reference_group, label, suffix,
                     forced):
        kwargs.setdefault("global_x_label", label + suffix)
        kwargs.setdefault("global_y_label", "")
        names = self._ordered_rows(kwargs, reference_group, drop_reference=True)

        def align(element, i):
            element.x_values = (i,)
        self._rows_kwargs(kwargs, names, reference_group, align)
        kwargs["fig_height"] = 0.5 + 0.5 * len(names)

    def _boxplot_kwargs(self, kwargs, column, mode, summary_df, reference_group, label,
                        suffix, forced):
        kwargs.setdefault("global_x_label", label + suffix)
        kwargs.setdefault("global_y_label", "")
        # Computed limits get a 5% margin so that the min-max whiskers show; given ones stay.
        margin = 0.05 * (kwargs["x_max"] - kwargs["x_min"])
        if not forced["x_min"]:
            kwargs["x_min"] -= margin
        if not forced["x_max"]:
            kwargs["x_max"] += margin
        names = self._ordered_rows(kwargs, reference_group,
                                   drop_reference=not self.show_reference_group)

        def align(element, i):
            element.y_values = [i] * len(element.y_values)
        self._rows_kwargs(kwargs, names, reference_group, align)


class ScalarNumericSummary(AnalyzerSummary):
    """Per-group statistics of numeric columns: ``<column>_min``, ``_max``, ``_avg``,
    ``_std``, ``_median`` and ``_count`` (of finite values).

    With a reference group, its average is subtracted from every value first.
    """

    def __init__(self, analyzer, full_df, target_columns, reference_group, group_by,
                 include_all_group):
        super().__init__(analyzer=analyzer, full_df=full_df, target_columns=target_columns,
                         reference_group=reference_group, group_by=group_by,
                         include_all_group=include_all_group)
        self.column_to_xmin_xmax = {}
        for column in self.scalar_columns():
            if column not in full_df.columns:
                raise ValueError(f"{type(analyzer).__name__}: no column {column!r} in the "
                                 f"DataFrame (target columns: {self.target_columns})")
            self.declare_columns(f"{column}_{stat}" for stat in stats.SCALAR_STATS)
            finite = self.remove_nans(full_df[column])
            self.column_to_xmin_xmax[column] = (float(finite.min()), float(finite.max())) \
                if len(finite) else (0.0, 0.0)
        self.move_render_columns_back()

    def scalar_columns(self) -> list:
        """Return the columns whose statistics are computed, each once, in order."""
        return list(dict.fromkeys(self.target_columns))

    def bias_columns(self) -> list:
        """Return the columns a reference group shifts."""
        return self.scalar_columns()

    def apply_reference_bias(self) -> None:
        """Subtract the reference group's average from every value of the target columns."""
        self.reference_avg_by_column = None
        if self.reference_group is None:
            return
        if self.group_by is None:
            raise ValueError(f"reference_group={self.reference_group!r} needs a group_by")
        groups = self.groups
        if self.reference_group not in groups.labels[:groups.keyed_count]:
            raise ValueError(f"reference group {self.reference_group!r} is not one of the "
                             f"groups ({', '.join(map(repr, groups.labels))})")
        reference = groups.frame_of(self.reference_group)
        columns = self.bias_columns()
        self.reference_avg_by_column = {
            c: float(np.nanmean(stats.finite_values(reference, [c])[:, 0])) for c in columns}
        shifted = self.reference_df.copy()
        for column, average in self.reference_avg_by_column.items():
            shifted[column] = shifted[column] - average
        self.reference_df = shifted

    def compute_statistics(self, groups) -> dict:
        columns = self.scalar_columns()
        results = stats.scalar_stats(stats.finite_values(groups.frame, columns), groups.codes,
                                     groups.keyed_count, columns)
        if groups.all_frame is not None:
            everything = stats.finite_values(groups.all_frame, columns)
            whole = stats.scalar_stats(everything, np.zeros(len(everything), dtype=np.int64),
                                       1, columns)
            results = {k: np.concatenate([v, whole[k]]) for k, v in results.items()}
        return results

    def _finite_group_values(self, groups, column) -> list:
        """Return each group's finite values of ``column``."""
        values = stats.finite_values(groups.frame, [column])[:, 0]
        order = np.argsort(groups.codes, kind="stable")
        bounds = np.searchsorted(groups.codes[order], np.arange(groups.keyed_count + 1))
        found = []
        for g in range(groups.keyed_count):
            part = values[order[bounds[g]:bounds[g + 1]]]
            found.append(part[~np.isnan(part)])
        if groups.all_frame is not None:
            part = stats.finite_values(groups.all_frame, [column])[:, 0]
            found.append(part[~np.isnan(part)])
        return found

    def compute_plot_elements(self, groups, summary_df, column_selection, render_mode):
        per_group = self._finite_group_values(groups, column_selection)
        rows = summary_df.to_dict("records")
        make = {"histogram": self._histogram, "hbar": self._hbar,
                "boxplot": self._boxplot}[render_mode]
        return [make(values, row, column_selection) for values, row in zip(per_group, rows)]

    def _histogram(self, values, row, column):
        analyzer = self.analyzer
        properties = self.column_properties_for_analysis.get(column) \
            if self.reference_group is None else None
        if self.reference_group is not None:
            shifted = self.remove_nans(self.reference_df[column])
            low, high = (float(shifted.min()), float(shifted.max())) if len(shifted) else (0, 0)
        else:
            low, high = self.column_to_xmin_xmax[column]
        if getattr(properties, "plot_min", None) is not None:
            low = properties.plot_min
        if getattr(properties, "plot_max", None) is not None:
            high = properties.plot_max
        if low == high:
            high = low + 1
        elements = []
        marker_y = 0.5
        if analyzer.bar_width_fraction > 0 and analyzer.main_alpha > 0:
            counts, edges = np.histogram(values, bins=analyzer.histogram_bin_count,
                                         range=(low, high))
            total = counts.sum()
            frequencies = counts / total if total else counts.astype(float)
            marker_y = 0.5 * (frequencies.max() + frequencies.min())
            elements.append(plotdata.BarData(
                x_values=0.5 * (edges[:-1] + edges[1:]), y_values=frequencies,
                x_label=column_label(self.column_properties_for_analysis, column),
                alpha=analyzer.main_alpha,
                extra_kwargs={"width": analyzer.bar_width_fraction * (edges[1] - edges[0])}))
        average = row[f"{column}_avg"]
        elements.append(plotdata.ScatterData(
            x_values=[average], y_values=[marker_y], marker_size=4 * analyzer.main_marker_size,
            alpha=analyzer.main_alpha))
        if analyzer.show_x_std:
            deviation = row[f"{column}_std"]
            elements.append(plotdata.ErrorLines(
                x_values=[average], y_values=[marker_y], marker_size=0,
                alpha=analyzer.main_alpha, err_neg_values=[deviation],
                err_pos_values=[deviation], line_width=analyzer.main_line_width,
                vertical=False))
        return elements

    def _hbar(self, values, row, column):
        if not len(values):
            return []
        return [plotdata.BarData(x_values=(0,), y_values=(float(values.mean()),),
                                 vertical=False, alpha=self.analyzer.main_alpha)]

    def _boxplot(self, values, row, column):
        analyzer = self.analyzer
        if not len(values):
            return []
        q1, median, q3 = stats.quartiles(values)
        low, high, mean = float(values.min()), float(values.max()), float(values.mean())
        elements = [
            plotdata.Rectangle(x_values=(0.5 * (q1 + q3),), y_values=(0,),
                               width=max(0.0, q3 - q1), height=0.8,
                               line_width=analyzer.main_line_width, alpha=analyzer.main_alpha),
            plotdata.LineSegment(x_values=(median,), y_values=(0,), length=0.8, vertical=True,
                                 line_width=analyzer.main_line_width,
                                 alpha=analyzer.main_alpha),
            plotdata.ErrorLines(x_values=(mean,), y_values=(0,), err_neg_values=(mean - low,),
                                err_pos_values=(high - mean,), vertical=False,
                                line_width=analyzer.secondary_line_width,
                                marker_size=analyzer.secondary_marker_size,
                                cap_size=2 * analyzer.secondary_line_width,
                                alpha=analyzer.secondary_alpha),
        ]
        if analyzer.show_individual_samples:
            elements.append(plotdata.ScatterData(
                x_values=list(values), y_values=[0] * len(values),
                alpha=analyzer.secondary_alpha, marker_size=analyzer.secondary_marker_size,
                marker="o"))
        return elements
