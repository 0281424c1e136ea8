"""ATable: an experiment as a table whose columns are Python functions (enb 1.x compatible).

Declare columns with ``column_<name>(self, index, row)`` methods (the return value is the
cell) or with :func:`column_function` (the function writes ``row[...]``; ``_column_name`` is
usable inside it). :meth:`ATable.get_df` returns a DataFrame, computing only the missing cells;
see :mod:`enb.engine` for how, and :mod:`enb.persistence` for how results are kept.
"""
from __future__ import annotations

import ast
import collections
import collections.abc
import functools
import inspect
import logging
import os

# enb 1.x names (and checks the engine runs), defined in the layers below, re-exported here.
from .indices import (RESERVED_NAMES, ColumnDefinitionError, check_definition,  # noqa: F401
                      check_target_indices, get_canonical_path, indices_to_internal_loc,
                      internal_loc_to_index, unpack_index_value)
from .persistence import (KEY_COLUMN, TIMESTAMP_COLUMNS, ColumnFailedError,  # noqa: F401
                          CorruptedTableError)

logger = logging.getLogger(__name__)

COLUMN_PREFIX = "column_"


class ColumnProperties:
    """What enb knows of a column: its name, the function that fills it, and display hints."""

    def __init__(self, name, fun=None, label=None, plot_min=None, plot_max=None,
                 semilog_x=False, semilog_y=False, semilog_x_base=10, semilog_y_base=10,
                 hist_label=None, hist_min=None, hist_max=None, hist_bin_width=None,
                 has_dict_values=False, has_iterable_values=False, has_object_values=False,
                 hist_label_dict=None, **extra_attributes):
        self.name = name
        self.fun = fun
        self.label = label if label is not None else clean_column_name(name)
        self.plot_min = plot_min
        self.plot_max = plot_max
        self.semilog_x = semilog_x
        self.semilog_y = semilog_y
        self.semilog_x_base = semilog_x_base
        self.semilog_y_base = semilog_y_base
        self.hist_bin_width = hist_bin_width
        self.has_dict_values = has_dict_values or hist_bin_width is not None
        self.has_iterable_values = has_iterable_values
        self.has_object_values = has_object_values
        if sum(bool(f) for f in (self.has_dict_values, self.has_iterable_values,
                                 self.has_object_values)) > 1:
            raise ValueError(f"column {name!r}: at most one of has_dict_values, "
                             f"has_iterable_values and has_object_values can be set")
        self.hist_label_dict = hist_label_dict
        self.hist_label = hist_label
        self.hist_min = hist_min
        self.hist_max = hist_max
        for key, value in extra_attributes.items():
            setattr(self, key, value)

    @property
    def has_ast_values(self) -> bool:
        return self.has_dict_values or self.has_iterable_values

    @property
    def storage_kind(self) -> str | None:
        """How the CSV stores this column when declared: "ast", "pickle" or None (by value)."""
        return "ast" if self.has_ast_values else "pickle" if self.has_object_values else None

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if v is not None)
        return f"{self.__class__.__name__}({args})"


def clean_column_name(column_name) -> str:
    """Return the column name as a label: underscores to spaces, first letter capitalised."""
    text = str(column_name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


# -- column declaration ------------------------------------------------------------------
def _normalize_properties(specs, fun, **kwargs) -> list[ColumnProperties]:
    found = []
    for spec in specs:
        if isinstance(spec, str):
            found.append(ColumnProperties(name=spec, fun=fun, **kwargs))
        elif isinstance(spec, ColumnProperties):
            found.append(spec)
        elif isinstance(spec, collections.abc.Iterable):
            found.extend(_normalize_properties(spec, fun))
        else:
            raise SyntaxError(f"column_function: {spec!r} is neither a column name nor a "
                              f"ColumnProperties instance")
    if not found:
        raise SyntaxError(f"column_function on {getattr(fun, '__name__', fun)}: no column given")
    return found


def _make_wrapper(fun, properties: list[ColumnProperties], returns_cell: bool):
    """Wrap a column function: expose ``_column_name`` and store a returned value in the row."""
    try:
        spec = inspect.getfullargspec(fun)
        if len(spec.args) != 3 and spec.varargs is None and spec.varkw is None:
            raise SyntaxError(f"column function {fun.__qualname__} must take (self, index, row); "
                              f"it takes {spec.args}")
    except TypeError:
        pass
    target = fun.func if isinstance(fun, functools.partial) else fun
    code = getattr(target, "__code__", None)
    uses_names = code is not None and ("_column_name" in code.co_names
                                       or "_column_properties" in code.co_names)
    first = properties[0]
    name = first.name
    stores = returns_cell or len(properties) == 1

    if uses_names:
        def column_function_wrapper(self, index, row):
            scope = target.__globals__
            saved = (scope.get("_column_name", _UNSET), scope.get("_column_properties", _UNSET))
            scope["_column_name"], scope["_column_properties"] = name, first
            try:
                value = fun(self, index, row)
            finally:
                for key, old in zip(("_column_name", "_column_properties"), saved):
                    if old is _UNSET:
                        scope.pop(key, None)
                    else:
                        scope[key] = old
            if value is not None and stores:
                row[name] = value
            return value  # a direct call of the method still returns what it returns
    elif stores:
        def column_function_wrapper(self, index, row):
            value = fun(self, index, row)
            if value is not None:
                row[name] = value
            return value
    else:  # a function of several columns fills them itself
        def column_function_wrapper(self, index, row):
            return fun(self, index, row)

    functools.update_wrapper(column_function_wrapper, fun)
    column_function_wrapper._enb_columns = tuple(p.name for p in properties)
    column_function_wrapper._enb_method_name = getattr(fun, "__name__", None)
    column_function_wrapper._enb_returns_cell = returns_cell
    column_function_wrapper._enb_raw = fun
    # What a worker may call instead of the wrapper, storing a returned value itself (None
    # when the function reads _column_name or fills several columns).
    column_function_wrapper._enb_direct = fun if stores and not uses_names else None
    return column_function_wrapper


_UNSET = object()


def _register(target_class, fun, properties: list[ColumnProperties], returns_cell=False):
    owner = target_class if isinstance(target_class, type) else type(target_class)
    for cp in properties:
        if cp.name in RESERVED_NAMES:
            raise ColumnDefinitionError(
                f"{owner.__name__}: a column cannot be named {cp.name!r} (declared by "
                f"{getattr(fun, '__qualname__', fun)}): enb writes {', '.join(RESERVED_NAMES)} "
                f"in every row itself; rename the column")
    wrapper = _make_wrapper(fun, properties, returns_cell)
    for cp in properties:
        cp.fun = wrapper
        target_class.column_to_properties[cp.name] = cp
    # The wrapper carries the method's qualified name (enb 1.x's tests compare __qualname__s):
    # it takes the method's place in its class, so that pickle, which looks a function up by
    # that name, finds the wrapper itself (1.x scripts give analyzers the columns' properties,
    # which travel to render processes). Called directly, it returns what the method returns.
    name = getattr(fun, "__name__", None)
    current = target_class.__dict__.get(name) if isinstance(target_class, type) and name \
        else None
    if current is not None and (current is fun or getattr(current, "_enb_raw", None) is fun):
        setattr(target_class, name, wrapper)  # (a method registered again: its last wrapper)
    return wrapper


def column_function(*column_properties, **kwargs):
    """Decorate a method ``(self, index, row)`` that fills one or more columns.

    Give column names, :class:`ColumnProperties`, a list of them, or a mix; ``kwargs`` go to
    the ColumnProperties made from names. Columns are computed in declaration order.
    """
    def decorator(fun):
        fun._enb_pending_columns = _normalize_properties(column_properties, fun, **kwargs)
        return fun
    return decorator


def redefines_column(fun):
    """Mark a method that overrides a base class's column method (kept for enb 1.x)."""
    fun._redefines_column = True
    return fun


class MetaTable(type):
    """Collect the columns of an ATable subclass: inherited ones first, then its own, in order."""

    def __new__(mcs, name, bases, namespace):
        if MetaTable in bases:
            raise SyntaxError("subclass ATable, not MetaTable")
        own = namespace.get("column_to_properties")
        namespace["column_to_properties"] = collections.OrderedDict()
        cls = super().__new__(mcs, name, bases, namespace)
        for base in reversed(cls.__mro__[1:]):
            cls.column_to_properties.update(getattr(base, "column_to_properties", {}) or {})
        # A method redefined in the subclass replaces the base's function for its columns.
        for column, cp in list(cls.column_to_properties.items()):
            method_name = getattr(cp.fun, "_enb_method_name", None)
            if method_name and method_name in namespace and inspect.isfunction(
                    namespace[method_name]) and not hasattr(namespace[method_name],
                                                            "_enb_pending_columns"):
                raw = namespace[method_name]
                returns_cell = getattr(cp.fun, "_enb_returns_cell", False)
                names = getattr(cp.fun, "_enb_columns", (column,))
                group = [cls.column_to_properties[n] for n in names
                         if n in cls.column_to_properties]
                copies = [_copy_properties(p) for p in group]
                _register(cls, raw, copies, returns_cell)
        for attribute, value in namespace.items():
            # (A classmethod named column_* is left alone: ATable.column_function is one.)
            if isinstance(value, (staticmethod, classmethod)) and (
                    isinstance(value, staticmethod) and attribute.startswith(COLUMN_PREFIX)
                    and attribute != COLUMN_PREFIX
                    or hasattr(value, "_enb_pending_columns")
                    or hasattr(value.__func__, "_enb_pending_columns")):
                kind = type(value).__name__
                raise ColumnDefinitionError(
                    f"{name}.{attribute} is a {kind}: a column function is a plain method "
                    f"taking (self, index, row); remove @{kind} or rename it so that it does "
                    f"not start with {COLUMN_PREFIX!r}")
            if not inspect.isfunction(value):
                continue
            pending = getattr(value, "_enb_pending_columns", None)
            if pending is not None:
                _register(cls, value, [_copy_properties(p) for p in pending])
            elif attribute.startswith(COLUMN_PREFIX) and attribute != COLUMN_PREFIX:
                column = attribute[len(COLUMN_PREFIX):]
                if column in cls.column_to_properties and getattr(
                        cls.column_to_properties[column].fun, "_enb_method_name", None) == attribute:
                    continue  # already re-registered above
                _register(cls, value, [ColumnProperties(name=column)], returns_cell=True)
        if own:
            cls.column_to_properties.update(own)
        return cls


def _copy_properties(cp: ColumnProperties) -> ColumnProperties:
    duplicate = ColumnProperties.__new__(ColumnProperties)
    duplicate.__dict__.update(cp.__dict__)
    return duplicate


def _timestamp(self, index, row):  # pragma: no cover -- the engine fills timestamps itself
    raise RuntimeError("row_created and row_updated are filled by enb")


class ATable(metaclass=MetaTable):
    """A table whose rows are indices and whose columns are functions.

    ``index``: the name of the index column, or a list of names. ``csv_support_path``: where
    results are kept (None: in memory only, for the life of this instance).
    """
    #: Extension of dataset files used when no target indices are given.
    dataset_files_extension = ""
    #: The key column of the persistence CSV.
    private_index_column = KEY_COLUMN
    #: Columns that are neither computed nor stored.
    ignored_columns: list = []
    #: None, or a method ``row_scope(self, index, row)`` returning a context manager that each
    #: row's column functions run inside (set-up they share, undone when the row ends, also
    #: when a column fails). Compression experiments use it for their temporary files.
    row_scope = None
    #: Classes (or "module:QualName" strings) that columns declared with has_object_values
    #: may hold besides the common types enb loads itself (numpy, pandas, datetime, ...):
    #: object cells are unpickled through this allow-list, so a crafted file runs no code.
    stored_classes: tuple = ()

    def __init__(self, index="index", csv_support_path=None, column_to_properties=None,
                 progress_report_period=None):
        self.index = index
        self.csv_support_path = csv_support_path
        if column_to_properties is not None:
            self.column_to_properties = collections.OrderedDict(column_to_properties)
        for name in TIMESTAMP_COLUMNS:
            if name not in type(self).column_to_properties:
                type(self).column_to_properties[name] = ColumnProperties(name, fun=_timestamp)
            if name not in self.column_to_properties:
                self.column_to_properties[name] = ColumnProperties(name, fun=_timestamp)
        if progress_report_period is not None and progress_report_period < 0:
            raise ValueError(f"invalid progress_report_period {progress_report_period}")
        self.progress_report_period = progress_report_period
        self._store = None

    def __getstate__(self):
        # The store (and the rows it caches) stays on the head: workers write no file.
        state = dict(self.__dict__)
        state["_store"] = None
        return state

    # -- declaration helpers (enb 1.x API) ------------------------------------------------
    @classmethod
    def column_function(cls, *column_properties, **kwargs):
        """Decorator: like :func:`enb.atable.column_function`."""
        return column_function(*column_properties, **kwargs)

    @classmethod
    def redefines_column(cls, fun):
        return redefines_column(fun)

    @staticmethod
    def add_column_function(target_class, fun, column_properties):
        """Add a column to ``target_class`` (a class or an instance), even after get_df ran."""
        if isinstance(target_class, type) and not issubclass(target_class, ATable):
            raise SyntaxError(f"columns can only be added to ATable subclasses, not {target_class}")
        properties = _normalize_properties(
            column_properties if isinstance(column_properties, (list, tuple))
            else [column_properties], fun)
        return _register(target_class, fun, properties)

    @property
    def indices(self) -> list:
        return unpack_index_value(self.index)

    @property
    def indices_and_columns(self) -> list:
        return self.indices + [c for c in self.column_to_properties
                               if c not in self.indices and c not in self.ignored_columns]

    @property
    def name(self) -> str:
        return self.__class__.__name__

    # -- results ------------------------------------------------------------------------
    def get_df(self, target_indices=None, target_columns=None, fill=True, overwrite=None,
               chunk_size=None):
        """Return a DataFrame with one row per target index, computing only missing cells.

        ``target_indices``: the rows (default: every dataset file); ``target_columns``: the
        columns to compute (default: all); ``fill=False`` only loads stored rows;
        ``overwrite`` (default ``options.force``) recomputes the requested cells;
        ``chunk_size`` caps the rows sent to a worker at once. Raises
        :class:`ColumnFailedError` after saving everything else when column functions fail.
        """
        from . import engine
        return engine.get_df(self, target_indices=target_indices, target_columns=target_columns,
                             fill=fill, overwrite=overwrite, chunk_size=chunk_size)

    def get_all_input_indices(self, ext=None, base_dataset_dir=None):
        """Return every dataset file under ``base_dataset_dir`` (see get_all_input_files)."""
        return get_all_input_files(ext=ext, base_dataset_dir=base_dataset_dir)

    def load_saved_df(self):
        """Return the stored rows as a DataFrame, without computing anything."""
        from . import engine
        return engine.load_df(self)


# -- cell helpers (enb 1.x names) ---------------------------------------------------
def string_or_float(cell_value):
    try:
        return float(cell_value)
    except ValueError:
        text = str(cell_value).strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        return text


def get_nonscalar_value(cell_value):
    if isinstance(cell_value, (dict, list, tuple)):
        return cell_value
    if isinstance(cell_value, str):
        return ast.literal_eval(cell_value)
    raise ValueError(f"cannot read a dict, list or tuple from {cell_value!r}")


def get_all_input_files(ext=None, base_dataset_dir=None) -> list[str]:
    """Return the sorted dataset files under ``base_dataset_dir``, relative to the project root.

    Only names ending in ``ext`` are kept; ``-q`` keeps the first few. With no dataset folder,
    the running script itself is the only "file", as in enb 1.x (montecarlo-pi relies on it).
    """
    import sys

    from .config import options
    base_dataset_dir = options.project_path(base_dataset_dir) if base_dataset_dir \
        else options.base_dataset_dir
    if not os.path.isdir(base_dataset_dir):
        script = sys.argv[0] if sys.argv and sys.argv[0] else ""
        logger.info("no dataset folder at %s: using the script %s as the only input",
                    base_dataset_dir, os.path.basename(script))
        return [get_canonical_path(os.path.abspath(script))] if script else []
    paths = sorted((get_canonical_path(p) for p in _walk_dataset_files(base_dataset_dir, ext)),
                   key=str.lower)
    return paths[:options.quick] if options.quick else paths


def _walk_dataset_files(base_dir: str, ext) -> list[str]:
    """Return the files under ``base_dir`` whose names end in ``ext``, each real folder once.

    Symbolic links to files and folders are followed; a link back into a folder already being
    walked (a loop), or to a folder reached before by another path, is skipped, the loops
    reported once each. Hidden names are left out, as a glob of ``*`` does.
    """
    import fnmatch
    pattern = f"*{ext}" if ext else "*"
    found = []
    seen = set()

    def identity(path):
        try:
            info = os.stat(path)
        except OSError:  # a broken link
            return None
        return info.st_dev, info.st_ino

    def walk(folder, ancestors):
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            logger.warning("dataset folder %s cannot be read: %s", folder, error)
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = os.path.join(folder, entry.name)
            try:
                is_dir = entry.is_dir()  # follows links
            except OSError:
                continue
            if not is_dir:
                if fnmatch.fnmatchcase(entry.name, pattern) and os.path.isfile(path):
                    found.append(path)
                continue
            key = identity(path)
            if key is None:
                continue
            if key in ancestors:
                logger.warning(
                    "%s -> %s: a symbolic link loop in the dataset folder; skipped", path,
                    os.path.realpath(path))
                continue
            if key in seen:
                continue  # the same real folder through another link: its files are listed
            seen.add(key)
            walk(path, ancestors | {key})

    root = identity(base_dir)
    if root is not None:
        seen.add(root)
        walk(base_dir, frozenset({root}))
    return found



def __getattr__(name: str):
    # SummaryTable lives in enb.summary (it builds on ATable); enb 1.x scripts find it here.
    if name == "SummaryTable":
        from .summary import SummaryTable
        return SummaryTable
    raise AttributeError(f"module 'enb.atable' has no attribute {name!r}")
