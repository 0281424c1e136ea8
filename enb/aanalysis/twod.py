"""ScalarNumeric2DAnalyzer: a numeric value over an (x, y) plane, as a colour map per group.

``target_columns`` holds ``(x column, y column, value column)`` triples. The ``colormap``
mode bins the plane into ``bin_count`` x ``bin_count`` cells and colours each by the average
value of its samples; cells without samples show ``no_data_color``.
"""
from __future__ import annotations

import numpy as np

from .. import plotdata
from . import stats
from .base import Analyzer, column_label
from .scalar import ScalarNumericAnalyzer, ScalarNumericSummary


def tick_label(format_str, value):
    """``format_str.format(value)``, without the sign of a value that the format rounds to 0.

    Interpolated bin edges carry float error (0 on the edges -1.1, -0.8, ..., 0.1 comes out as -5.6e-17), and
    ``"{:.2f}".format(-0.001)`` is ``"-0.00"``: such a tick reads "0.00".
    """
    label = format_str.format(float(value))
    if label == format_str.format(-0.0):
        label = format_str.format(0.0)
    return label


class ScalarNumeric2DAnalyzer(ScalarNumericAnalyzer):
    """Analyze a value located on an (x, y) plane: ``(x, y, value)`` column triples."""
    valid_render_modes = ("colormap",)
    selected_render_modes = ("colormap",)
    #: Cells along each axis.
    bin_count = 50
    x_tick_format_str = "{:.2f}"
    y_tick_format_str = "{:.2f}"
    #: A matplotlib colour map name.
    color_map = "inferno"
    #: Colour of cells without samples.
    no_data_color = (1, 1, 1, 0)
    #: Colour of cells whose average is not a number.
    bad_data_color = "magenta"

    def build_summary_atable(self, full_df, target_columns, reference_group, group_by,
                             include_all_group, **render_kwargs):
        return ScalarNumeric2DSummary(analyzer=self, full_df=full_df,
                                      target_columns=target_columns,
                                      reference_group=reference_group, group_by=group_by,
                                      include_all_group=include_all_group)

    def update_render_kwargs_one_case(self, column_selection, reference_group, render_mode,
                                      summary_df, output_plot_dir, group_by,
                                      column_to_properties, show_global, show_count,
                                      **column_kwargs):
        column_kwargs = Analyzer.update_render_kwargs_one_case(
            self, column_selection=column_selection, reference_group=reference_group,
            render_mode=render_mode, summary_df=summary_df, output_plot_dir=output_plot_dir,
            group_by=group_by, column_to_properties=column_to_properties,
            show_global=show_global, show_count=show_count, **column_kwargs)
        x_column, y_column, value_column = column_selection
        column_kwargs.setdefault("global_x_label", column_label(column_to_properties, x_column))
        column_kwargs.setdefault("global_y_label", None)
        maps = [e for elements in column_kwargs["pds_by_group_name"].values() for e in elements
                if isinstance(e, plotdata.Histogram2D)]
        value_label = column_label(column_to_properties, value_column)
        for element in maps:
            element.colormap_label = value_label
        if not maps:
            return column_kwargs
        first = maps[0]
        for axis, edges, text in (("x", first.x_edges, self.x_tick_format_str),
                                  ("y", first.y_edges, self.y_tick_format_str)):
            positions = list(getattr(first, f"{axis}_values"))
            if f"{axis}_tick_list" not in column_kwargs:
                chosen = list(range(len(edges)))
                if len(chosen) > 5:
                    chosen = [0, (len(edges) - 1) / 2, len(edges) - 1]
                column_kwargs[f"{axis}_tick_list"] = [c - 0.5 for c in chosen]
                column_kwargs[f"{axis}_tick_label_list"] = [
                    tick_label(text, np.interp(c, range(len(edges)), edges)) for c in chosen]
            column_kwargs.setdefault(f"{axis}_min", -0.5)
            column_kwargs.setdefault(f"{axis}_max", positions[-1])
        column_kwargs["x_tick_label_angle"] = 90
        column_kwargs["left_y_label"] = True
        labels = column_kwargs.get("y_labels_by_group_name") or {}
        if not column_kwargs.get("combine_groups") and len(column_kwargs["pds_by_group_name"]) > 1:
            versus = f" vs {labels.get(reference_group, reference_group)}" \
                if reference_group is not None else ""
            for name, elements in column_kwargs["pds_by_group_name"].items():
                for element in elements:
                    if isinstance(element, plotdata.Histogram2D):
                        element.colormap_label = f"{value_label}{versus}\n{labels.get(name, name)}"
        y_label = column_label(column_to_properties, y_column)
        column_kwargs["y_labels_by_group_name"] = {
            name: y_label for name in column_kwargs["pds_by_group_name"]}
        return column_kwargs


class ScalarNumeric2DSummary(ScalarNumericSummary):
    """Statistics of the x, y and value columns, and each group's colour map."""

    def __init__(self, analyzer, full_df, target_columns, reference_group, group_by,
                 include_all_group):
        for triple in target_columns:
            if isinstance(triple, str) or len(triple) != 3:
                raise ValueError(f"{type(analyzer).__name__}: target columns must be "
                                 f"(x, y, value) triples of column names, not {triple!r}")
        super().__init__(analyzer=analyzer, full_df=full_df, target_columns=target_columns,
                         reference_group=reference_group, group_by=group_by,
                         include_all_group=include_all_group)
        self.column_to_min_max = {c: self.column_to_xmin_xmax[c] for c in self.scalar_columns()}

    def scalar_columns(self) -> list:
        return list(dict.fromkeys(c for triple in self.target_columns for c in triple))

    def bias_columns(self) -> list:
        return list(dict.fromkeys(triple[2] for triple in self.target_columns))

    def compute_plot_elements(self, groups, summary_df, column_selection, render_mode):
        x_column, y_column, value_column = column_selection
        analyzer = self.analyzer
        properties = self.column_properties_for_analysis.get(value_column)
        plane = [list(self.column_to_min_max[x_column]), list(self.column_to_min_max[y_column])]
        for bounds in plane:
            if bounds[0] == bounds[1]:
                bounds[1] = bounds[0] + 1
        result = []
        for label in groups.labels:
            values = stats.finite_values(groups.frame_of(label), [x_column, y_column, value_column])
            values = values[~np.isnan(values).any(axis=1)]
            sums, x_edges, y_edges = np.histogram2d(values[:, 0], values[:, 1], range=plane,
                                                    bins=analyzer.bin_count,
                                                    weights=values[:, 2])
            counts, _, _ = np.histogram2d(values[:, 0], values[:, 1], range=plane,
                                          bins=analyzer.bin_count)
            with np.errstate(invalid="ignore", divide="ignore"):
                averages = sums / counts
            vmin = getattr(properties, "plot_min", None)
            vmax = getattr(properties, "plot_max", None)
            ticks = None if vmin is not None and vmax is not None else "auto"
            filled = averages[counts > 0]
            if vmin is None:
                vmin = float(filled.min()) if filled.size else 0.0
            if vmax is None:
                vmax = float(filled.max()) if filled.size else 1.0
            if vmax <= vmin:
                # A constant map shows its one value mid-scale.
                vmin, vmax = vmin - 0.5, vmin + 0.5
            # Cells without samples fall below the colour range: they show no_data_color.
            averages[counts == 0] = vmin - (vmax - vmin)
            result.append([plotdata.Histogram2D(
                x_edges=x_edges, y_edges=y_edges, matrix_values=averages,
                colormap_label=column_label(self.column_properties_for_analysis, value_column),
                vmin=vmin, vmax=vmax, no_data_color=analyzer.no_data_color,
                bad_data_color=analyzer.bad_data_color, color_map=analyzer.color_map,
                colorbar_ticks=ticks)])
        return result
