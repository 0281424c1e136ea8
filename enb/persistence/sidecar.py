"""The ``.types`` file beside a CSV: the type tag of every column (and of odd cells), per version.

The CSV holds text; the tags say what each cell was ("007" a str, 7 an int, "" a str or a cell
never computed). The file keeps two generations, each with the size and SHA-256 of the CSV
it describes: it is written before the CSV is replaced, so after a crash between the two the
CSV matches the older generation, and a CSV changed by hand or by another program matches
none (then the newest generation's tags are used, cell by cell, and that is said).

Format (JSON object)::

    {"enb_types": 2, "generations": [
        {"csv_size": 1234, "csv_sha256": "...", "csv_inode": 5678, "csv_mtime_ns": 17...,
         "columns": {"n": "int", "name": "str",
                     "mixed": {"tag": "int", "cells": {"('b',)": "str", "('c',)": "absent"}}}},
        ...]}
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os

from .codec import ABSENT, TEXT_TAGS
from .errors import CorruptedTableError
from .files import atomic_write, open_private


@dataclasses.dataclass(frozen=True)
class Generation:
    """The tags of one version of the CSV: column -> tag, or (majority tag, {key: tag}).

    ``csv_inode`` and ``csv_mtime_ns`` are those of the file enb wrote (-1: not recorded): a
    CSV with the same inode, size and modification time is that file without hashing it again,
    as make and rsync judge files.
    """
    csv_size: int
    csv_sha256: str
    columns: dict
    csv_inode: int = -1
    csv_mtime_ns: int = -1

    def is_file(self, info) -> bool:
        """Whether ``info`` (an os.stat_result) is the very file this generation describes."""
        return self.csv_inode >= 0 and (info.st_ino, info.st_size, info.st_mtime_ns) == (
            self.csv_inode, self.csv_size, self.csv_mtime_ns)


def read_generations(path: str) -> list[Generation] | None:
    """Return the generations in ``path``, newest first; None if there is no file."""
    try:
        fd = open_private(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read()
    try:
        meta = json.loads(data)
    except ValueError as error:
        raise CorruptedTableError(msg=f"{path}: not JSON ({error}); this types file is damaged. "
                                      f"Move it away: enb then infers the column types from "
                                      f"the CSV.") from None
    if not isinstance(meta, dict):
        raise CorruptedTableError(msg=f"{path}: a JSON {type(meta).__name__}, not an object: "
                                      f"this is not an enb types file. Move it away: enb then "
                                      f"infers the column types from the CSV.")
    if meta.get("enb_types") == 1:
        return [_from_version_1(meta, path)]
    try:
        if meta.get("enb_types") != 2:
            raise ValueError(f"enb_types is {meta.get('enb_types')!r}, not 2")
        generations = [Generation(int(g["csv_size"]), str(g["csv_sha256"]),
                                  {str(c): _column(t) for c, t in g["columns"].items()},
                                  int(g.get("csv_inode", -1)), int(g.get("csv_mtime_ns", -1)))
                       for g in meta["generations"]]
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise CorruptedTableError(msg=f"{path}: not an enb types file ({error}). Move it away: "
                                      f"enb then infers the column types from the CSV.") from None
    return generations


def _column(entry):
    if isinstance(entry, str):
        if entry not in TEXT_TAGS:
            raise ValueError(f"unknown tag {entry!r}")
        return entry
    tag, cells = entry["tag"], entry["cells"]
    if tag not in TEXT_TAGS or not isinstance(cells, dict) or \
            not all(isinstance(k, str) and v in TEXT_TAGS for k, v in cells.items()):
        raise ValueError("malformed cell tags")
    return (tag, cells)


_V1_TAGS = {"none": ABSENT, "bool": "bool", "int": "int", "float": "float", "str": "str",
            "dict": "literal", "list": "literal", "tuple": "literal", "ast": "literal",
            "pickle": "pickle"}


def _from_version_1(meta: dict, path: str) -> Generation:
    """Read the types file of enb's first development format (types and missing cells)."""
    try:
        columns = {}
        for column, tag in meta.get("types", {}).items():
            missing = meta.get("missing", {}).get(column, [])
            tag = _V1_TAGS.get(tag, "str")
            columns[column] = (tag, {key: ABSENT for key in missing}) if missing else tag
    except (AttributeError, TypeError) as error:
        raise CorruptedTableError(msg=f"{path}: not an enb types file ({error}).") from None
    return Generation(-1, "", columns)


def write_generations(path: str, newest: Generation, previous: Generation | None) -> None:
    """Write ``newest`` (and the generation it replaces) to ``path`` atomically."""
    generations = [newest] + ([previous] if previous is not None and previous.csv_size >= 0
                              else [])
    meta = {"enb_types": 2, "generations": [
        {"csv_size": g.csv_size, "csv_sha256": g.csv_sha256, "csv_inode": g.csv_inode,
         "csv_mtime_ns": g.csv_mtime_ns,
         "columns": {c: t if isinstance(t, str) else {"tag": t[0], "cells": t[1]}
                     for c, t in g.columns.items()}} for g in generations]}
    atomic_write(path, json.dumps(meta, ensure_ascii=False).encode("utf-8"))


def summarise(keys, tags) -> object:
    """Return the on-disk form of a column's tags: one tag, or (majority, {key: other tag})."""
    if isinstance(tags, str):
        return tags
    counts = collections.Counter(tags)
    if len(counts) == 1:
        return next(iter(counts))
    majority = counts.most_common(1)[0][0]
    return (majority, {key: tag for key, tag in zip(keys, tags) if tag != majority})
