"""DictNumericAnalyzer: columns whose cells are dicts of numbers ({key: value}), per group.

For every key, the group's values under that key are summarised (min, max, average, std,
median: each summary cell is a dict keyed like the data). The ``line`` mode draws each
group's average per key, with +-1 std bars. A ``combine_keys_callable`` (for instance a
:class:`HistogramKeyBinner`) can first map each dict to other keys.
"""
from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

from .. import plotdata
from ..render.figure import natural_key
from .base import Analyzer, column_label
from .binning import HistogramKeyBinner
from .summary import AnalyzerSummary

DICT_STATS = ("min", "max", "avg", "std", "median")


class DictNumericAnalyzer(Analyzer):
    """Analyze columns of dicts with numeric values (``has_dict_values=True`` columns)."""
    valid_render_modes = ("line",)
    selected_render_modes = ("line",)
    show_y_std = True
    #: Draw a marker at each key's average, besides the line.
    show_individual_samples = True

    def __init__(self, csv_support_path=None, column_to_properties=None,
                 progress_report_period=None, combine_keys_callable=None):
        super().__init__(csv_support_path=csv_support_path,
                         column_to_properties=column_to_properties,
                         progress_report_period=progress_report_period)
        self.combine_keys_callable = combine_keys_callable
        self.column_name_to_keys = {}
        self.key_to_x = None

    def get_df(self, full_df, target_columns, selected_render_modes=None, output_plot_dir=None,
               group_by=None, reference_group=None, column_to_properties=None, show_global=None,
               show_count=None, key_to_x=None, **render_kwargs):
        """As :meth:`Analyzer.get_df`; ``key_to_x`` maps dict keys to their x positions
        (keys it does not name are left out)."""
        if isinstance(target_columns, str):
            target_columns = [target_columns]
        self.key_to_x = dict(key_to_x) if key_to_x is not None else None
        combined = full_df.copy()
        self.column_name_to_keys = {}
        try:
            for column in target_columns or []:
                if column not in combined.columns:
                    raise ValueError(f"{type(self).__name__}: no column {column!r} in the "
                                     f"DataFrame")
                cells = combined[column]
                if self.combine_keys_callable is not None:
                    cells = cells.apply(self.combine_keys_callable)
                combined[f"__{column}_combined"] = cells
                self.column_name_to_keys[column] = self._ordered_keys(cells)
            return super().get_df(full_df=combined, target_columns=target_columns,
                                  selected_render_modes=selected_render_modes,
                                  output_plot_dir=output_plot_dir, group_by=group_by,
                                  reference_group=reference_group,
                                  column_to_properties=column_to_properties,
                                  show_global=show_global, show_count=show_count,
                                  **render_kwargs)
        finally:
            self.key_to_x = None

    def _ordered_keys(self, cells) -> list:
        """Return every key of the column's dicts: numbers in numeric order, names in natural
        order (a HistogramKeyBinner's intervals in bin order)."""
        if isinstance(self.combine_keys_callable, HistogramKeyBinner):
            return list(self.combine_keys_callable.binned_keys)
        keys = set()
        for cell in cells:
            if not isinstance(cell, dict):
                raise TypeError(f"{type(self).__name__}: a cell is {type(cell).__name__} "
                                f"{cell!r}, not a dict (declare the column with "
                                f"has_dict_values=True so that it is read back as one)")
            keys.update(cell)
        if all(isinstance(k, numbers.Number) for k in keys):
            return sorted(keys)
        return sorted(keys, key=natural_key)

    def build_summary_atable(self, full_df, target_columns, reference_group, group_by,
                             include_all_group, **render_kwargs):
        return DictNumericSummary(analyzer=self, full_df=full_df, target_columns=target_columns,
                                  reference_group=reference_group, group_by=group_by,
                                  include_all_group=include_all_group)

    def key_positions(self, column) -> dict:
        """Return {key: x position} of a column's keys."""
        keys = self.column_name_to_keys[column]
        if self.key_to_x:
            return {k: self.key_to_x[k] for k in keys if k in self.key_to_x}
        if all(isinstance(k, numbers.Number) for k in keys):
            return {k: k for k in keys}
        return {k: i for i, k in enumerate(keys)}

    def update_render_kwargs_one_case(self, column_selection, reference_group, render_mode,
                                      summary_df, output_plot_dir, group_by,
                                      column_to_properties, show_global, show_count,
                                      **column_kwargs):
        column_kwargs = super().update_render_kwargs_one_case(
            column_selection=column_selection, reference_group=reference_group,
            render_mode=render_mode, summary_df=summary_df, output_plot_dir=output_plot_dir,
            group_by=group_by, column_to_properties=column_to_properties,
            show_global=show_global, show_count=show_count, **column_kwargs)
        column_kwargs.setdefault("global_x_label",
                                 column_label(column_to_properties, column_selection))
        column_kwargs.setdefault("global_y_label", "")
        if self.common_group_scale and "y_min" not in column_kwargs \
                and "y_max" not in column_kwargs:
            self.adjust_common_row_axes(column_kwargs, column_selection, render_mode, summary_df)
        positions = self.key_positions(column_selection)
        if positions and "x_tick_list" not in column_kwargs:
            keys = list(positions)
            named = not all(isinstance(k, numbers.Number) for k in keys)
            # Names (intervals of a HistogramKeyBinner...) are all shown when they fit;
            # numbers get the first, middle and last ticks, as in enb 1.x.
            chosen = keys if named and len(keys) <= 12 else \
                list(dict.fromkeys([keys[0], keys[len(keys) // 2], keys[-1]]))
            column_kwargs["x_tick_list"] = [positions[k] for k in chosen]
            column_kwargs.setdefault("x_tick_label_list", [str(k) for k in chosen])
        return column_kwargs


class DictNumericSummary(AnalyzerSummary):
    """Per group and per key: ``<column>_min``, ``_max``, ``_avg``, ``_std``, ``_median``
    (each a dict {key: value})."""

    def __init__(self, analyzer, full_df, target_columns, reference_group, group_by,
                 include_all_group):
        super().__init__(analyzer=analyzer, full_df=full_df, target_columns=target_columns,
                         reference_group=reference_group, group_by=group_by,
                         include_all_group=include_all_group)
        for column in self.target_columns:
            self.declare_columns((f"{column}_{stat}" for stat in DICT_STATS),
                                 has_dict_values=True)
        self.move_render_columns_back()

    def _long_table(self, frame, column, codes) -> pd.DataFrame:
        """Return (group, key, value) rows of a dict column, finite values only."""
        positions = self.analyzer.key_positions(column)
        group, key, value = [], [], []
        for code, cell in zip(codes, frame[f"__{column}_combined"]):
            for k, v in cell.items():
                if k in positions:
                    group.append(code)
                    key.append(k)
                    value.append(v)
        long = pd.DataFrame({"group": group, "key": key,
                             "value": pd.to_numeric(pd.Series(value, dtype=object),
                                                    errors="coerce")})
        return long[np.isfinite(long["value"].to_numpy(dtype=float))]

    def compute_statistics(self, groups) -> dict:
        results = {}
        parts = [(groups.frame, groups.codes, groups.keyed_count)]
        if groups.all_frame is not None:
            parts.append((groups.all_frame, np.zeros(len(groups.all_frame), dtype=np.int64), 1))
        for column in self.target_columns:
            order = {k: i for i, k in enumerate(self.analyzer.column_name_to_keys[column])}
            cells = {stat: [] for stat in DICT_STATS}
            for frame, codes, count in parts:
                long = self._long_table(frame, column, codes)
                grouped = long.groupby(["group", "key"], sort=False)["value"]
                table = grouped.agg(["min", "max", "mean", "std", "median", "count"])
                table["std"] = table["std"].where(table["count"] > 1, 0.0)
                table = table.rename(columns={"mean": "avg"})
                for g in range(count):
                    rows = table.xs(g, level="group") if g in table.index.get_level_values(0) \
                        else table.iloc[:0]
                    rows = rows.loc[sorted(rows.index, key=order.__getitem__)]
                    for stat in DICT_STATS:
                        cells[stat].append({k: float(v) for k, v in rows[stat].items()})
            for stat in DICT_STATS:
                results[f"{column}_{stat}"] = cells[stat]
        return results

    def compute_plot_elements(self, groups, summary_df, column_selection, render_mode):
        analyzer = self.analyzer
        positions = analyzer.key_positions(column_selection)
        result = []
        for averages, deviations in zip(summary_df[f"{column_selection}_avg"],
                                        summary_df[f"{column_selection}_std"]):
            keys = [k for k in averages if k in positions]
            xs = [positions[k] for k in keys]
            ys = [averages[k] for k in keys]
            elements = []
            if analyzer.show_individual_samples and (analyzer.secondary_alpha is None
                                                     or analyzer.secondary_alpha > 0):
                elements.append(plotdata.ScatterData(x_values=xs, y_values=ys,
                                                     alpha=analyzer.secondary_alpha))
            elements.append(plotdata.LineData(x_values=xs, y_values=ys, alpha=analyzer.main_alpha,
                                              line_width=analyzer.main_line_width,
                                              marker_size=analyzer.main_marker_size))
            if analyzer.show_y_std:
                spread = [deviations.get(k, 0.0) for k in keys]
                elements.append(plotdata.ErrorLines(x_values=xs, y_values=ys,
                                                    err_neg_values=spread, err_pos_values=spread,
                                                    alpha=analyzer.secondary_alpha, vertical=True))
            result.append(elements)
        return result
