"""Tarlite: several files in one, by name only (enb 1.x's format, read and written alike).

The format: a line with the files' sizes in bytes separated by ``,``, a line with their base
names separated by ``/``, then the files' bytes one after the other. Folders are not kept, so
two files of one archive cannot share a name; on extraction, a repeated name becomes
``(1)_name``, ``(2)_name``..., as enb 1.x extracts them.
"""
from __future__ import annotations

import collections
import os

_BLOCK = 1 << 20


class TarliteError(ValueError):
    """A tarlite file is malformed, or a file cannot be stored in one (the message says which)."""


class TarliteWriter:
    """Collect files, then write them into one tarlite file."""

    def __init__(self, initial_input_paths=None):
        self.input_paths: list[str] = []
        for path in initial_input_paths or ():
            self.add_file(path)

    def add_file(self, input_path) -> None:
        """Add a file to write (it is read when :meth:`write` runs)."""
        input_path = os.fspath(input_path)
        if not os.path.isfile(input_path):
            raise TarliteError(f"{input_path} is not a file")
        name = os.path.basename(input_path)
        if any(c in name for c in ",/\r\n") or name.strip() != name or not name:
            # enb 1.x separates names with '/', sizes with ',' and strips names when reading
            raise TarliteError(f"{input_path}: a tarlite file cannot store the name {name!r} "
                               f"(no ',', '/', line breaks, or spaces at either end)")
        self.input_paths.append(input_path)

    def write(self, output_path) -> None:
        """Write every added file into ``output_path`` (replaced whole, never half-written)."""
        missing = [p for p in self.input_paths if not os.path.isfile(p)]
        if missing:
            raise TarliteError(f"{missing[0]} disappeared before it could be written")
        output_path = os.fspath(output_path)
        sizes = [os.path.getsize(p) for p in self.input_paths]
        header = ",".join(map(str, sizes)) + "\n" + \
            "/".join(os.path.basename(p) for p in self.input_paths) + "\n"
        partial = f"{output_path}.{os.getpid()}.partial"
        try:
            with open(partial, "wb") as output:
                output.write(header.encode("utf-8"))
                for path, size in zip(self.input_paths, sizes):
                    with open(path, "rb") as source:
                        copied = _copy(source, output, size)
                    if copied != size:
                        raise TarliteError(f"{path} changed size while being written")
            os.replace(partial, output_path)
        except BaseException:
            if os.path.exists(partial):
                os.unlink(partial)
            raise


class TarliteReader:
    """Read a tarlite file written by :class:`TarliteWriter` (or by enb 1.x)."""

    def __init__(self, tarlite_path):
        self.input_path = os.fspath(tarlite_path)

    def entries(self) -> list[tuple[str, int]]:
        """Return ``[(name, size)]`` of the archive's files, in order."""
        with open(self.input_path, "rb") as source:
            return self._header(source)

    def _header(self, source) -> list[tuple[str, int]]:
        sizes_line = source.readline().decode("utf-8", errors="replace").rstrip("\r\n")
        names_line = source.readline().decode("utf-8", errors="replace").rstrip("\r\n")
        if not sizes_line and not names_line:
            return []
        try:
            sizes = [int(size) for size in sizes_line.split(",")]
        except ValueError:
            raise TarliteError(f"{self.input_path}:1: not a tarlite file (the first line must be "
                               f"the files' sizes separated by commas)") from None
        names = [name.strip() for name in names_line.split("/")]
        if len(sizes) != len(names) or any(s < 0 for s in sizes):
            raise TarliteError(f"{self.input_path}:2: {len(names)} names for {len(sizes)} sizes")
        for name in names:
            if not name or name in (os.curdir, os.pardir) or os.sep in name:
                raise TarliteError(f"{self.input_path}:2: refusing to extract the name {name!r}")
        return list(zip(names, sizes))

    def extract_all(self, output_dir_path) -> list[str]:
        """Write every file of the archive into ``output_dir_path``; return the paths written."""
        output_dir_path = os.fspath(output_dir_path)
        os.makedirs(output_dir_path, exist_ok=True)
        seen: collections.Counter = collections.Counter()
        written = []
        with open(self.input_path, "rb") as source:
            for name, size in self._header(source):
                count = seen[name]
                seen[name] += 1
                path = os.path.join(output_dir_path, name if count == 0 else f"({count})_{name}")
                with open(path, "wb") as output:
                    copied = _copy(source, output, size)
                if copied != size:
                    raise TarliteError(f"{self.input_path}: truncated, {name} has {copied} of its "
                                       f"{size} bytes")
                written.append(path)
        return written


def _copy(source, output, size: int) -> int:
    """Copy ``size`` bytes (fewer at the end of ``source``); return how many were copied."""
    left = size
    while left:
        block = source.read(min(_BLOCK, left))
        if not block:
            break
        output.write(block)
        left -= len(block)
    return size - left


def tarlite_files(input_paths, output_tarlite_path) -> None:
    """Write the files ``input_paths`` into one tarlite file."""
    TarliteWriter(initial_input_paths=input_paths).write(output_tarlite_path)


def untarlite_files(input_tarlite_path, output_dir_path) -> list[str]:
    """Extract every file of a tarlite file into ``output_dir_path``."""
    return TarliteReader(input_tarlite_path).extract_all(output_dir_path)


__all__ = ["TarliteWriter", "TarliteReader", "TarliteError", "tarlite_files", "untarlite_files"]
