"""Object cells: pickled as enb 1.x pickles them, unpickled through an exact allow-list.

Only columns a table declares with ``has_object_values=True`` hold pickles. Loading one looks up
every global the pickle names in a set of exact ``(module, name)`` pairs: the common types enb
ships (numpy arrays, scalars and dtypes, pandas Series/DataFrame/Index/Timestamp, datetime,
decimal, fractions, pathlib, collections) plus the classes the table lists in
``ATable.stored_classes``. Anything else (``os.system``, ``operator.attrgetter``,
``builtins.getattr`` on arbitrary objects, ...) is refused before it is called, so a crafted
cell runs no code.
"""
from __future__ import annotations

import io
import pickle
from typing import Iterable

#: The protocol enb 1.x writes (pickle's default): files stay readable by it.
PROTOCOL = 4

_SHIPPED = frozenset({
    ("builtins", name) for name in ("set", "frozenset", "complex", "bytearray", "range",
                                    "slice", "list", "dict", "tuple", "int", "float", "str",
                                    "bytes", "bool", "object")
} | {
    ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("_codecs", "encode"),
    ("collections", "OrderedDict"), ("collections", "Counter"), ("collections", "deque"),
    ("collections", "defaultdict"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"),
    ("datetime", "timedelta"), ("datetime", "timezone"), ("zoneinfo", "ZoneInfo"),
    ("decimal", "Decimal"), ("fractions", "Fraction"),
    ("pathlib", "Path"), ("pathlib", "PosixPath"), ("pathlib", "PurePosixPath"),
    ("pathlib", "WindowsPath"), ("pathlib", "PureWindowsPath"),
    ("pathlib._local", "PosixPath"), ("pathlib._local", "PurePosixPath"),
    ("pathlib._local", "WindowsPath"), ("pathlib._local", "PureWindowsPath"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("pandas", "Series"), ("pandas", "DataFrame"), ("pandas", "Index"),
    ("pandas", "RangeIndex"), ("pandas", "MultiIndex"), ("pandas", "DatetimeIndex"),
    ("pandas", "Categorical"), ("pandas", "CategoricalDtype"), ("pandas", "StringDtype"),
    ("pandas", "Int64Dtype"), ("pandas", "NA"),
    ("pandas.arrays", "DatetimeArray"), ("pandas.arrays", "IntegerArray"),
    ("pandas.arrays", "StringArray"), ("pandas.arrays", "BooleanArray"),
    ("pandas.arrays", "FloatingArray"),
    ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas._libs.internals", "_unpickle_block"),
    ("pandas._libs.tslibs.nattype", "_nat_unpickle"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
    ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"),
})
# numpy's dtype classes (numpy.dtypes.Float64DType, ...) pickle under their own names.
_SHIPPED_MODULES_OF_TYPES = frozenset({"numpy.dtypes"})
#: ``getattr(cls, name)`` a pickle may ask for: class methods used as reconstructors.
_ATTRIBUTES = frozenset({(("zoneinfo", "ZoneInfo"), "_unpickle")})


class ObjectRefused(pickle.UnpicklingError):
    """A pickled cell names a global that is not on the allow-list."""


def class_pairs(classes: Iterable) -> frozenset:
    """Return the exact (module, qualified name) pairs of ``classes`` (classes or "mod:name")."""
    pairs = set()
    for cls in classes or ():
        if isinstance(cls, str):
            module, _, name = cls.partition(":")
            pairs.add((module, name))
        else:
            pairs.add((cls.__module__, cls.__qualname__))
    return frozenset(pairs)


class _AnyClass(frozenset):
    """The allow-list of a table kept in memory: its cells never come from a file, so any
    class its column functions return may be kept (enb 1.x's own tests keep the script's)."""

    def __contains__(self, item):
        return True

    def __reduce__(self):
        return _any_class, ()


def _any_class() -> "_AnyClass":
    return ANY_CLASS


ANY_CLASS = _AnyClass()


class _AllowListUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes, allowed: frozenset):
        super().__init__(io.BytesIO(data))
        self._allowed = allowed

    def find_class(self, module, name):
        if module == "builtins" and name == "getattr":
            return self._getattr
        pair = (module, name)
        if pair in _SHIPPED or pair in self._allowed:
            return super().find_class(module, name)
        if module in _SHIPPED_MODULES_OF_TYPES:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise ObjectRefused(f"{module}.{name}")

    def _getattr(self, owner, name, *default):
        key = ((getattr(owner, "__module__", None), getattr(owner, "__qualname__", None)), name)
        if key not in _ATTRIBUTES or default:
            raise ObjectRefused(f"getattr({key[0][0]}.{key[0][1]}, {name!r})")
        return getattr(owner, name)


def load_object(data: bytes, allowed: frozenset = frozenset()):
    """Unpickle ``data`` allowing only enb's shipped types and the ``allowed`` pairs."""
    return _AllowListUnpickler(data, allowed).load()


def dump_object(value, allowed: frozenset = frozenset()) -> bytes:
    """Pickle ``value``; raise ObjectRefused (naming the class) if it would not load back."""
    data = pickle.dumps(value, protocol=PROTOCOL)
    load_object(data, allowed)
    return data
