"""ScalarNumericJointAnalyzer: a numeric column by two categories at once, as tables.

``target_columns`` holds ``(x category column, y category column, value column)`` triples:
for instance the average compression ratio per (codec, corpus). The ``table`` mode draws one
table per group (x categories as columns, y categories as rows); the CSV and LaTeX files hold
every statistic.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import plotdata
from . import naming, stats, tables
from .base import Analyzer, analysis_dir, column_label
from .scalar import ScalarNumericSummary

JOINT_STATS = ("avg", "count", "min", "max", "std", "median")


def _check_highlight(name, value):
    if value is not None and str(value).lower() not in ("low", "high"):
        raise ValueError(f"{name}={value!r}: use 'low', 'high' or None")


class ScalarNumericJointAnalyzer(Analyzer):
    """Tables of a value's statistics by two categories (``(x, y, value)`` triples)."""
    valid_render_modes = ("table",)
    selected_render_modes = ("table",)
    #: Add an "All" row (all y categories together).
    show_global_row = False
    #: Add an "All" column (all x categories together).
    show_global_column = False
    show_reference_group = False
    #: Set in bold the best cell of each row / of each column: "low", "high" or None.
    highlight_best_column = None
    highlight_best_row = None
    #: Format of the table cells.
    number_format = "{:.3f}"
    cell_alignment = "center"
    col_header_alignment = "center"
    row_header_alignment = "left"
    #: None: sized to the table.
    fig_width = None
    fig_height = None
    #: matplotlib's table edges: a substring of "BRTL", or open, closed, horizontal, vertical.
    edges = "closed"

    def extra_get_df_keywords(self) -> set:
        return {"x_header_list", "y_header_list", "highlight_best_column", "highlight_best_row",
                "show_global_row", "show_global_column"}

    def get_df(self, full_df, target_columns, selected_render_modes=None, output_plot_dir=None,
               group_by=None, reference_group=None, column_to_properties=None,
               show_global_row=None, show_global_column=None, show_count=None,
               x_header_list=None, y_header_list=None, highlight_best_column=None,
               highlight_best_row=None, **render_kwargs):
        """As :meth:`Analyzer.get_df`, with the table's options: ``x_header_list`` and
        ``y_header_list`` (the categories shown, in order; default: all, alphabetically),
        ``show_global_row``/``show_global_column`` and the highlights."""
        _check_highlight("highlight_best_column", highlight_best_column)
        _check_highlight("highlight_best_row", highlight_best_row)
        render_kwargs.pop("show_global", None)
        return super().get_df(
            full_df=full_df, target_columns=target_columns,
            selected_render_modes=selected_render_modes, output_plot_dir=output_plot_dir,
            group_by=group_by, reference_group=reference_group,
            column_to_properties=column_to_properties, show_count=show_count,
            x_header_list=x_header_list, y_header_list=y_header_list,
            highlight_best_column=self.highlight_best_column if highlight_best_column is None
            else highlight_best_column,
            highlight_best_row=self.highlight_best_row if highlight_best_row is None
            else highlight_best_row,
            show_global_row=self.show_global_row if show_global_row is None else show_global_row,
            show_global_column=self.show_global_column if show_global_column is None
            else show_global_column,
            **render_kwargs)

    def build_summary_atable(self, full_df, target_columns, reference_group, group_by,
                             include_all_group, **render_kwargs):
        options = {k: render_kwargs.get(k) for k in self.extra_get_df_keywords()}
        return ScalarNumericJointSummary(analyzer=self, full_df=full_df,
                                         target_columns=target_columns,
                                         reference_group=reference_group, group_by=group_by,
                                         **options)

    def update_render_kwargs_one_case(self, column_selection, reference_group, render_mode,
                                      summary_df, output_plot_dir, group_by,
                                      column_to_properties, show_global, show_count,
                                      **column_kwargs):
        column_kwargs = super().update_render_kwargs_one_case(
            column_selection=column_selection, reference_group=reference_group,
            render_mode=render_mode, summary_df=summary_df, output_plot_dir=output_plot_dir,
            group_by=group_by, column_to_properties=column_to_properties, show_global=None,
            show_count=show_count, **column_kwargs)
        column_kwargs.setdefault("global_x_label", None)
        column_kwargs.setdefault("global_y_label", None)
        groups = column_kwargs["pds_by_group_name"]
        tables_shown = [e for elements in groups.values() for e in elements
                        if isinstance(e, plotdata.Table)]
        if tables_shown:
            table = tables_shown[0]
            if column_kwargs.get("fig_height") is None:
                column_kwargs["fig_height"] = max(
                    1.0, 0.3 * (len(table.y_values) + 1) * len(groups) + 0.15 * len(groups))
            if column_kwargs.get("fig_width") is None:
                widest = max((sum(len(cell) for cell in row) for row in table.cell_text),
                             default=0)
                longest_header = max((len(str(y)) for y in table.y_values), default=0)
                column_kwargs["fig_width"] = max(
                    2.0, 0.2 * (len(table.x_values) + 1) + 0.25 * widest + 0.1 * longest_header)
        for key in self.extra_get_df_keywords():
            column_kwargs.pop(key, None)
        return column_kwargs

    def get_filtered_x_y_categories(self, x_categories, y_categories, reference_group):
        """Return the categories shown: the reference category is left out unless
        show_reference_group (from the columns when it is both a column and a row)."""
        x_categories, y_categories = list(x_categories), list(y_categories)
        if reference_group is not None and not self.show_reference_group:
            if reference_group in x_categories:
                x_categories = [c for c in x_categories if c != reference_group]
            elif reference_group in y_categories:
                y_categories = [c for c in y_categories if c != reference_group]
        return x_categories, y_categories

    def save_analysis_tables(self, group_by, reference_group, selected_render_modes, summary_df,
                             summary_table, target_columns, column_to_properties,
                             **render_kwargs) -> list:
        """Write every statistic as one small table per group, in CSV and in LaTeX."""
        modes = naming.modes_text(selected_render_modes, type(self).valid_render_modes)
        csv_path = naming.output_path(analysis_dir(), type(self).__name__, target_columns,
                                      modes, group_by, reference_group, ".csv")
        with tables.replacing(csv_path) as stream:
            stream.write(self._csv_text(summary_df, summary_table, target_columns,
                                        column_to_properties))
        tex_path = csv_path[:-4] + ".tex"
        with tables.replacing(tex_path) as stream:
            stream.write(self._latex_text(summary_df, summary_table, target_columns,
                                          column_to_properties))
        return [csv_path, tex_path]

    def _grid(self, summary_table, x_column, y_column):
        """Return the (x, y) categories shown, with None for the "All" row/column."""
        x_categories, y_categories = self.get_filtered_x_y_categories(
            summary_table.category_to_values[x_column], summary_table.category_to_values[y_column],
            summary_table.reference_group)
        if summary_table.show_global_row and len(y_categories) > 1:
            y_categories.append(None)
        if summary_table.show_global_column and len(x_categories) > 1:
            x_categories.append(None)
        return x_categories, y_categories

    def _format(self, stat, value) -> str:
        return f"{int(value):d}" if stat == "count" else self.number_format.format(value)

    def _csv_text(self, summary_df, summary_table, target_columns, column_to_properties) -> str:
        lines = []
        for x_column, y_column, value_column in target_columns:
            names = [column_label(column_to_properties, c) for c in (x_column, y_column,
                                                                      value_column)]
            lines += ["", "", "# Column selection: " + " ".join(repr(n) for n in names)]
            x_categories, y_categories = self._grid(summary_table, x_column, y_column)
            for stat in JOINT_STATS:
                lines += ["", f"## Statistic: {stat}"]
                for label, cells in zip(summary_df["group_label"],
                                        summary_df[f"{x_column}_{y_column}_{value_column}_{stat}"]):
                    lines.append(f"### Group: {label!r}")
                    lines.append("," + ",".join(str(x or self.global_group_name)
                                                for x in x_categories))
                    for y in y_categories:
                        row = [str(y or self.global_group_name)]
                        row += [self._format(stat, cells[(x, y)]) if (x, y) in cells else ""
                                for x in x_categories]
                        lines.append(",".join(row))
        return "\n".join(lines) + "\n"

    def _latex_text(self, summary_df, summary_table, target_columns, column_to_properties) -> str:
        esc = tables.escape_latex
        lines = []
        for x_column, y_column, value_column in target_columns:
            names = [column_label(column_to_properties, c) for c in (x_column, y_column,
                                                                      value_column)]
            lines += ["", "", "% Column selection: " + " ".join(repr(n) for n in names)]
            x_categories, y_categories = self._grid(summary_table, x_column, y_column)
            for stat in JOINT_STATS:
                lines += ["", f"% Statistic: {esc(stat)}",
                          r"\begin{tabular}{l" + "c" * len(x_categories) + "}", r"\toprule"]
                column = summary_df[f"{x_column}_{y_column}_{value_column}_{stat}"]
                for label, cells in zip(summary_df["group_label"], column):
                    if len(summary_df) > 1:
                        lines += [r"\midrule",
                                  rf"\multicolumn{{{len(x_categories) + 1}}}{{c}}{{{esc(label)}}} \\",
                                  r"\midrule"]
                    best = self._best_cells(cells, x_categories, y_categories, summary_table)
                    lines.append(" & " + " & ".join(
                        rf"\textbf{{{esc(x or self.global_group_name)}}}" for x in x_categories)
                        + r" \\")
                    lines.append(r"\toprule")
                    for y in y_categories:
                        if y is None:
                            lines.append(r"\midrule")
                        row = [rf"\textbf{{{esc(y or self.global_group_name)}}}"]
                        for x in x_categories:
                            text = self._format(stat, cells[(x, y)]) if (x, y) in cells else ""
                            row.append(rf"\textbf{{{text}}}" if (x, y) in best and text else text)
                        lines.append(" & ".join(row) + r" \\")
                lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _best_cells(cells, x_categories, y_categories, summary_table) -> set:
        best = set()
        for rule, lines in ((summary_table.highlight_best_row,
                             [[(x, y) for y in y_categories] for x in x_categories]),
                            (summary_table.highlight_best_column,
                             [[(x, y) for x in x_categories] for y in y_categories])):
            if rule is None:
                continue
            pick = min if str(rule).lower() == "low" else max
            for line in lines:
                present = [cells[p] for p in line if p in cells]
                if present:
                    value = pick(present)
                    best.update(p for p in line if p in cells and cells[p] == value)
        return best


class ScalarNumericJointSummary(ScalarNumericSummary):
    """Per group, ``<x>_<y>_<value>_<stat>`` dicts keyed by (x category, y category) for
    every statistic; (x, None) is the "All" row, (None, y) the "All" column.

    A ``reference_group`` names an x or y category: its average, per category of the other
    axis, is subtracted from the values first.
    """

    def __init__(self, analyzer, full_df, target_columns, reference_group, group_by,
                 show_global_row=False, show_global_column=False, x_header_list=None,
                 y_header_list=None, highlight_best_row=None, highlight_best_column=None):
        for triple in target_columns:
            if isinstance(triple, str) or len(triple) != 3:
                raise ValueError(f"{type(analyzer).__name__}: target columns must be "
                                 f"(x, y, value) triples of column names, not {triple!r}")
        self.show_global_row = bool(show_global_row)
        self.show_global_column = bool(show_global_column)
        self.highlight_best_row = highlight_best_row
        self.highlight_best_column = highlight_best_column
        self.x_header_list = [str(x) for x in x_header_list] if x_header_list else None
        self.y_header_list = [str(y) for y in y_header_list] if y_header_list else None
        super().__init__(analyzer=analyzer, full_df=full_df, target_columns=target_columns,
                         reference_group=reference_group, group_by=group_by,
                         include_all_group=None)
        self.category_to_values = {}
        for x_column, y_column, value_column in self.target_columns:
            for column, chosen, axis in ((x_column, x_header_list, "x"),
                                         (y_column, y_header_list, "y")):
                found = self.category_to_values.get(column) or sorted(
                    {str(v) for v in full_df[column].dropna().unique()}, key=str.casefold)
                if chosen is not None:
                    if not chosen:
                        raise ValueError(f"{axis}_header_list is empty: name at least one "
                                         f"category of {column!r}")
                    unknown = [h for h in chosen if str(h) not in found]
                    if unknown:
                        raise ValueError(f"{axis}_header_list names {unknown}, which are not "
                                         f"categories of {column!r} ({found})")
                    found = [str(h) for h in chosen]
                self.category_to_values[column] = found
            self.declare_columns((f"{x_column}_{y_column}_{value_column}_{stat}"
                                  for stat in stats.SCALAR_STATS), has_dict_values=True)
        self.move_render_columns_back()

    def scalar_columns(self) -> list:
        return []

    def apply_reference_bias(self) -> None:
        """The reference category is applied per cell, in :meth:`compute_statistics`."""
        self.reference_avg_by_column = None

    def compute_statistics(self, groups) -> dict:
        results = {}
        for x_column, y_column, value_column in self.target_columns:
            dicts = {stat: [] for stat in stats.SCALAR_STATS}
            for label in groups.labels:
                cells = self._cells(groups.frame_of(label), x_column, y_column, value_column)
                for stat in stats.SCALAR_STATS:
                    dicts[stat].append(cells[stat])
            for stat in stats.SCALAR_STATS:
                results[f"{x_column}_{y_column}_{value_column}_{stat}"] = dicts[stat]
        return results

    def _cells(self, frame, x_column, y_column, value_column) -> dict:
        """Return {stat: {(x, y): value}} of one group, "All" row and column included."""
        data = pd.DataFrame({"x": frame[x_column].astype(str), "y": frame[y_column].astype(str),
                             "v": stats.finite_values(frame, [value_column])[:, 0]})
        data = data[frame[x_column].notna().to_numpy() & frame[y_column].notna().to_numpy()
                    & ~np.isnan(data["v"].to_numpy())]
        reference = self.reference_group
        if reference is not None:
            if reference in self.category_to_values[x_column]:
                means = data[data["x"] == reference].groupby("y")["v"].mean()
                data["v"] = data["v"] - data["y"].map(means)
            elif reference in self.category_to_values[y_column]:
                means = data[data["y"] == reference].groupby("x")["v"].mean()
                data["v"] = data["v"] - data["x"].map(means)
            data = data[~np.isnan(data["v"].to_numpy())]
        if self.x_header_list:
            data_x = data[data["x"].isin(self.x_header_list)]
        else:
            data_x = data
        if self.y_header_list:
            data_y = data[data["y"].isin(self.y_header_list)]
        else:
            data_y = data
        cells = {stat: {} for stat in stats.SCALAR_STATS}
        shown = data_x[data_x["y"].isin(self.y_header_list)] if self.y_header_list else data_x
        self._add(cells, shown, ["x", "y"], lambda k: (k[0], k[1]))
        if self.show_global_row:
            self._add(cells, data_y, ["x"], lambda k: (k[0], None))
        if self.show_global_column:
            self._add(cells, data_x, ["y"], lambda k: (None, k[0]))
        if self.show_global_row and self.show_global_column:
            self._add(cells, data, [], lambda k: (None, None))
        return cells

    @staticmethod
    def _add(cells, data, keys, place) -> None:
        if keys:
            grouped = data.groupby(keys, sort=True)
            codes = grouped.ngroup().to_numpy(dtype=np.int64)
            found = [k if isinstance(k, tuple) else (k,) for k in grouped.size().index]
        else:
            codes = np.zeros(len(data), dtype=np.int64)
            found = [()] if len(data) else []
        if not found:
            return
        values = stats.scalar_stats(data[["v"]].to_numpy(dtype=float), codes, len(found), ["v"])
        for stat in stats.SCALAR_STATS:
            for key, value in zip(found, values[f"v_{stat}"]):
                cells[stat][place(key)] = int(value) if stat == "count" else float(value)

    def compute_plot_elements(self, groups, summary_df, column_selection, render_mode):
        x_column, y_column, value_column = column_selection
        analyzer = self.analyzer
        x_categories, y_categories = analyzer.get_filtered_x_y_categories(
            self.category_to_values[x_column], self.category_to_values[y_column],
            self.reference_group)
        if self.show_global_row and len(y_categories) > 1:
            y_categories.append(None)
        if self.show_global_column and len(x_categories) > 1:
            x_categories.append(None)
        result = []
        for averages in summary_df[f"{x_column}_{y_column}_{value_column}_avg"]:
            text = [[analyzer.number_format.format(averages[(x, y)]) if (x, y) in averages
                     else "" for x in x_categories] for y in y_categories]
            result.append([plotdata.Table(
                x_values=[x if x is not None else analyzer.global_group_name
                          for x in x_categories],
                y_values=[y if y is not None else analyzer.global_group_name
                          for y in y_categories],
                cell_text=text, x_label=x_column, y_label=y_column,
                cell_alignment=analyzer.cell_alignment,
                col_header_aligment=analyzer.col_header_alignment,
                row_header_alignment=analyzer.row_header_alignment, edges=analyzer.edges,
                highlight_best_row=self.highlight_best_row,
                highlight_best_column=self.highlight_best_column)])
        return result
