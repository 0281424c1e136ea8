"""SummaryTable: a table whose rows are groups of another table's rows (enb 1.x compatible).

Rows are the groups of ``reference_df`` (``group_by``: None for one group "All", a column or a
list of columns as pandas groups them, or a function of the DataFrame that returns
``(label, DataFrame)`` pairs); columns are functions of each group's rows, which they read as
``self.label_to_df[label]``. The summary is persisted like any table, or kept for one
``get_df`` only with ``csv_support_path=None``, and computed through the selected executor.

The DataFrame is grouped once, with pandas: each group is the positions of its rows, and its
DataFrame is taken (``iloc``) the first time a column function reads it, in the worker that
computes the group. The reference DataFrame travels to each worker once with the table (on
local-process not at all: workers are forked with it), never once per row.
"""
from __future__ import annotations

import collections.abc

from .atable import ATable


class Group:
    """One group of a split: its ``label`` and its rows of ``source`` (a DataFrame).

    Unpacks like the ``(label, DataFrame)`` pair enb 1.x returned (``for label, df in
    table.split_groups()``); the DataFrame is taken from ``source`` only when asked for.
    """
    __slots__ = ("label", "source", "positions", "_frame")

    def __init__(self, label, source, positions=None, frame=None):
        self.label = label
        self.source = source
        self.positions = positions
        self._frame = frame

    @property
    def frame(self):
        """The group's rows (all of ``source`` when it has no positions)."""
        if self._frame is None:
            self._frame = self.source if self.positions is None \
                else self.source.iloc[self.positions]
        return self._frame

    @property
    def size(self) -> int:
        if self.positions is not None:
            return len(self.positions)
        return len(self.frame)

    def __iter__(self):
        yield self.label
        yield self.frame

    def __len__(self):
        return 2

    def __getitem__(self, item):
        return (self.label, self.frame)[item]

    def __lt__(self, other):
        other_label = other.label if isinstance(other, Group) else other[0]
        return self.label < other_label

    def __getstate__(self):
        # A frame taken from its source is not shipped: the worker takes it again.
        frame = None if self.positions is not None or self._frame is self.source \
            else self._frame
        return self.label, self.source, self.positions, frame

    def __setstate__(self, state):
        self.label, self.source, self.positions, self._frame = state

    def __repr__(self):
        return f"Group({self.label!r}, {self.size} rows)"


class GroupFrames(collections.abc.Mapping):
    """``label_to_df``: group label -> the group's DataFrame, taken when first read."""

    def __init__(self, groups: dict):
        self._groups = groups  # label -> Group

    def __getitem__(self, label):
        return self._groups[label].frame

    def __iter__(self):
        return iter(self._groups)

    def __len__(self):
        return len(self._groups)

    def group_size(self, label) -> int:
        """Return the number of rows of a group without taking its DataFrame."""
        return self._groups[label].size


class SummaryTable(ATable):
    """A table whose rows are the groups of ``reference_df`` (enb 1.x: ``full_df``).

    ``column_to_properties``: the reference table's columns, kept as
    ``reference_column_to_properties`` for subclasses. ``copy_df``: summarise a copy.
    ``group_by``: None (one group, "All"), a column, a list of columns, or a function of the
    DataFrame returning ``(label, DataFrame)`` pairs. ``include_all_group``: add a group
    "All" with every row. Group labels are strings (``str(label)``), unique; the index column
    is ``group_label``.
    """
    #: The index values are group labels, never file paths (the engine does not resolve them).
    indices_are_paths = False
    all_group_label = "All"

    def __init__(self, full_df=None, column_to_properties=None, copy_df=False,
                 csv_support_path=None, group_by=None, include_all_group=False, *,
                 reference_df=None):
        if reference_df is None:
            reference_df = full_df
        if reference_df is None:
            raise TypeError(f"{type(self).__name__}: give the DataFrame to summarise "
                            f"(reference_df=..., or full_df=... as in enb 1.x)")
        super().__init__(csv_support_path=csv_support_path, index="group_label")
        self.reference_df = reference_df.copy() if copy_df is True else reference_df
        self.reference_column_to_properties = dict(column_to_properties) \
            if column_to_properties is not None else None
        self.group_by = group_by
        self.include_all_group = include_all_group

    @property
    def full_df(self):
        """enb 1.x's name of :attr:`reference_df`."""
        return self.reference_df

    @full_df.setter
    def full_df(self, frame):
        self.reference_df = frame

    def split_groups(self, reference_df=None, include_all_group=None) -> list:
        """Return the groups of ``reference_df`` (default: this table's), sorted by label.

        Each item unpacks as ``(label, DataFrame)``. Subclasses may return any iterable of
        such pairs, with unique labels; the groups need not cover every row nor be disjoint.
        """
        frame = reference_df if reference_df is not None else self.reference_df
        include_all = self.include_all_group if include_all_group is None else include_all_group
        everything = Group(self.all_group_label, frame)
        if self.group_by is None:
            return [everything]
        if callable(self.group_by):
            groups = [item if isinstance(item, Group) else Group(item[0], item[1], frame=item[1])
                      for item in self.group_by(frame)]
            groups.sort(key=lambda group: group.label)
        else:
            groups = self._pandas_groups(frame)
        return groups + ([everything] if include_all else [])

    def _pandas_groups(self, frame) -> list:
        """Group by a column or a list of columns with one pandas groupby (positions only)."""
        by = self.group_by
        positions = frame.groupby(by, sort=True).indices
        one_of_a_list = isinstance(by, (list, tuple)) and len(by) == 1
        groups = []
        small = len(frame) < 2 ** 31
        for key, rows in positions.items():
            rows = rows.astype("int32") if small else rows  # half the bytes shipped
            # A list of one column labels groups as 1-tuples, as iterating a groupby does.
            label = (key,) if one_of_a_list and not isinstance(key, tuple) else key
            groups.append(Group(label, frame, positions=rows))
        try:
            groups.sort(key=lambda group: group.label)
        except TypeError:  # labels of mixed types: pandas's order
            pass
        return groups

    def get_df(self, target_columns=None, fill=True, overwrite=None, chunk_size=None, *,
               reference_df=None, include_all_group=None, target_indices=None):
        """Return one row per group, computing the missing cells.

        ``reference_df``: summarise this DataFrame instead of the table's. The rows are the
        groups' labels, always (``target_indices`` cannot be given).
        """
        if target_indices is not None:
            raise TypeError(f"{type(self).__name__}.get_df: the rows of a summary are its groups; "
                            f"target_indices cannot be given")
        if "label_to_df" in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}.label_to_df is set by get_df; do not set "
                               f"it yourself")
        groups: dict = {}
        for item in self.split_groups(reference_df=reference_df,
                                      include_all_group=include_all_group):
            group = item if isinstance(item, Group) else Group(item[0], item[1], frame=item[1])
            label = str(group.label)  # labels are shown and stored: strings
            if label in groups:
                raise ValueError(f"{type(self).__name__}.split_groups returned the label "
                                 f"{label!r} more than once; group labels must be unique")
            groups[label] = group
        if not groups:
            raise ValueError(f"{type(self).__name__}: the reference DataFrame has no groups "
                             f"(group_by={self.group_by!r})")
        if not self.csv_support_path:
            self._store = None  # in memory, a summary is of this call's groups only
        self.label_to_df = GroupFrames(groups)
        try:
            return super().get_df(target_indices=list(groups), target_columns=target_columns,
                                  fill=fill, overwrite=overwrite, chunk_size=chunk_size)
        finally:
            del self.label_to_df

    def column_group_size(self, index, row):
        """Number of rows of the reference DataFrame in the group."""
        return self.label_to_df.group_size(index) if isinstance(self.label_to_df, GroupFrames) \
            else len(self.label_to_df[index])
