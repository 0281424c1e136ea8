"""get_df: plan the missing cells, run them on an executor, keep every finished row.

Data flow: resolve the targets -> load what the store has -> plan the missing cells -> run
them (:mod:`enb.dispatch`: chunks on the executor, each result journaled as it completes) ->
fold the journal into the CSV -> DataFrame in target order -> raise ColumnFailedError if rows
failed. The engine never knows which executor runs; the executor never knows what a table is.
"""
from __future__ import annotations

import contextlib
import gc
import logging
import os
import time

from . import dispatch
from .config import options
from .dispatch import RunReport
from .indices import check_definition
from .persistence import (KEY_COLUMN, TIMESTAMP_COLUMNS, ColumnFailedError, MemoryStore,
                          TableStore)
from .persistence.objects import ANY_CLASS, class_pairs
from .targets import Targets, resolve, stored_targets

logger = logging.getLogger(__name__)


def _check_selected_columns(table) -> None:
    """Raise OptionError if a --selected_columns name is a column of no table of the script.

    A name this table lacks may belong to another table of the script (an experiment's
    dataset table computes none of the experiment's columns), but a name no table has is a typo.
    """
    selected = options.selected_columns
    if not selected:
        return
    unknown = [c for c in selected if c not in table.column_to_properties]
    if not unknown:
        return
    # Every table class, from the root of this one's (ATable, reached without importing it).
    root = [c for c in type(table).__mro__ if "column_to_properties" in vars(c)][-1]
    known, classes = set(), [root]
    while classes:
        cls = classes.pop()
        known.update(cls.column_to_properties)
        classes.extend(cls.__subclasses__())
    unknown = [c for c in unknown if c not in known]
    if unknown:
        from .config.options import OptionError
        import difflib
        hints = [f"{c!r} (did you mean {close[0]!r}?)" if close else repr(c) for c in unknown
                 for close in [difflib.get_close_matches(c, sorted(known), n=1)]]
        raise OptionError(
            f"--selected_columns: {', '.join(hints)} {'is' if len(unknown) == 1 else 'are'} not "
            f"a column of any table; {type(table).__name__}'s columns are "
            f"{', '.join(c for c in _columns(table) if c not in TIMESTAMP_COLUMNS)}")


def _store_for(table) -> TableStore | MemoryStore:
    path = table.csv_support_path
    columns = [c for c in _columns(table) if c not in table.indices]
    store = getattr(table, "_store", None)
    if path:
        path = options.project_path(path)  # a relative path is the project's, wherever we run
        if not isinstance(store, TableStore) or store.csv_path != os.path.abspath(path) \
                or store.column_order != columns:
            store = TableStore(path, table.indices, columns, _storage_kinds(table),
                               class_pairs(getattr(table, "stored_classes", ())))
            table._store = store
    elif not isinstance(store, MemoryStore) or store.column_order != columns:
        # Nothing of a table in memory is read from a file: any class may be kept.
        store = MemoryStore(table.indices, columns, _storage_kinds(table), ANY_CLASS)
        table._store = store
    return store


def _storage_kinds(table) -> dict[str, str]:
    """Return how the CSV stores each declared column: "ast" or "pickle" (others by value)."""
    return {name: cp.storage_kind for name, cp in table.column_to_properties.items()
            if cp.storage_kind}


def _columns(table) -> list[str]:
    """The table's stored columns in declaration order, timestamps last."""
    names = [c for c in table.column_to_properties
             if c not in table.indices and c not in table.ignored_columns]
    return [c for c in names if c not in TIMESTAMP_COLUMNS] + \
           [c for c in TIMESTAMP_COLUMNS if c in names]


def _load(table):
    return _store_for(table).load()


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while a table's rows are read, planned or built.

    Its full collections scan every live object again and again as millions of cells are
    allocated (building a million row tasks took 3-4x longer with it on); what is built here
    makes no reference cycles, and the collector resumes as it was.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# -- get_df -----------------------------------------------------------------------------
def get_df(table, target_indices=None, target_columns=None, fill=True, overwrite=None,
           chunk_size=None):
    from .log import configure
    configure(options.verbose)
    started = time.perf_counter()
    overwrite = bool(options.force) if overwrite is None else bool(overwrite)
    fill = fill and not options.no_new_results
    check_definition(table)
    _check_selected_columns(table)
    with paused_gc():
        targets = resolve(table, target_indices)
    columns = _columns(table)
    computable = [c for c in columns if c not in TIMESTAMP_COLUMNS]
    if target_columns is None:
        wanted = computable
    else:
        unknown = [c for c in target_columns if c not in table.column_to_properties]
        if unknown:
            raise ValueError(f"{type(table).__name__}.get_df: unknown target columns {unknown}; "
                             f"defined: {computable}")
        wanted_set = set(target_columns)
        wanted = [c for c in computable if c in wanted_set]
    if options.selected_columns:
        wanted = [c for c in wanted if c in set(options.selected_columns)]

    report = RunReport(table=type(table).__name__)
    failures: list = []
    with paused_gc():
        stored = _load(table)
        if fill:
            # --retry_failed: recompute the rows recorded as failed, and nothing else.
            retry_only = _failed_keys(table) if options.retry_failed and \
                table.csv_support_path else None
            tasks = _plan(stored, targets, wanted, overwrite, retry_only)
            report.loaded = len(targets) - len(tasks)
    if fill:
        if tasks:
            try:
                failures = dispatch.run(table, tasks, _store_for(table), chunk_size, report)
            except BaseException:
                # Ctrl-C or an error: what finished is in the journal; fold it in now.
                _store_for(table).fold(order=targets.key_order)
                raise
    store = _store_for(table)
    if fill and table.csv_support_path:
        _record_failures(table, failures, targets)
    with paused_gc():
        stored = store.fold(order=targets.key_order)
    report.wall_seconds = time.perf_counter() - started
    table.last_report = report
    if report.computed or report.failed:
        from .log import REPORT
        logger.log(REPORT, report.summary())
        if table.csv_support_path:
            from .report import save_run
            save_run(report, options.project_path(table.csv_support_path))
    with paused_gc():
        df = _dataframe(table, targets, stored, columns, fill and not options.retry_failed)
    if failures:
        errors = [ColumnFailedError(atable=None, index=f.index, column=f.column,
                                    msg=f"[node {f.node}, pid {f.pid}]\n{f.traceback}",
                                    ex=f.exception) for f in failures]
        raise ColumnFailedError(atable=table, exception_list=errors,
                                msg=f"{len(failures)} of {len(targets)} rows of "
                                    f"{type(table).__name__} failed (all other rows were saved)")
    return df


def load_df(table):
    """Return the stored rows of a table as a DataFrame (nothing computed)."""
    stored = _load(table)
    columns = _columns(table)
    return _dataframe(table, stored_targets(stored, table.indices), stored, columns, fill=False)


def _plan(stored, targets: Targets, wanted, overwrite, retry_only):
    """Return the tasks (key, index, known cells, missing columns) of the targets' missing cells,
    as a :class:`enb.rows.Chunk`."""
    import numpy as np
    from .rows import Chunk, pack
    columns = tuple(wanted)
    width = len(targets.index_names)
    if stored is None or not len(stored):
        if retry_only is None:
            # Every target, as it is: no per-row work here (int targets' keys are made by
            # workers).
            return Chunk(targets.known_keys(), list(targets.indices), None, columns, width)
        return pack([(key, index, {}, columns)
                     for key, index in zip(targets.keys, targets.indices) if key in retry_only],
                    width)
    positions = targets.locate(stored)
    found = positions >= 0
    if overwrite or retry_only is not None:
        lacking = found
    else:
        lacking = np.zeros(len(targets), bool)
        for column in wanted:
            if column not in stored.columns:
                lacking[:] = True
                break
            if column in stored.absent:
                lacking[found] |= stored.absent[column][positions[found]]
    tasks = []
    indices = targets.indices
    for i in np.flatnonzero(~found | lacking).tolist():
        key, index = targets.key(i), indices[i]
        if retry_only is not None and key not in retry_only:
            continue
        if not found[i]:
            tasks.append((key, index, {}, columns))
            continue
        known = stored.cells(positions[i])
        if overwrite or retry_only is not None:
            known = {c: v for c, v in known.items() if c in TIMESTAMP_COLUMNS}
            missing = columns
        else:
            missing = tuple(c for c in wanted if c not in known)
        if missing:
            tasks.append((key, index, known, missing))
    return pack(tasks, width)


def _dataframe(table, targets: Targets, stored, columns, fill):
    """Return the targets' rows of ``stored`` as enb 1.x's DataFrame (indexed by key)."""
    import numpy as np
    import pandas as pd
    names = table.indices + columns
    if stored is None or not len(stored):
        count = len(targets) if fill else 0
        return pd.DataFrame({name: [None] * count for name in names},
                            index=pd.Index(targets.keys[:count], name=KEY_COLUMN, dtype=object),
                            columns=names)
    positions = targets.locate(stored)
    if not fill:
        keep = positions >= 0
        if not keep.all():
            targets, positions = targets.subset(keep), positions[keep]
    index = targets.frame_index(positions, stored)
    identity = len(positions) == len(stored) and bool(
        (positions == np.arange(len(positions))).all())
    missing = positions < 0
    data = {}
    for name in names:
        if name not in stored.columns:
            data[name] = np.full(len(positions), None, dtype=object)
            continue
        values = stored.columns[name]
        mask = stored.absent.get(name)
        if identity and mask is None:
            data[name] = values
            continue
        taken = values.take(np.where(missing, 0, positions)) if len(values) else \
            np.empty(len(positions), dtype=values.dtype)
        gone = missing | (mask[np.where(missing, 0, positions)] if mask is not None
                          else np.zeros(len(positions), bool))
        if gone.any():
            taken = taken.astype(object)
            taken[gone] = None
        data[name] = taken
    return pd.DataFrame(data, index=index, columns=names)


# -- failures kept for --retry_failed --------------------------------------------------
def _failures_path(table) -> str:
    return options.project_path(table.csv_support_path) + ".failures"


def _failed_keys(table) -> set:
    import json
    try:
        with open(_failures_path(table), encoding="utf-8") as handle:
            return set(json.load(handle))
    except (FileNotFoundError, ValueError):
        return set()


def _record_failures(table, failures, targets: Targets) -> None:
    """Keep the failed rows' tracebacks, node and attempt beside the CSV (for --retry_failed)."""
    import json
    path = _failures_path(table)
    previous = {}
    try:
        with open(path, encoding="utf-8") as handle:
            previous = json.load(handle)
    except (FileNotFoundError, ValueError):
        pass
    targeted = targets.key_set() if previous else set()
    current = {k: v for k, v in previous.items() if k not in targeted}
    for failure in failures:
        attempt = previous.get(failure.key, {}).get("attempt", 0) + 1
        current[failure.key] = {"column": failure.column, "node": failure.node,
                                "attempt": attempt, "traceback": failure.traceback}
    if current == previous:
        return
    if not current:
        if os.path.exists(path):
            os.unlink(path)
        return
    from .persistence import atomic_write
    atomic_write(path, json.dumps(current, indent=1).encode("utf-8"))
