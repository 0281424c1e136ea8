"""Draw one figure from the plot elements of each group, and save it as PDF and PNG.

Each group is drawn in a row of its own, all rows sharing the x axis, or every group in one
axes (``combine_groups``). The figure has the size asked for (``fig_width`` x ``fig_height``
inches; the PNG is 300 dpi, so 1500 x 1200 pixels by default), and matplotlib's constrained
layout keeps labels, legends and colour bars inside it. Figures are built on
:class:`matplotlib.figure.Figure` without pyplot, so nothing global is touched.
"""
from __future__ import annotations

import logging
import math
import os
import re
import tempfile

import numpy as np

from .. import plotdata

logger = logging.getLogger(__name__)

#: Dots per inch of the PNG files (as enb 1.x).
PNG_DPI = 300
GLOBAL_GROUP_NAME = "All"


class Cycle(tuple):
    """A tuple whose integer indices wrap around (enb 1.x's ``CircularList``)."""

    def __getitem__(self, index):
        if isinstance(index, int):
            return tuple.__getitem__(self, index % len(self))
        return tuple.__getitem__(self, index)


marker_cycle = Cycle(["o", "X", "s", "*", "p", "P", "d", "H", "v", "<", ">", "+"])
color_cycle = Cycle([f"C{i}" for i in (0, 1, 2, 3, 6, 7, 9, 8, 5, 4)])
pattern_cycle = Cycle(["//", "\\\\", "OO", "**"])


class FigureError(RuntimeError):
    """Drawing one element of a figure failed; the message names the element and the file."""


def natural_key(name) -> list:
    """Sort key that orders "Block 2" before "Block 10", ignoring case."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
            for part in re.split(r"(\d+)", str(name)) if part]


def sorted_group_names(pds_by_group_name: dict, group_name_order=None) -> list:
    """Return the groups in display order: ``group_name_order`` first (unknown names are
    ignored with a warning), then the rest in natural order, the "All" group last."""
    if group_name_order is None:
        names = sorted(pds_by_group_name, key=natural_key)
        everything = [n for n in names if str(n).lower() == GLOBAL_GROUP_NAME.lower()]
        return [n for n in names if n not in everything] + everything
    names = []
    for name in group_name_order:
        if name in pds_by_group_name and name not in names:
            names.append(name)
        elif name not in pds_by_group_name:
            logger.warning("group_name_order names %r, which is not one of the groups (%s)",
                           name, ", ".join(map(repr, pds_by_group_name)))
    return names + [n for n in pds_by_group_name if n not in names]


def render_plds_by_group(pds_by_group_name, output_plot_path, column_properties=None,
                         global_x_label=None, global_y_label=None, combine_groups=False,
                         color_by_group_name=None, group_name_order=None, fig_width=None,
                         fig_height=None, legend_column_count=None, force_monochrome_group=True,
                         show_grid=None, show_subgrid=None, grid_alpha=0.6, subgrid_alpha=0.4,
                         semilog_y=None, semilog_y_base=10, semilog_y_min_bound=1e-10,
                         group_row_margin=None, x_min=None, x_max=None, y_min=None, y_max=None,
                         horizontal_margin=None, vertical_margin=None,
                         global_y_label_margin=None, y_labels_by_group_name=None,
                         tick_direction="in", x_tick_list=None, x_tick_label_list=None,
                         x_tick_label_angle=0, y_tick_list=None, y_tick_label_list=None,
                         left_y_label=False, extra_plds=(), plot_title=None, title_y=None,
                         show_legend=True, legend_position=None, style_list=("default",)):
    """Draw ``pds_by_group_name`` ({group: [PlottableData]}) and save it to
    ``output_plot_path`` (and, for a .pdf path, the .png beside it); return the paths written.

    The keyword arguments are enb 1.x's: figure size, axis limits and margins (fractions of
    the data range), ticks and their labels, grids, a log y axis, group labels (at the right
    of each row, or at the left with ``left_y_label``), legend, title and matplotlib styles
    (names or files, applied left to right).
    """
    import matplotlib
    import matplotlib.style
    from matplotlib.figure import Figure

    from .styles import style_sequence
    if not pds_by_group_name:
        logger.warning("nothing to draw for %s: no group has plot data", output_plot_path)
        return []
    names = sorted_group_names(pds_by_group_name, group_name_order)
    colors = color_by_group_name or {name: color_cycle[i] for i, name in enumerate(names)}
    labels = dict(y_labels_by_group_name) if y_labels_by_group_name else {n: n for n in names}
    legend_columns = 2 if legend_column_count is None else legend_column_count

    with matplotlib.style.context(style_sequence(style_list), after_reset=False):
        figure = Figure(figsize=(5.0 if fig_width is None else fig_width,
                                 4.0 if fig_height is None else fig_height),
                        layout="constrained")
        rows = 1 if combine_groups else len(names)
        grid = figure.subplots(nrows=rows, ncols=1, sharex=True, squeeze=False)
        axes_by_group = {name: grid[0 if combine_groups else i][0]
                         for i, name in enumerate(names)}
        all_axes = [row[0] for row in grid]
        if combine_groups:
            for i, name in enumerate(names):
                group = pds_by_group_name[name]
                if show_legend and group and (len(names) > 1 or
                                              str(name).lower() != GLOBAL_GROUP_NAME.lower()):
                    group[0].label = labels.get(name, name)
                for element in group:
                    element.marker = marker_cycle[i]
        for i, name in enumerate(names):
            _draw_group(name, pds_by_group_name[name], axes_by_group[name], colors.get(name),
                        force_monochrome_group, output_plot_path)
            if not combine_groups or i == 0:
                for element in extra_plds:
                    element.render(axes=axes_by_group[name])

        axis_settings = dict(
            semilog_y=semilog_y, semilog_y_base=semilog_y_base,
            semilog_y_min_bound=semilog_y_min_bound, x_min=x_min, x_max=x_max, y_min=y_min,
            y_max=y_max, horizontal_margin=horizontal_margin, vertical_margin=vertical_margin,
            x_tick_list=x_tick_list, x_tick_label_list=x_tick_label_list,
            x_tick_label_angle=x_tick_label_angle, y_tick_list=y_tick_list,
            y_tick_label_list=y_tick_label_list, tick_direction=tick_direction,
            show_grid=show_grid, show_subgrid=show_subgrid, grid_alpha=grid_alpha,
            subgrid_alpha=subgrid_alpha)
        _set_axes(all_axes, names, pds_by_group_name, column_properties, combine_groups,
                  labels, left_y_label, axis_settings)
        if global_x_label:
            all_axes[-1].set_xlabel(global_x_label)
        if global_y_label:
            figure.supylabel(global_y_label, fontsize=matplotlib.rcParams["axes.labelsize"])
        if group_row_margin is not None and rows > 1:
            figure.get_layout_engine().set(hspace=float(group_row_margin) / rows)
        legend_on_top = False
        if show_legend:
            for axes in all_axes:
                if any(element.label is not None for name in names
                       if axes_by_group[name] is axes for element in pds_by_group_name[name]):
                    position = legend_position or "title"
                    _fitting_legend(figure, axes, position, legend_columns)
                    legend_on_top = legend_on_top or position == "title"
        if plot_title:
            if legend_on_top and title_y is None:
                figure.suptitle(plot_title)
            else:
                all_axes[0].set_title(plot_title, **({} if title_y is None else {"y": title_y}))
        return _save(figure, output_plot_path)


def _fitting_legend(figure, axes, position, columns):
    """Place the legend with at most ``columns`` columns, fewer if it would be wider than
    the figure (a fixed-size figure cannot grow to make room, as enb 1.x's did)."""
    from matplotlib.backends.backend_agg import RendererAgg
    renderer = RendererAgg(*figure.canvas.get_width_height(), figure.dpi)
    while True:
        legend = plotdata.place_legend(axes, position, max(1, columns))
        if columns <= 1 or legend.get_window_extent(renderer).width <= 0.98 * figure.bbox.width:
            return legend
        legend.remove()
        columns -= 1


def _draw_group(name, elements, axes, group_color, monochrome, output_plot_path):
    for element in elements:
        element.x_label = None
        element.y_label = None
        if monochrome and element.color is None:
            element.color = group_color
        element.extra_kwargs = dict(element.extra_kwargs or {})
        element.extra_kwargs["color"] = element.color
        try:
            element.render(axes=axes)
        except Exception as error:
            raise FigureError(f"drawing {element!r} of group {name!r} into {output_plot_path} "
                              f"failed: {type(error).__name__}: {error}") from error


def _numeric_range(values) -> tuple[float, float] | None:
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return None
    array = array[np.isfinite(array)]
    return (float(array.min()), float(array.max())) if array.size else None


def _data_extrema(pds_by_group_name, column_properties):
    """Return (x_min, x_max, y_min, y_max) over the elements' values (None where unknown),
    widened to integers when a range spans more than 1."""
    bounds = []
    for axis in ("x_values", "y_values"):
        found = [_numeric_range(getattr(e, axis)) for group in pds_by_group_name.values()
                 for e in group if isinstance(e, plotdata.PlottableData2D)]
        found = [f for f in found if f is not None]
        if not found:
            bounds.append([None, None])
            continue
        low, high = min(f[0] for f in found), max(f[1] for f in found)
        if high - low > 1:
            low, high = math.floor(low), math.ceil(high)
        bounds.append([low, high])
    if column_properties is not None:
        if getattr(column_properties, "plot_min", None) is not None:
            bounds[0][0] = column_properties.plot_min
        if getattr(column_properties, "plot_max", None) is not None:
            bounds[0][1] = column_properties.plot_max
    return bounds[0][0], bounds[0][1], bounds[1][0], bounds[1][1]


def _usable(low, high, log=False) -> bool:
    if low is None or high is None:
        return False
    try:
        low, high = float(low), float(high)
    except (TypeError, ValueError):
        return False
    return (math.isfinite(low) and math.isfinite(high) and low != high
            and (not log or (low > 0 and high > 0)))


def _set_axes(all_axes, names, pds_by_group_name, column_properties, combine_groups, labels,
              left_y_label, settings):
    """Ticks, grids, scales, limits and the group labels of every row."""
    from matplotlib import ticker
    s = settings
    props = column_properties
    log_y = bool(s["semilog_y"] or (props is not None and getattr(props, "semilog_y", False)))
    y_min = s["y_min"] if s["y_min"] is not None else getattr(props, "hist_min", None)
    y_max = s["y_max"] if s["y_max"] is not None else getattr(props, "hist_max", None)
    if log_y:
        y_min = max(s["semilog_y_min_bound"], y_min if y_min is not None else 0)
    data_x_min, data_x_max, data_y_min, data_y_max = _data_extrema(pds_by_group_name, props)
    x_low = data_x_min if s["x_min"] is None else s["x_min"]
    x_high = data_x_max if s["x_max"] is None else s["x_max"]
    y_low = data_y_min if y_min is None else y_min
    y_high = data_y_max if y_max is None else y_max
    x_margin = s["horizontal_margin"] or 0
    y_margin = s["vertical_margin"] or 0
    if _usable(x_low, x_high):
        pad = x_margin * (x_high - x_low)
        x_low, x_high = x_low - pad, x_high + pad
    if _usable(y_low, y_high):
        pad = y_margin * (y_high - y_low)
        y_low, y_high = y_low - pad, y_high + pad

    x_ticks, x_tick_labels = s["x_tick_list"], s["x_tick_label_list"]
    if props is not None and getattr(props, "hist_label_dict", None):
        x_ticks = sorted(props.hist_label_dict)
        x_tick_labels = [props.hist_label_dict[x] for x in x_ticks]
    y_ticks, y_tick_labels = s["y_tick_list"], s["y_tick_label_list"]
    base = getattr(props, "semilog_y_base", None) or s["semilog_y_base"]
    for row, axes in enumerate(all_axes):
        if log_y:
            axes.set_yscale("log", base=base)
            group_count = len(names)
            numticks = 11 if combine_groups or group_count <= 2 else \
                6 if group_count <= 5 else 4 if group_count <= 10 else 3
            axes.yaxis.set_major_locator(ticker.LogLocator(base=base, numticks=numticks))
            axes.grid(True, "major", axis="y", alpha=0.2)
        else:
            axes.yaxis.set_major_locator(ticker.MaxNLocator(nbins="auto"))
            axes.yaxis.set_minor_locator(ticker.AutoMinorLocator())
        if not combine_groups:
            name = names[row]
            text = labels.get(name, name)
            if left_y_label:
                axes.set_ylabel(text)
            else:
                axes.yaxis.set_label_position("right")
                axes.set_ylabel(text, rotation=0, ha="left", va="center")
        if x_ticks is not None:
            axes.set_xticks(x_ticks, labels=x_tick_labels)
        if y_ticks is not None:
            axes.set_yticks(y_ticks, labels=y_tick_labels)
        axes.tick_params(axis="x", labelrotation=s["x_tick_label_angle"] or 0)
        subgrid_axis = None
        if x_tick_labels is None or y_tick_labels is None:
            axes.minorticks_on()
            subgrid_axis = "both"
            if x_tick_labels is not None:
                axes.tick_params(which="minor", bottom=False)
                subgrid_axis = "y"
            elif y_tick_labels is not None:
                axes.tick_params(which="minor", left=False)
                subgrid_axis = "x"
        axes.tick_params(which="both", direction=s["tick_direction"] or "in")
        if s["show_grid"]:
            axes.grid(True, which="major", axis="both", alpha=s["grid_alpha"])
        if s["show_subgrid"] and subgrid_axis:
            axes.grid(True, which="minor", axis=subgrid_axis, alpha=s["subgrid_alpha"])
        if _usable(x_low, x_high):
            axes.set_xlim(x_low, x_high)
        if _usable(y_low, y_high, log=log_y):
            axes.set_ylim(y_low, y_high)


def _save(figure, output_plot_path) -> list[str]:
    """Save the figure (and its 300-dpi PNG for a .pdf path) through temporary files, so a
    reader never sees half a file."""
    folder = os.path.dirname(os.path.abspath(output_plot_path))
    os.makedirs(folder, exist_ok=True)
    targets = [(output_plot_path, {})]
    if output_plot_path.lower().endswith(".pdf"):
        targets.append((output_plot_path[:-4] + ".png", {"dpi": PNG_DPI, "transparent": True}))
    if any(axes.get_aspect() != "auto" for axes in figure.axes):
        # With fixed-aspect axes (images) one pass of the constrained layout leaves tick
        # labels outside the figure; a second pass, the one saving the first file, settles it.
        figure.draw_without_rendering()
    written = []
    for number, (path, extra) in enumerate(targets):
        if number == 1:
            # Same size, same layout: keep the positions found for the first file instead of
            # solving the constrained layout again (a third of the drawing time).
            figure.set_layout_engine("none")
        extension = os.path.splitext(path)[1]
        handle, temporary = tempfile.mkstemp(dir=folder, prefix=".enb-", suffix=extension)
        os.close(handle)
        try:
            figure.savefig(temporary, format=extension.lstrip(".").lower() or None, **extra)
            os.replace(temporary, path)
        except BaseException:
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise
        written.append(path)
    logger.debug("saved %s", ", ".join(written))
    return written
