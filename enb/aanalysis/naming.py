"""The names of the files an analysis writes, as enb 1.x writes them.

Users' scripts and papers point at these names, so they never change:

- figures: ``<plot_dir>/<Analyzer>-<selection>-<render mode>[-groupby__<group_by>]
  [-referencegroup__<group>].pdf`` (and ``.png``)
- tables: ``<analysis_dir>/<Analyzer>-columns_<selection>-<modes>[-groupby__...]
  [-referencegroup__...].csv`` (and ``.tex``)

A selection is a column name (``a``), columns joined by "__" (``columns_a__b``), or for a
list of tuples the tuples joined by "__" and their columns by "__vs__"
(``columns_a__vs__b__c__vs__d``); names longer than 150 characters become
``<n>column(s)``. Several render modes join with "__" in the order the analyzer declares
them (enb 1.1.3 used a set, so its order changed from run to run).
"""
from __future__ import annotations

import collections.abc
import os

from .grouping import get_groupby_str


def selection_text(column_selection) -> str:
    """Return how ``column_selection`` appears in file names."""
    if isinstance(column_selection, str):
        return column_selection
    if not isinstance(column_selection, collections.abc.Iterable):
        raise ValueError(f"column selection {column_selection!r} is neither a column name nor "
                         f"a list of them")
    items = list(column_selection)
    if all(isinstance(item, str) for item in items):
        text = f"columns_{'__'.join(items)}"
        if len(text) > 150:
            text = f"{len(items)}column{'s' if len(items) > 1 else ''}"
        return text
    text = "columns_" + "__".join("__vs__".join(item) if not isinstance(item, str) else item
                                   for item in items)
    return text if len(text) <= 150 else f"{len(items)}columns"


def modes_text(render_modes, declared_order) -> str:
    """Join ``render_modes`` with "__" in the analyzer's declared order (then by name)."""
    if isinstance(render_modes, str):
        return render_modes
    order = list(declared_order)
    return "__".join(sorted(render_modes, key=lambda m: (order.index(m) if m in order
                                                         else len(order), str(m))))


def output_stem(analyzer_name: str, column_selection, render_mode_text: str, group_by,
                reference_group) -> str:
    """Return a file name without extension (see the module's docstring)."""
    stem = f"{analyzer_name}-{selection_text(column_selection)}-{render_mode_text}"
    if group_by:
        stem += f"-groupby__{get_groupby_str(group_by)}"
    if reference_group:
        stem += f"-referencegroup__{reference_group}"
    return stem


def output_path(folder: str, analyzer_name: str, column_selection, render_mode_text: str,
                group_by, reference_group, extension: str) -> str:
    """Return ``folder/<stem><extension>``."""
    return os.path.join(folder, output_stem(analyzer_name, column_selection, render_mode_text,
                                            group_by, reference_group) + extension)
