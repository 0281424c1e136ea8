"""Analyzer: summarise a DataFrame per group, render its figures, write its tables.

``Analyzer.get_df(full_df, target_columns, ...)`` (enb 1.x's signature) does, in order:

1. normalise the arguments (target columns, render modes, folders, column properties);
2. build the summary (:meth:`build_summary_atable`) and compute it, vectorised;
3. describe one figure per render mode and target column
   (:meth:`update_render_kwargs_one_case`) and render them all through the executor;
4. write the summary tables (CSV and LaTeX) under ``analysis_dir`` and the run's
   ``index.html`` there;
5. return the summary DataFrame, or raise :class:`enb.render.RenderError` naming the
   figures that failed (all the others are written).
"""
from __future__ import annotations

import collections.abc
import difflib
import importlib
import inspect
import logging
import numbers
import os
import sys

from ..atable import ATable, ColumnProperties, KEY_COLUMN, TIMESTAMP_COLUMNS, clean_column_name
from . import naming, tables

logger = logging.getLogger(__name__)


class PlotExtraMissing(ImportError):
    """matplotlib or scipy is not installed: ``pip install 'enb[plot]'``."""


def require_plot_extra() -> None:
    """Raise :class:`PlotExtraMissing` (one line) unless matplotlib and scipy import."""
    missing = []
    for name in ("matplotlib", "scipy"):
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        raise PlotExtraMissing(f"enb.aanalysis needs {' and '.join(missing)}, which {verb} not "
                               f"installed: pip install 'enb[plot]'")


def _script_name() -> str:
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return script[:-3] if script.endswith(".py") else script


def plot_dir() -> str:
    """Return the folder figures go to by default: ``options.plot_dir``, else
    ``<project>/plots/<script name>`` as in enb 1.x."""
    from ..config import options
    return options.plot_dir or os.path.join(options.resolved_project_root(), "plots",
                                            _script_name())


def analysis_dir() -> str:
    """Return the folder of the summary tables: ``options.analysis_dir``, else
    ``<project>/analysis/<script name>`` as in enb 1.x."""
    from ..config import options
    return options.analysis_dir or os.path.join(options.resolved_project_root(), "analysis",
                                                _script_name())


def _render_parameters() -> set:
    from ..render.figure import render_plds_by_group
    return set(inspect.signature(render_plds_by_group).parameters) - {"output_plot_path"}


class Analyzer(ATable):
    """Base class of the analyzers (enb 1.x's attributes, with their effective defaults).

    Scripts set these class or instance attributes to tune every figure; most can also be
    given to :meth:`get_df` for one call.
    """
    valid_render_modes: collections.abc.Collection = ()
    selected_render_modes: collections.abc.Collection = ()
    #: Draw all groups in one axes instead of one row per group.
    combine_groups = False
    #: Matplotlib styles (names or matplotlibrc paths), applied left to right.
    style_list = None
    fig_width = 5.0
    fig_height = 4.0
    #: Margins added to the data range, as fractions of it.
    horizontal_margin = 0
    vertical_margin = 0
    #: Space between group rows (None: as the layout needs).
    group_row_margin = None
    global_y_label_margin = 15
    show_grid = False
    show_subgrid = False
    grid_alpha = 0.6
    subgrid_alpha = 0.4
    tick_direction = "in"
    #: Show +-1 standard deviation bars around averages, where the plot has them.
    show_x_std = False
    show_y_std = False
    show_legend = True
    legend_column_count = 2
    #: "title" (above the plot) or a matplotlib legend ``loc``.
    legend_position = "title"
    #: Use the same axis scale in every group row.
    common_group_scale = True
    plot_title = None
    title_y = None
    #: Show each group's size next to its name.
    show_count = True
    #: Add a group of all rows, named :attr:`global_group_name`.
    show_global = False
    global_group_name = "All"
    #: Draw the reference group too when one is given.
    show_reference_group = True
    main_marker_size = 4
    secondary_marker_size = 2
    secondary_line_width = 1
    main_alpha = 0.5
    main_line_width = 2
    secondary_alpha = 0.3
    semilog_y_min_bound = 1e-5
    #: Decimals of the numbers in the LaTeX tables.
    latex_decimal_count = 3

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._declared_attributes = _public_attributes(cls)

    def __init__(self, csv_support_path=None, column_to_properties=None,
                 progress_report_period=None):
        apply_ini_sections(type(self))
        super().__init__(csv_support_path=csv_support_path,
                         column_to_properties=column_to_properties,
                         progress_report_period=progress_report_period)
        self.valid_render_modes = list(self.valid_render_modes)
        self.selected_render_modes = list(self.selected_render_modes or self.valid_render_modes)
        self._check_modes(self.selected_render_modes)

    # -- helpers -------------------------------------------------------------------------------
    def _check_modes(self, modes) -> None:
        unknown = [m for m in modes if m not in self.valid_render_modes]
        if unknown:
            raise ValueError(f"{type(self).__name__}: render mode(s) {unknown} are not among "
                             f"its modes {list(self.valid_render_modes)}")

    def ordered_modes(self, modes) -> list:
        """Return ``modes`` in the order the analyzer declares them."""
        if isinstance(modes, str):
            modes = [modes]
        order = list(type(self).valid_render_modes) or list(self.valid_render_modes)
        return sorted(dict.fromkeys(modes), key=lambda m: (order.index(m) if m in order
                                                           else len(order), str(m)))

    def get_render_column_name(self, column_selection, selected_render_mode) -> str:
        """Return the summary column that holds one figure's plot elements (1.x name)."""
        return f"{column_selection}_render-{selected_render_mode}"

    def get_output_pdf_path(self, column_selection, group_by, reference_group,
                            output_plot_dir, render_mode) -> str:
        """Return the PDF path of one figure (see :mod:`enb.aanalysis.naming`)."""
        return naming.output_path(output_plot_dir, type(self).__name__, column_selection,
                                  render_mode, group_by, reference_group, ".pdf")

    # -- get_df --------------------------------------------------------------------------------
    def get_df(self, full_df, target_columns, selected_render_modes=None, output_plot_dir=None,
               group_by=None, reference_group=None, column_to_properties=None, show_global=None,
               show_count=None, **render_kwargs):
        """Summarise ``full_df`` per group, render the figures, write the tables; return the
        summary DataFrame (see the module's docstring for the steps).

        ``target_columns``: the columns to analyse (their format depends on the analyzer;
        None: every numeric column). ``selected_render_modes``: a mode or modes (default: the
        analyzer's selected modes). ``group_by``: see :mod:`enb.aanalysis.grouping`.
        ``reference_group``: a group made the baseline. ``column_to_properties``: labels and
        plot limits per column. ``show_global``/``show_count``: add an "All" group / show
        group sizes. Other keyword arguments go to :func:`enb.render.render_plds_by_group`.
        """
        require_plot_extra()
        from ..render import FigureSpec, RenderError, portable, render_figures
        from . import index_page
        from ..config import options
        show_count = self.show_count if show_count is None else show_count
        show_global = self.show_global if show_global is None else show_global
        known = _render_parameters() | self.extra_get_df_keywords()
        unknown = sorted(set(render_kwargs) - known)
        if unknown:
            hints = [f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name)
                     for name in unknown
                     for close in [difflib.get_close_matches(name, sorted(known), n=1)]]
            raise TypeError(f"{type(self).__name__}.get_df: unknown argument {', '.join(hints)}; "
                            f"it takes the arguments of enb.render.render_plds_by_group")
        modes = self._resolve_modes(selected_render_modes)
        target_columns = self._resolve_targets(full_df, target_columns)
        output_plot_dir = plot_dir() if output_plot_dir is None else output_plot_dir
        column_to_properties = self._resolve_properties(full_df, column_to_properties)
        saved_modes = self.selected_render_modes
        self.selected_render_modes = modes
        self.analysis_column_to_properties = column_to_properties
        try:
            logger.info("analysing %d target%s with %s", len(target_columns),
                        "" if len(target_columns) == 1 else "s", type(self).__name__)
            summary_table = self.build_summary_atable(
                full_df=full_df, target_columns=target_columns, reference_group=reference_group,
                group_by=group_by, include_all_group=show_global, **render_kwargs)
            summary_df = summary_table.get_df()
            specs = []
            for mode in modes:
                for selection in target_columns:
                    kwargs = self.update_render_kwargs_one_case(
                        column_selection=selection, reference_group=reference_group,
                        render_mode=mode, summary_df=summary_df,
                        output_plot_dir=output_plot_dir, group_by=group_by,
                        column_to_properties=column_to_properties, show_global=show_global,
                        show_count=show_count, **dict(render_kwargs))
                    if reference_group is not None:
                        self.update_render_kwargs_reference_group(kwargs, reference_group)
                    path = kwargs.pop("output_plot_path")
                    for key in set(kwargs) - _render_parameters():
                        del kwargs[key]
                    kwargs["column_properties"] = _shippable(kwargs.get("column_properties"))
                    specs.append(FigureSpec(portable(path, options.resolved_project_root()),
                                            kwargs))
            logger.info("rendering %d figures with %s", len(specs), type(self).__name__)
            outcomes = render_figures(specs, raise_on_failure=False)
            #: What rendering did, figure by figure (files written or error, and the node).
            self.last_render_outcomes = outcomes
            table_paths = self.save_analysis_tables(
                group_by=group_by, reference_group=reference_group,
                selected_render_modes=modes, summary_df=summary_df,
                summary_table=summary_table, target_columns=target_columns,
                column_to_properties=column_to_properties, show_count=show_count,
                **render_kwargs) or []
            index_page.record(self, target_columns, group_by, reference_group, specs, outcomes,
                              table_paths, analysis_dir())
        finally:
            self.selected_render_modes = saved_modes
            self.analysis_column_to_properties = None
        failures = [o for o in outcomes if o.error]
        if failures:
            raise RenderError(failures, len(outcomes))
        return summary_df

    def extra_get_df_keywords(self) -> set:
        """Keyword arguments of get_df that this analyzer takes besides the rendering ones."""
        return set()

    def _resolve_modes(self, selected_render_modes) -> list:
        if isinstance(selected_render_modes, str):
            selected_render_modes = [selected_render_modes]
        modes = list(selected_render_modes or self.selected_render_modes or
                     self.valid_render_modes)
        self._check_modes(modes)
        return self.ordered_modes(modes)

    @staticmethod
    def _resolve_targets(full_df, target_columns) -> list:
        if target_columns is None:
            if len(full_df) == 0:
                raise ValueError("no target_columns given and the DataFrame has no rows to "
                                 "guess numeric columns from")
            first = full_df.iloc[0]
            target_columns = [c for c in full_df.columns
                              if isinstance(first[c], numbers.Number)
                              and not isinstance(first[c], bool)]
            if not target_columns:
                raise ValueError(f"no numeric column in {list(full_df.columns)}, and no "
                                 f"target_columns given")
        elif isinstance(target_columns, str):
            target_columns = [target_columns]
        return list(target_columns)

    @staticmethod
    def _resolve_properties(full_df, column_to_properties) -> dict:
        # Display copies, without the column functions: an experiment's properties (enb 1.x
        # scripts pass joined_column_to_properties) hold wrappers that carry their method's
        # name, which pickle refuses when the figures are rendered in other processes.
        resolved = {name: _display_copy(cp) for name, cp in (column_to_properties or {}).items()}
        for column in full_df.columns:
            if column not in resolved:
                resolved[column] = ColumnProperties(name=column)
        return resolved

    # -- summaries and figures (subclasses) -----------------------------------------------
    def build_summary_atable(self, full_df, target_columns, reference_group, group_by,
                             include_all_group, **render_kwargs):
        """Return the :class:`AnalyzerSummary` of this analysis (not yet computed)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build_summary_atable")

    def update_render_kwargs_one_case(self, column_selection, reference_group, render_mode,
                                      summary_df, output_plot_dir, group_by,
                                      column_to_properties, show_global, show_count,
                                      **column_kwargs) -> dict:
        """Return the arguments of one figure: its path, each group's plot elements, labels
        and the analyzer's drawing settings (those given to get_df win)."""
        column_kwargs["output_plot_path"] = self.get_output_pdf_path(
            column_selection=column_selection, group_by=group_by,
            reference_group=reference_group, output_plot_dir=output_plot_dir,
            render_mode=render_mode)
        render_column = self.get_render_column_name(column_selection, render_mode)
        column_kwargs["pds_by_group_name"] = {
            label: elements
            for label, elements in sorted(summary_df[["group_label", render_column]].values,
                                          key=lambda pair: pair[0])
            if self.show_reference_group or label != reference_group}
        if "column_properties" not in column_kwargs:
            try:
                column_kwargs["column_properties"] = column_to_properties[column_selection]
            except (KeyError, TypeError):
                column_kwargs["column_properties"] = ColumnProperties(name=str(column_selection))
        if column_kwargs.get("y_labels_by_group_name") is None:
            column_kwargs["y_labels_by_group_name"] = {
                label: f"{label} ({size})" if show_count else f"{label}"
                for label, size in summary_df[["group_label", "group_size"]].values}
        for attribute in ("plot_title", "title_y", "combine_groups", "show_legend",
                          "legend_position", "legend_column_count", "global_y_label_margin",
                          "show_grid", "show_subgrid", "grid_alpha", "subgrid_alpha",
                          "tick_direction", "fig_width", "fig_height", "horizontal_margin",
                          "vertical_margin", "group_row_margin", "semilog_y_min_bound"):
            column_kwargs.setdefault(attribute, getattr(self, attribute))
        if self.style_list is not None:
            column_kwargs.setdefault("style_list", self.style_list)
        if "show_reference_group" in column_kwargs:
            self.show_reference_group = column_kwargs.pop("show_reference_group")
        return column_kwargs

    def update_render_kwargs_reference_group(self, column_kwargs, reference_group) -> None:
        """Leave the reference group out of the figure unless show_reference_group."""
        if not self.show_reference_group:
            column_kwargs["pds_by_group_name"] = {
                k: v for k, v in column_kwargs["pds_by_group_name"].items()
                if k != reference_group}
        if column_kwargs.get("group_name_order"):
            column_kwargs["group_name_order"] = [n for n in column_kwargs["group_name_order"]
                                                 if n in column_kwargs["pds_by_group_name"]]

    def adjust_common_row_axes(self, column_kwargs, column_selection, render_mode,
                               summary_df) -> None:
        """Give every group row the y range of all groups' plot elements."""
        y_low, y_high = float("inf"), float("-inf")
        for elements in summary_df[self.get_render_column_name(column_selection, render_mode)]:
            for element in elements:
                values = [v for v in getattr(element, "y_values", ()) if _finite(v)]
                if values:
                    y_low, y_high = min(y_low, min(values)), max(y_high, max(values))
        column_kwargs.setdefault("y_min", y_low)
        column_kwargs.setdefault("y_max", y_high)

    # -- tables --------------------------------------------------------------------------------
    def summary_table_columns(self, summary_df, summary_table) -> list:
        """Return the summary columns written to the CSV file (no plot elements, no keys)."""
        hidden = set(summary_table.render_column_names) | set(TIMESTAMP_COLUMNS) | {KEY_COLUMN}
        return [c for c in summary_df.columns if c not in hidden]

    def save_analysis_tables(self, group_by, reference_group, selected_render_modes, summary_df,
                             summary_table, target_columns, column_to_properties,
                             **render_kwargs) -> list:
        """Write ``<analysis_dir>/<name>.csv`` (every statistic) and ``.tex`` (group, size
        when show_count, averages); return the paths written."""
        folder = analysis_dir()
        modes = naming.modes_text(selected_render_modes, type(self).valid_render_modes)
        csv_path = naming.output_path(folder, type(self).__name__, target_columns, modes,
                                      group_by, reference_group, ".csv")
        columns = self.summary_table_columns(summary_df, summary_table)
        renames = {"group_label": "Group"}
        for column in columns:
            if column.endswith("_avg") and column[:-4] in column_to_properties:
                renames[column] = column_to_properties[column[:-4]].label
        table = summary_df[columns].rename(columns=renames)
        tables.write_csv(table, csv_path)
        show_count = render_kwargs.get("show_count") is True
        latex_columns = [c for c in columns if c == "group_label" or c.endswith("_avg")
                         or (show_count and c == "group_size")]
        tex_path = csv_path[:-4] + ".tex"
        tables.write_latex(summary_df[latex_columns].rename(columns=renames), tex_path,
                           decimals=self.latex_decimal_count)
        return [csv_path, tex_path]


def _shippable(properties):
    """Return a copy of a ColumnProperties without its column function: a figure needs only
    its labels and limits, and the function (a method of the script's table) may not pickle."""
    if properties is None or getattr(properties, "fun", None) is None:
        return properties
    copy = ColumnProperties.__new__(type(properties))
    copy.__dict__.update(properties.__dict__)
    copy.fun = None
    return copy


def _public_attributes(cls) -> dict:
    return {k: v for k, v in vars(cls).items()
            if not k.startswith("_") and not callable(v) and not isinstance(v, (property,
                                                                                classmethod,
                                                                                staticmethod))}


Analyzer._declared_attributes = _public_attributes(Analyzer)
_CONFIGURED: set = set()


def apply_ini_sections(cls) -> None:
    """Set ``cls``'s attributes (and its bases') from their ``.ini`` sections, once per class.

    As in enb 1.x, ``[enb.aanalysis.ScalarNumericAnalyzer]`` (or ``[module.Class]`` for a
    script's own analyzer) in enb's .ini files sets that class's attributes. It happens when
    the class is first used rather than at import; an attribute a script already changed in
    code keeps the script's value.
    """
    from ..config.aini import ini
    from ..misc import class_to_fqn
    for klass in reversed(cls.__mro__):
        if klass in _CONFIGURED or not (isinstance(klass, type) and issubclass(klass, Analyzer)):
            continue
        _CONFIGURED.add(klass)
        section = class_to_fqn(klass)
        parser = ini.config_parser
        if not parser.has_section(section):
            continue
        for key in parser.options(section):
            if key in parser.defaults() and key not in parser._sections.get(section, {}):
                continue
            if not hasattr(klass, key):
                logger.warning("[%s] %s in the .ini files: %s has no such attribute; ignored",
                               section, key, klass.__name__)
                continue
            declared = next((vars(k)["_declared_attributes"][key] for k in klass.__mro__
                             if key in vars(k).get("_declared_attributes", {})), None)
            if getattr(klass, key) is declared:
                setattr(klass, key, ini.get_key(section, key))


def _finite(value) -> bool:
    try:
        return value == value and abs(value) != float("inf")
    except TypeError:
        return False


def _display_copy(properties):
    """Return ``properties`` (a ColumnProperties) without its column function."""
    if getattr(properties, "fun", None) is None:
        return properties
    copy = ColumnProperties.__new__(type(properties))
    copy.__dict__.update(properties.__dict__)
    copy.fun = None
    return copy


def column_label(column_to_properties, column) -> str:
    """Return the label of ``column`` (its ColumnProperties' or a cleaned name)."""
    try:
        return column_to_properties[column].label
    except (KeyError, TypeError, AttributeError):
        return clean_column_name(column)
