"""Split a DataFrame into the groups of an analysis, as enb 1.x's SummaryTable does.

``group_by`` may be None (one group, "All"), a column name, a list of column names (groups
are the distinct tuples), a list of :class:`enb.experiment.TaskFamily` (groups are the
families, by the ``family_label`` column), a :class:`HistogramKeyBinner` with a ``column``
(groups are the bins of that numeric column), or a callable that takes the DataFrame and
returns ``(label, sub-DataFrame)`` pairs. Groups come sorted by key, then "All" when asked.
"""
from __future__ import annotations

import collections.abc
import dataclasses

import numpy as np
import pandas as pd

GLOBAL_GROUP_NAME = "All"


class GroupingError(ValueError):
    """``group_by`` cannot split this DataFrame; the message says why."""


@dataclasses.dataclass
class Groups:
    """The groups of one analysis: labels in order and the rows of each.

    ``frame`` holds every row that belongs to some group and ``codes[i]`` is the position in
    ``labels`` of row i's group; the "All" group, when present, is last and made of every row
    of the analysed DataFrame (``all_frame``).
    """
    labels: list
    frame: pd.DataFrame
    codes: np.ndarray
    all_frame: pd.DataFrame | None = None

    @property
    def keyed_count(self) -> int:
        """Number of groups made by ``group_by`` (without "All")."""
        return len(self.labels) - (self.all_frame is not None)

    def frame_of(self, label) -> pd.DataFrame:
        """Return the rows of group ``label``."""
        position = self.labels.index(label)
        if self.all_frame is not None and position == len(self.labels) - 1:
            return self.all_frame
        return self.frame[self.codes == position]

    def label_to_df(self) -> dict:
        """Return {label: rows}, as enb 1.x's ``SummaryTable.label_to_df``."""
        return {label: self.frame_of(label) for label in self.labels}


def is_family_grouping(group_by) -> bool:
    """Return True if ``group_by`` is a non-empty iterable of TaskFamily instances."""
    from ..experiment import TaskFamily
    if group_by is None or isinstance(group_by, (str, bytes)):
        return False
    try:
        items = list(group_by)
    except TypeError:
        return False
    return bool(items) and all(isinstance(item, TaskFamily) for item in items)


def get_groupby_str(group_by) -> str:
    """Return how ``group_by`` appears in file names (enb 1.x): a column name, names joined
    by "__", "family_label" for task families, "None" for no grouping."""
    from .binning import HistogramKeyBinner
    if group_by is None or (not callable(group_by) and not isinstance(group_by, str)
                            and not group_by):
        return "None"
    if is_family_grouping(group_by):
        return "family_label"
    if isinstance(group_by, HistogramKeyBinner):
        return group_by.column or "binned"
    if isinstance(group_by, str):
        return group_by
    if callable(group_by):
        return getattr(group_by, "__name__", type(group_by).__name__)
    if isinstance(group_by, collections.abc.Iterable) and all(isinstance(s, str) for s in group_by):
        return "__".join(group_by)
    raise GroupingError(f"group_by={group_by!r}: give a column name, a list of column names, "
                        f"a list of TaskFamily, a HistogramKeyBinner or a callable")


def split(full_df: pd.DataFrame, group_by, include_all_group: bool) -> Groups:
    """Return the groups of ``full_df`` for ``group_by`` (see the module's docstring)."""
    from .binning import HistogramKeyBinner
    all_frame = full_df if include_all_group else None
    if group_by is None:
        codes = np.zeros(len(full_df), dtype=np.int64)
        return Groups([GLOBAL_GROUP_NAME], full_df, codes)
    if is_family_grouping(group_by):
        _require_columns(full_df, ["family_label"], "group_by (task families)")
        group_by = "family_label"
    if isinstance(group_by, HistogramKeyBinner):
        return _split_by_bins(full_df, group_by, all_frame)
    if isinstance(group_by, str) or (isinstance(group_by, (list, tuple))
                                     and all(isinstance(c, str) for c in group_by)):
        keys = [group_by] if isinstance(group_by, str) else list(group_by)
        _require_columns(full_df, keys, "group_by")
        grouped = full_df.groupby(group_by if isinstance(group_by, str) else keys, sort=True)
        # Rows whose key is missing (NaN) belong to no group, as with pandas' groupby.
        codes = grouped.ngroup().fillna(-1).to_numpy(dtype=np.int64)
        keys_in_order = list(grouped.size().index)
        if not isinstance(group_by, str):
            # Iterating a groupby by a list yields tuples even for one column (pandas >= 2);
            # enb 1.x's labels are str() of those keys.
            keys_in_order = [k if isinstance(k, tuple) else (k,) for k in keys_in_order]
        keep = codes >= 0
        frame = full_df if keep.all() else full_df[keep]
        return _with_all([str(k) for k in keys_in_order], frame, codes[keep], all_frame)
    if callable(group_by):
        return _split_by_callable(full_df, group_by, all_frame)
    raise GroupingError(f"group_by={group_by!r}: give a column name, a list of column names, "
                        f"a list of TaskFamily, a HistogramKeyBinner or a callable")


def _require_columns(frame, columns, what):
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GroupingError(f"{what}: no column {', '.join(map(repr, missing))} in the analysed "
                            f"DataFrame (its columns: {', '.join(map(str, frame.columns))})")


def _with_all(labels, frame, codes, all_frame) -> Groups:
    labels = list(labels)
    if len(set(labels)) != len(labels):
        duplicated = sorted({label for label in labels if labels.count(label) > 1})
        raise GroupingError(f"group labels must be unique; {duplicated} appear more than once")
    if all_frame is not None:
        if GLOBAL_GROUP_NAME in labels:
            raise GroupingError(f"a group is called {GLOBAL_GROUP_NAME!r}, like the group of all "
                                f"rows that show_global adds; rename it or drop show_global")
        labels.append(GLOBAL_GROUP_NAME)
    return Groups(labels, frame, codes, all_frame)


def _split_by_bins(full_df, binner, all_frame) -> Groups:
    if not binner.column:
        raise GroupingError("a HistogramKeyBinner used as group_by needs the column to bin: "
                            "HistogramKeyBinner(min_value, max_value, bin_count, column=NAME)")
    _require_columns(full_df, [binner.column], "group_by (HistogramKeyBinner)")
    values = pd.to_numeric(full_df[binner.column], errors="coerce").to_numpy(dtype=float)
    bins = binner.bin_indices(values)
    used = sorted(set(bins[bins >= 0].tolist()))
    position = {b: i for i, b in enumerate(used)}
    codes = np.array([position.get(b, -1) for b in bins.tolist()], dtype=np.int64)
    keep = codes >= 0
    labels = [binner.binned_keys[b] for b in used]
    return _with_all(labels, full_df[keep], codes[keep], all_frame)


def _split_by_callable(full_df, group_by, all_frame) -> Groups:
    try:
        pairs = sorted(((str(label), df) for label, df in group_by(full_df)),
                       key=lambda pair: pair[0])
    except TypeError as error:
        raise GroupingError(f"group_by={group_by!r} must return (label, DataFrame) pairs when "
                            f"called with the DataFrame: {error}") from None
    frames = [df for _, df in pairs]
    codes = np.concatenate([np.full(len(df), i, dtype=np.int64) for i, df in enumerate(frames)]) \
        if frames else np.zeros(0, dtype=np.int64)
    frame = pd.concat(frames, ignore_index=True) if frames else full_df.iloc[:0]
    return _with_all([label for label, _ in pairs], frame, codes, all_frame)
