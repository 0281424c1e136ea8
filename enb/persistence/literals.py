"""Python-literal text for cells: written as ``repr`` writes it, read without running code.

enb 1.x stores dicts and lists as their ``str()`` and reads them with ``ast.literal_eval``.
The writer here produces the same text for plain values (numpy scalars become Python numbers
first, so ``[np.float64(1.5)]`` is written ``[1.5]``, which enb 1.x reads too), and the reprs
of common types inside containers (``datetime.datetime(2026, 1, 1, 0, 0)``, ``nan``,
``array([1, 2], dtype=int8)``, ``PosixPath('a')``...). The reader parses the text into a syntax
tree and builds values from an exact list of literal forms and constructors; any other name,
attribute or call is refused, so a crafted cell cannot run code.
"""
from __future__ import annotations

import ast
import datetime
import math
import sys


class NotStorable(ValueError):
    """A value has no text form that reads back equal (the message says which type and why)."""


class LiteralError(ValueError):
    """A cell's text is not a literal enb can read."""


# -- writing -------------------------------------------------------------------------------
_PLAIN = (type(None), bool, int, float, str, bytes, complex)


def write_literal(value) -> str:
    """Return the Python-literal text of ``value``; raise :class:`NotStorable` if it has none."""
    try:
        parts: list[str] = []
        _write(value, parts)
        return "".join(parts)
    except RecursionError:
        raise NotStorable(f"{type(value).__name__} value nested too deep (or containing "
                          f"itself)") from None


def _write(value, out: list) -> None:
    kind = type(value)
    if kind in _PLAIN:
        if kind is int and value.bit_length() > 14000:
            try:
                out.append(repr(value))
            except ValueError:
                raise NotStorable(_too_many_digits(value)) from None
        else:
            out.append(repr(value))
        return
    if kind is list or kind is tuple:
        out.append("[" if kind is list else "(")
        for position, item in enumerate(value):
            if position:
                out.append(", ")
            _write(item, out)
        out.append("]" if kind is list else ",)" if len(value) == 1 else ")")
        return
    if kind is dict:
        out.append("{")
        for position, (key, item) in enumerate(value.items()):
            if position:
                out.append(", ")
            _write(key, out)
            out.append(": ")
            _write(item, out)
        out.append("}")
        return
    if kind is set or kind is frozenset:
        if not value:
            out.append(f"{kind.__name__}()")
            return
        out.append("{" if kind is set else "frozenset({")
        for position, item in enumerate(_sorted_if_possible(value)):
            if position:
                out.append(", ")
            _write(item, out)
        out.append("}" if kind is set else "})")
        return
    writer = _special_writer(value)
    if writer is None:
        raise NotStorable(f"{_type_name(value)} has no text form enb can read back")
    writer(value, out)


def _sorted_if_possible(items):
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def _too_many_digits(value: int) -> str:
    return (f"an int of about {int(value.bit_length() * 0.30103)} digits is over Python's "
            f"limit for int-to-text conversion ({sys.get_int_max_str_digits()}): call "
            f"sys.set_int_max_str_digits(0) in your script, or store it as a str")


def _type_name(value) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"


def _special_writer(value):
    kind = type(value)
    module = kind.__module__.split(".")[0]
    if module == "numpy":
        return _write_numpy
    if module == "pandas":
        return _PANDAS_WRITERS.get(kind.__name__)
    if kind in (datetime.datetime, datetime.date, datetime.time, datetime.timedelta,
                datetime.timezone):
        return _write_repr_checked
    if module in ("decimal", "fractions", "pathlib", "zoneinfo"):
        return _write_repr_checked
    if module == "collections" and kind.__name__ in ("OrderedDict", "Counter", "deque"):
        return _write_collection
    return None


def _write_repr_checked(value, out: list) -> None:
    text = repr(value)
    try:
        equal = read_literal(text) == value
    except LiteralError:
        equal = False
    if not equal:  # a repr that does not round-trip
        raise NotStorable(f"{_type_name(value)} has no text form enb can read back")
    out.append(text)


def _write_collection(value, out: list) -> None:
    name = type(value).__name__
    out.append(f"{name}(")
    if name == "deque":
        _write(list(value), out)
        if value.maxlen is not None:
            out.append(f", maxlen={value.maxlen}")
    else:
        _write(dict(value), out)
    out.append(")")


def _write_numpy(value, out: list) -> None:
    import numpy as np
    if isinstance(value, np.ndarray):
        if type(value) is not np.ndarray:
            raise NotStorable(f"a {_type_name(value)} (a subclass of numpy.ndarray)")
        if value.dtype.kind in "OV" or value.dtype.names or (
                value.dtype.kind in "fc" and value.dtype.itemsize > 16 // (
                    1 if value.dtype.kind == "c" else 2)):
            raise NotStorable(f"a numpy array of dtype {value.dtype} has no text form; "
                              f"declare the column with has_object_values=True")
        out.append("array(")
        if value.size == 0 and value.ndim > 1:
            out.append(f"[], dtype={str(value.dtype)!r}, shape={value.shape!r})")
            return
        _write(value.tolist() if value.dtype.kind not in "mM" else _datetimes(value), out)
        out.append(f", dtype={str(value.dtype)!r})")
        return
    if isinstance(value, np.datetime64):
        unit = np.datetime_data(value.dtype)[0]
        out.append(f"np.datetime64({str(value)!r}, {unit!r})")
        return
    if isinstance(value, np.timedelta64):
        unit = np.datetime_data(value.dtype)[0]
        out.append(f"np.timedelta64({int(value.astype('int64'))}, {unit!r})")
        return
    if isinstance(value, (np.bool_, np.integer, np.floating, np.complexfloating, np.str_,
                          np.bytes_)) and type(value) not in (np.longdouble, np.clongdouble):
        _write(value.item(), out)  # as enb 1.x's literal_eval can read it
        return
    if isinstance(value, np.dtype):
        out.append(f"dtype({str(value)!r})")
        return
    raise NotStorable(f"{_type_name(value)} has no text form enb can read back")


def _datetimes(array):
    return [_datetimes(row) for row in array] if array.ndim else str(array)


def _write_pandas_scalar(value, out: list) -> None:
    text = repr(value)
    if type(value).__name__ == "NaTType":
        text = "NaT"
    elif type(value).__name__ == "NAType":
        text = "NA"
    back = read_literal(text)
    if not (back is value or back == value):
        raise NotStorable(f"a {_type_name(value)} whose repr does not read back equal")
    out.append(text)


_PANDAS_WRITERS = {name: _write_pandas_scalar
                   for name in ("Timestamp", "Timedelta", "NaTType", "NAType")}


# -- reading -------------------------------------------------------------------------------
_NAMES = {"nan": math.nan, "inf": math.inf, "True": True, "False": False, "None": None}


def read_literal(text: str):
    """Return the value written as ``text``; raise :class:`LiteralError` if it is not one."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as error:
        raise LiteralError(f"not a Python literal ({type(error).__name__})") from None
    try:
        return _convert(tree.body)
    except RecursionError:
        raise LiteralError("nested too deep") from None
    except LiteralError:
        raise
    except (TypeError, ValueError, OverflowError, KeyError, ArithmeticError) as error:
        raise LiteralError(f"{type(error).__name__}: {error}") from None


def _convert(node):
    kind = type(node)
    if kind is ast.Constant:
        if node.value is Ellipsis:
            raise LiteralError("'...' is not a value")
        return node.value
    if kind is ast.List:
        return [_convert(item) for item in node.elts]
    if kind is ast.Tuple:
        return tuple(_convert(item) for item in node.elts)
    if kind is ast.Set:
        return {_convert(item) for item in node.elts}
    if kind is ast.Dict:
        if any(key is None for key in node.keys):
            raise LiteralError("'**' in a dict")
        return {_convert(key): _convert(value) for key, value in zip(node.keys, node.values)}
    if kind is ast.UnaryOp and isinstance(node.op, (ast.USub, ast.UAdd)):
        operand = _convert(node.operand)
        if type(operand) not in (int, float, complex):
            raise LiteralError("a sign before something that is not a number")
        return -operand if isinstance(node.op, ast.USub) else +operand
    if kind is ast.BinOp and isinstance(node.op, (ast.Add, ast.Sub)):
        left, right = _convert(node.left), _convert(node.right)
        if type(left) not in (int, float) or type(right) is not complex:
            raise LiteralError("arithmetic other than a complex number")
        return left + right if isinstance(node.op, ast.Add) else left - right
    if kind is ast.Name or kind is ast.Attribute:
        name = _dotted(node)
        if name in _NAMES:
            return _NAMES[name]
        constant = _CONSTANTS.get(name)
        if constant is None:
            raise LiteralError(f"name {name!r} is not a value enb reads")
        return constant()
    if kind is ast.Call:
        name = _dotted(node.func)
        maker = _CONSTRUCTORS.get(name)
        if maker is None:
            raise LiteralError(f"{name}(...) is not a constructor enb calls")
        args = [_convert(arg) for arg in node.args]
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise LiteralError("'**' in a call")
            kwargs[keyword.arg] = _convert(keyword.value)
        return maker(*args, **kwargs)
    raise LiteralError(f"{kind.__name__} is not part of a literal")


def _dotted(node) -> str:
    parts = []
    while type(node) is ast.Attribute:
        parts.append(node.attr)
        node = node.value
    if type(node) is not ast.Name:
        raise LiteralError("an attribute of something that is not a name")
    parts.append(node.id)
    return ".".join(reversed(parts))


# Constructors are called with literal arguments only; each one builds plain data.
def _numpy():
    import numpy
    return numpy


def _pandas():
    import pandas
    return pandas


def _checked_dtype(dtype):
    dtype = _numpy().dtype(dtype)
    if dtype.kind in "OV" or dtype.itemsize > 1 << 20:
        raise LiteralError(f"dtype {dtype} is not read from text")
    return dtype


def _array(data, dtype=None, shape=None):
    np = _numpy()
    dtype = _checked_dtype(dtype) if dtype is not None else None
    if shape is not None:
        if data != [] or math.prod(shape) != 0 or len(shape) > 32:
            raise LiteralError("shape= is only read for empty arrays")
        return np.empty(tuple(shape), dtype=dtype)
    return np.array(data, dtype=dtype)


def _numpy_scalar(name):
    def make(*args):
        if len(args) > 2 or (len(args) == 2 and name not in ("datetime64", "timedelta64")):
            raise LiteralError(f"np.{name} takes one value")
        return getattr(_numpy(), name)(*args)
    return make


def _zoneinfo(key=None):
    import zoneinfo
    return zoneinfo.ZoneInfo(key)


def _decimal(value="0"):
    import decimal
    return decimal.Decimal(value)


def _fraction(numerator=0, denominator=None):
    import fractions
    if not isinstance(numerator, (int, str)) or not isinstance(denominator, (int, type(None))):
        raise LiteralError("Fraction of something other than ints or a str")
    return fractions.Fraction(numerator, denominator)


def _path(kind):
    def make(*parts):
        import pathlib
        if not all(isinstance(part, str) for part in parts):
            raise LiteralError(f"{kind} of something other than str")
        return getattr(pathlib, kind)(*parts)
    return make


def _collection(kind):
    def make(data=(), **kwargs):
        import collections
        if kwargs and (kind != "deque" or set(kwargs) != {"maxlen"}):
            raise LiteralError(f"{kind} with keyword arguments")
        return getattr(collections, kind)(data, **kwargs)
    return make


def _set(kind):
    def make(items=()):
        return kind(items)
    return make


def _timestamp(value, tz=None, **kwargs):
    if kwargs:
        raise LiteralError("Timestamp with arguments other than tz")
    return _pandas().Timestamp(value, tz=tz)


def _timedelta(value):
    return _pandas().Timedelta(value)


def _datetime_kind(kind):
    def make(*args, **kwargs):
        return kind(*args, **kwargs)
    return make


_NUMPY_SCALARS = ("bool_", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32",
                  "uint64", "float16", "float32", "float64", "longdouble", "complex64",
                  "complex128", "str_", "bytes_", "datetime64", "timedelta64")

_CONSTRUCTORS = {
    "datetime.datetime": _datetime_kind(datetime.datetime),
    "datetime.date": _datetime_kind(datetime.date),
    "datetime.time": _datetime_kind(datetime.time),
    "datetime.timedelta": _datetime_kind(datetime.timedelta),
    "datetime.timezone": _datetime_kind(datetime.timezone),
    "zoneinfo.ZoneInfo": _zoneinfo,
    "Decimal": _decimal, "decimal.Decimal": _decimal,
    "Fraction": _fraction, "fractions.Fraction": _fraction,
    "set": _set(set), "frozenset": _set(frozenset),
    "OrderedDict": _collection("OrderedDict"), "Counter": _collection("Counter"),
    "deque": _collection("deque"),
    "array": _array, "dtype": _checked_dtype,
    "Timestamp": _timestamp, "Timedelta": _timedelta,
}
for _kind in ("Path", "PosixPath", "WindowsPath", "PurePath", "PurePosixPath",
              "PureWindowsPath"):
    _CONSTRUCTORS[_kind] = _path(_kind)
for _name in _NUMPY_SCALARS:
    _CONSTRUCTORS[f"np.{_name}"] = _CONSTRUCTORS[f"numpy.{_name}"] = _numpy_scalar(_name)

_CONSTANTS = {
    "datetime.timezone.utc": lambda: datetime.timezone.utc,
    "NaT": lambda: _pandas().NaT,
    "NA": lambda: _pandas().NA,
    "np.True_": lambda: _numpy().True_, "np.False_": lambda: _numpy().False_,
    "np.nan": lambda: math.nan, "np.inf": lambda: math.inf,
}
