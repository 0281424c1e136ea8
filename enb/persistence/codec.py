"""Cells as CSV text with a type tag, and back: one codec for the journal and the CSV.

Workers encode (:func:`encode_cell`), so a value that cannot be stored fails its own row when it
is computed, naming the column and the type. The head decodes whole columns at a time
(:func:`decode_column`). Tags:

===========  ==========================================  =================================
tag          CSV text                                    read back as
===========  ==========================================  =================================
``int``      ``str(v)`` (fits in 64 bits)                int (an int64 column)
``bigint``   ``str(v)``                                  int
``float``    ``repr(v)``: ``0.1``, ``nan``, ``inf``      float
``bool``     ``True`` / ``False``                        bool
``str``      the string itself                           str
``pystr``    its Python literal (lone surrogates,        str
             NUL or carriage returns, which CSV text
             cannot carry)
``datetime`` ``str(v)``: ``2026-01-01 12:00:00``          datetime.datetime
``date``     ``2026-01-01``                              datetime.date
``path``     the path                                    pathlib.Path
``literal``  a Python literal (:mod:`.literals`)         lists, dicts, arrays, ...
``pickle``   enb 1.x's ``repr(pickle.dumps(v))``         through the allow-list (:mod:`.objects`)
``absent``   empty: a cell never computed                (missing)
===========  ==========================================  =================================

numpy scalars are stored as the Python numbers they equal, as enb 1.x's readers expect.
"""
from __future__ import annotations

import datetime
import math
import pathlib

from .literal_columns import read_literal_column
from .literals import LiteralError, NotStorable, read_literal, write_literal
from .objects import ObjectRefused, dump_object, load_object

ABSENT = "absent"
TEXT_TAGS = frozenset({"int", "bigint", "float", "bool", "str", "pystr", "datetime", "date",
                       "path", "literal", "pickle", ABSENT})
_INT64 = (-(1 << 63), 1 << 63)
#: Tags whose uniform columns pandas reads typed, and the dtypes it reads them into.
TYPED_DTYPES = {"int": "int64", "float": "float64", "bool": "bool"}


def _int(value):
    if _INT64[0] <= value < _INT64[1]:
        return "int", str(value)
    try:
        return "bigint", str(value)
    except ValueError:
        raise NotStorable(f"an int of about {int(value.bit_length() * 0.30103)} digits is over "
                          f"Python's limit for int-to-text conversion: call "
                          f"sys.set_int_max_str_digits(0) in your script, or store it as a "
                          f"str") from None


def _str(value):
    if "\r" in value or "\x00" in value:
        return "pystr", repr(value)
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # lone surrogates, as os.listdir gives for non-UTF-8 names
            return "pystr", repr(value)
    return "str", value


def _datetime(value):
    if value.tzinfo is None or type(value.tzinfo) is datetime.timezone:
        return "datetime", str(value)
    return "literal", write_literal(value)


def _path(value):
    text = str(value)
    tag, _ = _str(text)
    return ("path", text) if tag == "str" and text else ("literal", write_literal(value))


_ENCODERS = {
    int: _int,
    float: lambda value: ("float", repr(value)),
    bool: lambda value: ("bool", "True" if value else "False"),
    str: _str,
    datetime.datetime: _datetime,
    datetime.date: lambda value: ("date", value.isoformat()),
    pathlib.PosixPath: _path,
}


def encode_cell(value, kind: str | None = None, allowed: frozenset = frozenset()):
    """Return ``(tag, text)`` of one cell; raise NotStorable saying why it cannot be stored.

    ``kind`` is the column's declared storage: "pickle" (``has_object_values``), "ast"
    (``has_dict_values``/``has_iterable_values``) or None (by value).
    """
    if kind == "pickle":
        try:
            return "pickle", repr(dump_object(value, allowed))
        except ObjectRefused as refused:
            raise NotStorable(f"the pickled {_type_name(value)} needs {refused}, which enb "
                              f"does not load from files: list that class in the table's "
                              f"stored_classes") from None
        except Exception as error:  # noqa: BLE001 -- pickle raises many kinds
            raise NotStorable(f"{_type_name(value)} cannot be pickled "
                              f"({type(error).__name__}: {error})") from None
    if kind == "ast":
        return "literal", write_literal(value)
    encoder = _ENCODERS.get(type(value))
    if encoder is not None:
        return encoder(value)
    if type(value).__module__ == "numpy":
        import numpy
        if isinstance(value, (numpy.bool_, numpy.integer, numpy.floating, numpy.str_)) and \
                not isinstance(value, (numpy.timedelta64, numpy.longdouble)):
            return encode_cell(value.item())
    try:
        return "literal", write_literal(value)
    except NotStorable as error:
        raise NotStorable(f"{error}; declare the column with has_object_values=True to store "
                          f"it pickled") from None


def _type_name(value) -> str:
    kind = type(value)
    return kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"


# -- decoding ------------------------------------------------------------------------------
class CellError(ValueError):
    """A cell's text cannot be read with its tag."""

    def __init__(self, position: int, text: str, tag: str, reason: str):
        super().__init__(f"cannot read {text[:60]!r} as {tag} ({reason})")
        self.position = position


def decode_column(texts, tag: str, allowed: frozenset = frozenset()):
    """Return the values of ``texts`` (a sequence of str) written with ``tag``.

    int and float columns come back as numpy arrays, others as lists.
    """
    if tag == "int":
        import numpy
        try:
            return numpy.asarray(texts, dtype=object).astype(numpy.int64)
        except (ValueError, OverflowError, TypeError):
            return _each(texts, tag, int)
    if tag == "float":
        import numpy
        try:
            return numpy.asarray(texts, dtype=object).astype(numpy.float64)
        except (ValueError, TypeError):
            return _each(texts, tag, float)
    if tag == "str":
        return list(texts)
    if tag == "literal":
        try:
            return read_literal_column(texts)
        except LiteralError:
            return _each(texts, tag, read_literal)
    if tag == "pickle":
        return _each(texts, tag, lambda text: _unpickle(text, allowed))
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise CellError(0, "", tag, "unknown type tag")
    return _each(texts, tag, decoder)


def _each(texts, tag, decoder) -> list:
    values = []
    for position, text in enumerate(texts):
        try:
            values.append(decoder(text))
        except (ValueError, TypeError, OverflowError, LiteralError, ObjectRefused) as error:
            raise CellError(position, text, tag, f"{type(error).__name__}: {error}") from None
        except Exception as error:  # noqa: BLE001 -- an unpickled constructor may raise anything
            raise CellError(position, text, tag, f"{type(error).__name__}: {error}") from None
    return values


def _bool(text: str) -> bool:
    if text == "True":
        return True
    if text == "False":
        return False
    raise ValueError("neither True nor False")


def _pystr(text: str) -> str:
    value = read_literal(text)
    if type(value) is not str:
        raise ValueError("not a string literal")
    return value


def _unpickle(text: str, allowed: frozenset):
    data = read_literal(text)
    if type(data) is not bytes:
        raise ValueError("not a bytes literal")
    try:
        return load_object(data, allowed)
    except ObjectRefused as refused:
        raise ObjectRefused(f"refusing {refused} in a pickled cell (enb loads only the types "
                            f"it ships and those in the table's stored_classes)") from None


def _float(text: str) -> float:
    value = float(text)
    if math.isnan(value) and text not in ("nan", "NaN", "-nan"):
        raise ValueError("not a number")
    return value


_DECODERS = {
    "int": int, "bigint": int, "float": _float, "bool": _bool, "str": str, "pystr": _pystr,
    "datetime": datetime.datetime.fromisoformat, "date": datetime.date.fromisoformat,
    "path": pathlib.Path, "literal": read_literal, "pickle": None,
}
