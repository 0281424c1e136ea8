"""Plot elements: the data of one figure, drawn later by :mod:`enb.render` (enb 1.x names).

An analyzer describes each group of a figure as a list of these elements (bars, markers,
lines, error bars, boxes, 2D histograms, tables). They are plain data until
:meth:`PlottableData.render` draws them on a matplotlib ``Axes``: building them needs neither
matplotlib nor scipy, so the summaries are computed without them, and only the figure's
elements travel to the worker that renders it.
"""
from __future__ import annotations

import collections
import math
import os

import numpy as np

#: Folder of the matplotlib styles that enb adds to matplotlib's own (by file name).
STYLE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "render", "mpl_styles")


class PlottableData:
    """One element of a figure; subclasses draw themselves on an ``Axes``."""
    alpha = 0.75
    legend_column_count = 1
    color = None
    marker = None
    #: "title": above the plot, centred; otherwise a ``loc`` value of matplotlib's legend().
    legend_position = "title"

    def __init__(self, data=None, axis_labels=None, label=None, extra_kwargs=None, alpha=None,
                 legend_column_count=None, legend_position=None, marker=None, color=None,
                 marker_size=None):
        self.data = data
        self.axis_labels = axis_labels
        self.label = label
        self.extra_kwargs = dict(extra_kwargs) if extra_kwargs is not None else {}
        self.alpha = self.alpha if alpha is None else alpha
        self.legend_column_count = (self.legend_column_count if legend_column_count is None
                                    else legend_column_count)
        self.legend_position = self.legend_position if legend_position is None \
            else legend_position
        self.marker = marker
        self.marker_size = marker_size
        self.color = self.color if color is None else color

    def render(self, axes=None):
        """Draw this element on ``axes`` (a matplotlib Axes)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement render()")

    def render_axis_labels(self, axes=None):
        """Set this element's axis labels on ``axes``, if it has any."""

    def render_legend(self, axes=None):
        """Draw the legend of ``axes`` where :attr:`legend_position` says."""
        place_legend(axes, self.legend_position, self.legend_column_count)

    def __repr__(self):
        return f"{type(self).__name__}(color={self.color!r})"


def place_legend(axes, position, column_count):
    """Draw the legend of ``axes``: above it ("title") or at a matplotlib ``loc``."""
    if position == "title":
        legend = axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1), ncol=column_count,
                             edgecolor=(0, 0, 0, 0.2))
        face = (1, 1, 1, 0)
    else:
        legend = axes.legend(loc=position or "best", ncol=column_count,
                             edgecolor=(0, 0, 0, 0.2))
        face = (1, 1, 1, 1)
    legend.get_frame().set_alpha(None)
    legend.get_frame().set_facecolor(face)
    return legend


class PlottableData2D(PlottableData):
    """An element placed by x and y values."""

    def __init__(self, x_values, y_values, x_label=None, y_label=None, label=None,
                 extra_kwargs=None, remove_duplicates=False, alpha=None,
                 legend_column_count=None, marker=None, color=None, marker_size=None):
        if len(x_values) != len(y_values):
            raise ValueError(f"{type(self).__name__}: {len(x_values)} x values but "
                             f"{len(y_values)} y values")
        if remove_duplicates:
            pairs = list(collections.OrderedDict.fromkeys(zip(x_values, y_values)))
            x_values = [x for x, _ in pairs]
            y_values = [y for _, y in pairs]
        super().__init__(data=(x_values, y_values), axis_labels=(x_label, y_label), label=label,
                         extra_kwargs=extra_kwargs, alpha=alpha,
                         legend_column_count=legend_column_count, marker=marker, color=color,
                         marker_size=marker_size)
        self.x_values = x_values
        self.y_values = y_values
        self.x_label = x_label
        self.y_label = y_label

    def render_axis_labels(self, axes=None):
        if self.x_label is not None:
            axes.set_xlabel(self.x_label)
        if self.y_label is not None:
            axes.set_ylabel(self.y_label)

    def diff(self, other, ylabel_suffix="_difference"):
        """Return an element with the same x values and this one's y minus ``other``'s."""
        if list(self.x_values) != list(other.x_values):
            raise ValueError("diff() needs both elements to have the same x values")
        return PlottableData2D(
            x_values=self.x_values,
            y_values=[mine - theirs for mine, theirs in zip(self.y_values, other.y_values)],
            x_label=self.x_label, y_label=f"{self.y_label}{ylabel_suffix}",
            legend_column_count=self.legend_column_count)

    def shift_x(self, constant):
        """Add ``constant`` to every x value."""
        self.x_values = [x + constant for x in self.x_values]

    def shift_y(self, constant):
        """Add ``constant`` to every y value."""
        self.y_values = [y + constant for y in self.y_values]

    def _drawing_kwargs(self):
        """Return extra_kwargs without the keys this element sets itself."""
        return {k: v for k, v in self.extra_kwargs.items() if k not in ("s", "ms")}


class LineData(PlottableData2D):
    """Straight lines through the (x, y) points, with a marker at each."""

    def __init__(self, marker="o", marker_size=5, line_width=1.5, **kwargs):
        super().__init__(marker=marker, marker_size=marker_size, **kwargs)
        self.line_width = line_width

    def render(self, axes=None):
        marker_size = self.extra_kwargs.get("ms", self.marker_size)
        axes.plot(self.x_values, self.y_values, label=self.label, alpha=self.alpha,
                  marker=self.marker, ms=marker_size, linewidth=self.line_width,
                  **self._drawing_kwargs())
        self.render_axis_labels(axes)


class ScatterData(PlottableData2D):
    """A marker at each (x, y) point."""

    def __init__(self, marker="o", alpha=0.5, marker_size=3, **kwargs):
        super().__init__(marker=marker, alpha=alpha, marker_size=marker_size, **kwargs)

    def render(self, axes=None):
        axes.scatter(self.x_values, self.y_values, label=self.label, alpha=self.alpha,
                     marker=self.marker, s=self.marker_size, **self._drawing_kwargs())
        self.render_axis_labels(axes)


class BarData(PlottableData2D):
    """Vertical bars at the x positions, y high (or horizontal ones, ``vertical=False``)."""
    pattern = None
    vertical = True

    def __init__(self, pattern=None, vertical=True, **kwargs):
        super().__init__(**kwargs)
        self.pattern = pattern
        self.vertical = vertical

    def render(self, axes=None):
        from matplotlib.colors import to_rgba
        draw = axes.bar if self.vertical else axes.barh
        draw(self.x_values, self.y_values, label=self.label,
             alpha=self.alpha * 0.75 if self.pattern else self.alpha, hatch=self.pattern,
             edgecolor=to_rgba(self.color, 0.9) if self.color else None,
             **self._drawing_kwargs())
        self.render_axis_labels(axes)

    def shift_y(self, constant):
        side = "bottom" if self.vertical else "left"
        self.extra_kwargs[side] = self.extra_kwargs.get(side, 0) + constant


class StepData(PlottableData2D):
    """Horizontal steps through the (x, y) points."""
    where = "post"

    def render(self, axes=None):
        axes.step(self.x_values, self.y_values, label=self.label, alpha=self.alpha,
                  where=self.where, **self._drawing_kwargs())
        self.render_axis_labels(axes)


class ErrorLines(PlottableData2D):
    """Error bars centred at the (x, y) points: ``err_neg_values`` below, ``err_pos_values``
    above (to the left and right with ``vertical=False``). NaN lengths count as 0."""
    cap_size = 2
    line_width = 1

    def __init__(self, x_values, y_values, err_neg_values, err_pos_values, vertical=False,
                 alpha=0.5, color=None, marker_size=1, cap_size=2, line_width=1, **kwargs):
        super().__init__(x_values=x_values, y_values=y_values, alpha=alpha,
                         marker_size=marker_size, color=color, **kwargs)
        self.err_neg = [0 if _is_nan(v) else v for v in err_neg_values]
        self.err_pos = [0 if _is_nan(v) else v for v in err_pos_values]
        if not len(self.err_neg) == len(self.err_pos) == len(self.x_values):
            raise ValueError(f"ErrorLines: {len(self.x_values)} points but "
                             f"{len(self.err_neg)}/{len(self.err_pos)} error lengths")
        self.cap_size = self.cap_size if cap_size is None else cap_size
        self.line_width = self.line_width if line_width is None else line_width
        self.vertical = vertical

    def render(self, axes=None):
        errors = np.array([self.err_neg, self.err_pos], dtype=float)
        direction = {"yerr" if self.vertical else "xerr": errors}
        axes.errorbar(self.x_values, self.y_values, fmt="-o", capsize=self.cap_size,
                      capthick=0.5, lw=0, elinewidth=self.line_width, ms=self.marker_size,
                      alpha=self.alpha, **direction, **self._drawing_kwargs())


def _is_nan(value) -> bool:
    try:
        return math.isnan(value)
    except TypeError:
        return False


class Rectangle(PlottableData2D):
    """The outline of a rectangle centred at the single (x, y) point."""
    alpha = 0.5

    def __init__(self, x_values, y_values, width, height, angle_degrees=0, fill=False,
                 line_width=1, **kwargs):
        super().__init__(x_values=x_values, y_values=y_values, **kwargs)
        if width < 0 or height < 0 or line_width < 0:
            raise ValueError(f"Rectangle: negative width ({width}), height ({height}) or "
                             f"line width ({line_width})")
        self.width = width
        self.height = height
        self.angle_degrees = angle_degrees
        self.fill = fill
        self.line_width = line_width

    def render(self, axes=None):
        from matplotlib.patches import Rectangle as RectanglePatch
        (x,), (y,) = self.x_values, self.y_values
        axes.add_patch(RectanglePatch((x - self.width / 2, y - self.height / 2),
                                      width=self.width, height=self.height,
                                      angle=self.angle_degrees, fill=self.fill,
                                      color=self.color, alpha=self.alpha,
                                      linewidth=self.line_width))


class LineSegment(PlottableData2D):
    """A vertical (or horizontal) segment ``length`` long, centred at the single (x, y)."""
    alpha = 0.5

    def __init__(self, x_values, y_values, length, vertical=True, line_width=1, **kwargs):
        super().__init__(x_values=x_values, y_values=y_values, **kwargs)
        if length < 0 or line_width < 0:
            raise ValueError(f"LineSegment: negative length ({length}) or line width "
                             f"({line_width})")
        self.length = length
        self.line_width = line_width
        self.vertical = vertical

    @property
    def center(self):
        """The point the segment goes through, at its middle."""
        return self.x_values[0], self.y_values[0]

    def render(self, axes=None):
        x, y = self.center
        half = self.length / 2
        xs, ys = ([x, x], [y - half, y + half]) if self.vertical else \
            ([x - half, x + half], [y, y])
        axes.plot(xs, ys, color=self.color, alpha=self.alpha, linewidth=self.line_width)


class HorizontalBand(PlottableData2D):
    """A band around the line through the (x, y) points, fading out towards its edges
    (``pos_height_values`` above, ``neg_height_values`` below each point)."""
    alpha = 0.5
    degradation_band_count = 25
    show_bounding_lines = False

    def __init__(self, x_values, y_values, pos_height_values, neg_height_values,
                 show_bounding_lines=None, degradation_band_count=None,
                 std_band_add_xmargin=False, **kwargs):
        super().__init__(x_values=x_values, y_values=y_values, extra_kwargs=kwargs)
        self.pos_height_values = np.asarray(pos_height_values, dtype=float)
        self.neg_height_values = np.asarray(neg_height_values, dtype=float)
        if show_bounding_lines is not None:
            self.show_bounding_lines = show_bounding_lines
        if degradation_band_count is not None:
            self.degradation_band_count = degradation_band_count
        self.std_band_add_xmargin = std_band_add_xmargin

    def render(self, axes=None):
        x = np.asarray(self.x_values, dtype=float)
        y = np.asarray(self.y_values, dtype=float)
        up, down = self.pos_height_values, self.neg_height_values
        if self.std_band_add_xmargin:
            x = np.column_stack([x - 0.5, x + 0.5]).ravel()
            y, up, down = (np.repeat(values, 2) for values in (y, up, down))
        count = self.degradation_band_count
        for i in range(count):
            inner, outer = i / count, (i + 1) / count
            # Each slice is as opaque as the probability of a normal sample beyond it
            # (P(|Z| > t) = 1 - erf(t / sqrt 2)).
            opacity = self.alpha * (1 - math.erf(inner / math.sqrt(2)))
            for low, high in ((y + up * inner, y + up * outer), (y - down * outer, y - down * inner)):
                axes.fill_between(x, low, high, alpha=opacity, color=self.color, lw=0)
        if self.show_bounding_lines:
            for edge in (y + up, y - down):
                axes.plot(x, edge, linewidth=0.5, alpha=0.68 * self.alpha, color=self.color)
        self.render_axis_labels(axes)


class HorizontalLine(PlottableData2D):
    """A horizontal line across the whole axes, at ``y_position``."""

    def __init__(self, y_position, line_width=1, line_style="-", **kwargs):
        super().__init__(x_values=[0], y_values=[y_position], **kwargs)
        self.y_position = y_position
        self.line_width = line_width
        self.line_style = line_style

    def render(self, axes=None):
        axes.axhline(y=self.y_position, color=self.color, linestyle=self.line_style,
                     lw=self.line_width, alpha=self.alpha)


class VerticalLine(PlottableData2D):
    """A vertical line across the whole axes, at ``x_position``."""

    def __init__(self, x_position, line_width=1, line_style="-", **kwargs):
        super().__init__(x_values=[x_position], y_values=[0], **kwargs)
        self.x_position = x_position
        self.line_width = line_width
        self.line_style = line_style

    def render(self, axes=None):
        axes.axvline(x=self.x_position, color=self.color, linestyle=self.line_style,
                     lw=self.line_width, alpha=self.alpha)


class Histogram2D(PlottableData2D):
    """A 2D histogram shown as an image with a colour bar.

    ``matrix_values[i, j]`` is the bin between ``x_edges[i:i+2]`` and ``y_edges[j:j+2]``.
    Bins below ``vmin`` show ``no_data_color``; NaN and bins above ``vmax`` show
    ``bad_data_color``.
    """
    color_map = "Reds"
    interpolation = "none"
    origin = "lower"
    alpha = 1
    aspect = "equal"
    vmin = None
    vmax = None
    show_cmap_bar = True
    no_data_color = (1, 1, 1, 0)
    bad_data_color = "magenta"

    def __init__(self, x_edges, y_edges, matrix_values, color_map=None, colormap_label=None,
                 vmin=None, vmax=None, no_data_color=(1, 1, 1, 0), bad_data_color="magenta",
                 colorbar_ticks=None, **kwargs):
        super().__init__(x_values=tuple(i - 0.5 for i in range(len(x_edges))),
                         y_values=tuple(j - 0.5 for j in range(len(y_edges))), **kwargs)
        self.x_edges = x_edges
        self.y_edges = y_edges
        self.matrix_values = np.asarray(matrix_values)
        self.colormap_label = colormap_label
        self.vmin = vmin
        self.vmax = vmax
        self.color_map = color_map if color_map is not None else self.color_map
        self.no_data_color = no_data_color
        self.bad_data_color = bad_data_color
        #: None: 5 ticks from vmin to vmax (when both are set); "auto": matplotlib's choice.
        self.colorbar_ticks = colorbar_ticks

    def render(self, axes=None):
        import matplotlib
        # matplotlib.cm.get_cmap was removed in matplotlib 3.9: the registry is the API now.
        cmap = matplotlib.colormaps[self.color_map].copy()
        cmap.set_under(color=self.no_data_color)
        cmap.set_over(color=self.bad_data_color)
        cmap.set_bad(color=self.bad_data_color)
        image = axes.imshow(self.matrix_values.swapaxes(0, 1), cmap=cmap, origin=self.origin,
                            interpolation=self.interpolation, alpha=self.alpha,
                            aspect=self.aspect, vmin=self.vmin, vmax=self.vmax)
        if self.show_cmap_bar:
            ticks = (list(np.linspace(self.vmin, self.vmax, 5))
                     if self.vmin is not None and self.vmax is not None
                     and self.colorbar_ticks != "auto" else None)
            axes.figure.colorbar(image, ax=axes, label=self.colormap_label, ticks=ticks,
                                 fraction=0.1)
        if self.y_label:
            axes.set_ylabel(self.y_label)


class Table(PlottableData2D):
    """A table of text: ``cell_text[row][column]`` under ``x_values`` (column headers), beside
    ``y_values`` (row headers). ``highlight_best_row``/``highlight_best_column`` ("low" or
    "high") set in bold the best value of each column / of each row."""

    def __init__(self, x_values, y_values, cell_text, x_label=None, y_label=None,
                 cell_alignment="center", col_header_aligment="center",
                 row_header_alignment="left", edges="open", highlight_best_row=None,
                 highlight_best_column=None):
        super().__init__(x_values=[None], y_values=[None], x_label=x_label, y_label=y_label)
        self.x_values = list(x_values)
        self.y_values = list(y_values)
        self.cell_text = [list(row) for row in cell_text]
        self.cell_alignment = cell_alignment
        # enb 1.x spells the argument "aligment"; the attribute is spelt right.
        self.col_header_alignment = col_header_aligment
        self.row_header_alignment = row_header_alignment
        self.edges = edges
        self.highlight_best_row = highlight_best_row
        self.highlight_best_column = highlight_best_column

    def best_cells(self) -> set:
        """Return the (row, column) positions to highlight (empty cells never are)."""
        values = [[_number_or_none(cell) for cell in row] for row in self.cell_text]
        chosen = set()
        rules = ((self.highlight_best_column, [[(r, c) for c in range(len(row))]
                                               for r, row in enumerate(values)]),
                 (self.highlight_best_row, [[(r, c) for r in range(len(values))]
                                            for c in range(max(map(len, values), default=0))]))
        for rule, lines in rules:
            if rule is None:
                continue
            pick = min if str(rule).lower() == "low" else max
            for line in lines:
                present = [(values[r][c], (r, c)) for r, c in line
                           if c < len(values[r]) and values[r][c] is not None]
                if present:
                    best = pick(v for v, _ in present)
                    chosen.update(pos for v, pos in present if v == best)
        return chosen

    def render(self, axes=None):
        from matplotlib.font_manager import FontProperties
        axes.axis("tight")
        axes.axis("off")
        table = axes.table(cellText=self.cell_text, colLabels=self.x_values,
                           rowLabels=self.y_values, loc="center", cellLoc=self.cell_alignment,
                           rowLoc=self.row_header_alignment, colLoc=self.col_header_alignment,
                           bbox=[0, 0, 1, 1], edges=self.edges)
        bold = FontProperties(weight="bold")
        best = self.best_cells()
        for (row, column), cell in table.get_celld().items():
            cell.set_facecolor((1, 1, 0, 0))
            # Row 0 holds the column headers, column -1 the row headers.
            if row == 0 or column == -1 or (row - 1, column) in best:
                cell.set_text_props(fontproperties=bold)


def _number_or_none(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def get_available_styles() -> list[str]:
    """Return the style names figures can use: matplotlib's, enb's own and "default"."""
    return sorted(set(get_matlab_styles()) | set(get_local_styles()) | {"default"})


def get_matlab_styles() -> list[str]:
    """Return matplotlib's installed styles (and "xkcd"), as enb 1.x named them."""
    from matplotlib import style
    return sorted([str(s) for s in style.available if not s.startswith("_")] + ["xkcd"])


def get_local_styles() -> list[str]:
    """Return the names of the styles that enb ships (see :data:`STYLE_DIR`)."""
    if not os.path.isdir(STYLE_DIR):
        return []
    return sorted(name for name in os.listdir(STYLE_DIR)
                  if os.path.isfile(os.path.join(STYLE_DIR, name)) and not name.startswith("."))
