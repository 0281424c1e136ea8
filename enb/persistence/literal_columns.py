"""Whole columns of literal cells read at C speed, through the JSON parser.

Python's repr of a list or dict of numbers, plain strings, ``True``, ``False``, ``None``,
``nan`` and ``inf`` is JSON once its quotes are double quotes and those five words are spelt
as JSON spells them. When no cell of a batch holds a double quote or a backslash, every
single quote delimits a string, so the words can be respelt outside the strings alone (the
text is split at the quotes, the parts outside strings respelt together, and joined again);
then one ``json.loads`` reads the whole batch. Anything else (tuples, sets, int keys, numpy
reprs, text that is not a literal) makes the JSON parser fail, and those cells are read one
by one with :func:`.literals.read_literal`. Both readers give equal values for the text they
both accept.
"""
from __future__ import annotations

import json
import math

from .literals import read_literal

#: Cells read by one json.loads call (bounds the temporary strings of a batch).
BATCH = 20_000
_CELL, _OUTSIDE = "\x01", "\x02"  # separators no accepted cell contains
#: Python's spelling -> JSON's, outside strings.
_WORDS = (("True", "true"), ("False", "false"), ("None", "null"), ("nan", "NaN"),
          ("inf", "Infinity"))
#: JSON's own spellings are not Python literals: text holding them is not read as JSON.
_JSON_ONLY = ("true", "false", "null", "NaN", "Infinity")
_CONSTANTS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
_DECODER = json.JSONDecoder(parse_constant=_CONSTANTS.__getitem__)


def read_literal_column(texts) -> list:
    """Return the values of literal cells (a sequence of str), in order."""
    values: list = []
    for start in range(0, len(texts), BATCH):
        batch = list(texts[start:start + BATCH])
        found = _as_json(batch)
        values.extend(found if found is not None else _mixed(batch))
    return values


def _mixed(batch: list) -> list:
    """Read the cells that may be JSON together, the others one by one."""
    candidates = [i for i, text in enumerate(batch) if _may_be_json(text)]
    values = [None] * len(batch)
    found = _as_json([batch[i] for i in candidates]) if candidates else None
    if found is not None:
        for i, value in zip(candidates, found):
            values[i] = value
        rest = set(candidates)
    else:
        rest = set()
    for i, text in enumerate(batch):
        if i not in rest:
            values[i] = _one(text)
    return values


def _may_be_json(text: str) -> bool:
    return text[:1] in ("[", "{") and '"' not in text and "\\" not in text and \
        _CELL not in text and _OUTSIDE not in text


def _one(text: str):
    if _may_be_json(text):
        found = _as_json([text])
        if found is not None:
            return found[0]
    return read_literal(text)


def _as_json(batch: list):
    """Return the values of ``batch`` read as JSON, or None if they are not all JSON-able."""
    if not batch:
        return []
    joined = _CELL.join(batch)
    if '"' in joined or "\\" in joined or _OUTSIDE in joined or \
            joined.count(_CELL) != len(batch) - 1 or joined[:1] not in ("[", "{") or \
            joined.count(_CELL + "[") + joined.count(_CELL + "{") != len(batch) - 1:
        return None
    if joined.count("'") % 2:
        return None  # an unbalanced quote: not a literal of plain strings
    if not any(word in joined for word in _JSON_ONLY + tuple(w for w, _ in _WORDS)):
        text = joined.replace("'", '"').replace(_CELL, ",")  # nothing to respell anywhere
    else:
        parts = joined.split("'")
        outside = _OUTSIDE.join(parts[0::2])
        if any(word in outside for word in _JSON_ONLY):
            return None
        for python, spelt in _WORDS:
            if python in outside:
                outside = outside.replace(python, spelt)
        respelt = outside.replace(_CELL, ",").split(_OUTSIDE)
        if len(respelt) != len(parts[0::2]):
            return None
        parts[0::2] = respelt
        text = '"'.join(parts)
    try:
        values = _DECODER.decode("[" + text + "]")
    except (ValueError, RecursionError):
        return None
    return values if len(values) == len(batch) else None
