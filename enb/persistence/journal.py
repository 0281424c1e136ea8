"""The journal of a table: finished rows appended as framed, checksummed records of CSV text.

A record holds rows exactly as the CSV will hold them (a JSON header: the CSV columns, the row
keys, the type tag of every cell; then the rows as CSV text), so reading one runs no code: the
same decoders read the journal and the CSV. Records are made by the workers
(:func:`encode_record`) and appended whole by the head. A record cut short by a crash or a full
disk is detected (length and checksum), cut away with a warning, and never appended after; a
damaged record in the middle is skipped to the next whole one, also with a warning.

File layout: ``MAGIC`` then records; a record is ``b"ENBr"``, the header length (4 bytes), the
body length (8 bytes), the CRC-32 of header and body (4 bytes), the CRC-32 of the 20 bytes
before it (4 bytes), the header, the body.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import struct
import zlib

from .errors import CorruptedTableError, StorageError
from .files import check_owner, open_private, write_all

logger = logging.getLogger(__name__)

MAGIC = b"ENBJOURNAL2\n"
_OLD_MAGIC = b"ENBJOURNAL1\n"
_MARK = b"ENBr"
_FRAME = struct.Struct(">4sIQI")
_FRAME_SIZE = _FRAME.size + 4


@dataclasses.dataclass(frozen=True)
class Record:
    """Rows of one journal record: CSV columns (key first), keys, tags and the CSV text."""
    header: tuple
    keys: list
    tags: dict       # column -> one tag, or a list with one tag per row
    body: bytes      # the rows as CSV text, no header line
    append_only: bool  # every row is new to the table and has every column


def encode_record(header, keys, tags, body: bytes, append_only: bool) -> bytes:
    """Return the framed bytes of one record."""
    meta = json.dumps({"header": list(header), "keys": keys, "tags": tags,
                       "append_only": append_only}, ensure_ascii=False,
                      separators=(",", ":")).encode("utf-8")
    frame = _FRAME.pack(_MARK, len(meta), len(body), zlib.crc32(body, zlib.crc32(meta)))
    return frame + struct.pack(">I", zlib.crc32(frame)) + meta + body


def body_of(framed: bytes) -> bytes:
    """Return the CSV text of one framed record (unchecked: bytes this process framed or was
    handed by the worker that framed them, never bytes read back from a file)."""
    _, meta_size, body_size, _ = _FRAME.unpack_from(framed, 0)
    start = _FRAME_SIZE + meta_size
    return framed[start:start + body_size]


def decode_record(data: bytes, offset: int = 0) -> tuple[Record | None, int]:
    """Return (the record at ``offset``, its end), or (None, reason) if no whole record is there.

    The reason is -1 for bytes that end before the record does (a torn tail), -2 for a damaged
    record.
    """
    if len(data) - offset < _FRAME_SIZE:
        return None, -1
    mark, meta_size, body_size, crc = _FRAME.unpack_from(data, offset)
    frame_crc, = struct.unpack_from(">I", data, offset + _FRAME.size)
    if mark != _MARK or zlib.crc32(data[offset:offset + _FRAME.size]) != frame_crc:
        return None, -2
    start = offset + _FRAME_SIZE
    end = start + meta_size + body_size
    if end > len(data):
        return None, -1
    meta, body = data[start:start + meta_size], data[start + meta_size:end]
    if zlib.crc32(body, zlib.crc32(meta)) != crc:
        return None, -2
    try:
        fields = json.loads(meta)
        record = Record(header=tuple(fields["header"]), keys=fields["keys"],
                        tags=fields["tags"], body=bytes(body),
                        append_only=bool(fields["append_only"]))
    except (ValueError, KeyError, TypeError):
        return None, -2
    return record, end


class Journal:
    """The journal file of one table. Callers hold the table's lock around every method."""

    def __init__(self, path: str):
        self.path = path
        self._fd: int | None = None
        self._end = 0  # where the last whole record this handle knows of ends

    # -- reading --------------------------------------------------------------------------
    def read(self, can_cut: bool) -> list[Record]:
        """Return the whole records, cutting a torn tail away when ``can_cut``."""
        try:
            fd = open_private(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return []
        try:
            check_owner(fd, self.path)
            data = _read_all(fd, self.path)
        finally:
            os.close(fd)
        records, end = self._parse(data)
        if end < len(data):
            self._cut(end, len(data) - end, can_cut)
        return records

    def _parse(self, data: bytes) -> tuple[list[Record], int]:
        if not data:
            return [], 0
        if data.startswith(_OLD_MAGIC):
            raise CorruptedTableError(
                msg=f"{self.path}: a journal of an earlier development version of enb, in a "
                    f"format that can run code; enb no longer reads it. Move it away (its "
                    f"rows are then computed again).")
        if not data.startswith(MAGIC):
            if len(data) < len(MAGIC) and MAGIC.startswith(data):
                return [], 0  # a crash while the file was being started
            raise CorruptedTableError(msg=f"{self.path}:1: not an enb journal; it is left "
                                          f"untouched. Move it away to continue.")
        records, offset, good_end = [], len(MAGIC), len(MAGIC)
        while offset < len(data):
            record, end = decode_record(data, offset)
            if record is not None:
                records.append(record)
                offset = good_end = end
                continue
            following = data.find(_MARK, offset + 1)
            while following != -1 and decode_record(data, following)[0] is None:
                following = data.find(_MARK, following + 1)
            if following == -1:
                break  # the tail: cut back to the last whole record
            logger.warning("%s: skipping %d damaged bytes at byte %d; the rows in them will "
                           "be computed again", self.path, following - offset, offset)
            offset = following
        return records, good_end

    def _cut(self, end: int, size: int, can_cut: bool) -> None:
        if not can_cut:
            logger.warning("%s: ignoring an incomplete last record (%d bytes) left by an "
                           "interrupted run (read-only: left in place)", self.path, size)
            return
        logger.warning("%s: cutting an incomplete last record (%d bytes) left by an "
                       "interrupted run or a full disk; its rows will be computed again",
                       self.path, size)
        try:
            os.truncate(self.path, end)
        except OSError as error:
            raise StorageError(self.path, "cutting the incomplete last record of", error) from None

    # -- appending ------------------------------------------------------------------------
    def append(self, record: bytes) -> None:
        """Append one whole record (retrying short writes; a failed one is cut back)."""
        fd = self._open_for_append()
        size = os.fstat(fd).st_size
        if size != self._end:
            self._check_tail(fd, size)  # another process appended, or left a torn record
            size = os.fstat(fd).st_size
        try:
            write_all(fd, record, self.path)
        except StorageError:
            try:
                os.ftruncate(fd, size)  # never leave half a record for others to append after
            except OSError:
                pass
            raise
        self._end = size + len(record)

    def _open_for_append(self) -> int:
        if self._fd is not None and not self._is_current():
            self.close()  # another process folded the journal (and removed it) since
        if self._fd is None:
            os.makedirs(os.path.dirname(self.path) or ".", exist_ok=True)
            fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                check_owner(fd, self.path)
                if os.fstat(fd).st_size < len(MAGIC):
                    os.ftruncate(fd, 0)
                    write_all(fd, MAGIC, self.path)
                    self._end = len(MAGIC)
                else:
                    self._end = -1  # unknown: check the tail before the first append
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        return self._fd

    def _check_tail(self, fd: int, size: int) -> None:
        data = _read_all(fd, self.path, seek=True)
        _, end = self._parse(data)
        if end < len(data):
            self._cut(end, len(data) - end, True)
        self._end = end

    def _is_current(self) -> bool:
        try:
            on_disk = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(self._fd)
        return (on_disk.st_ino, on_disk.st_dev) == (mine.st_ino, mine.st_dev)

    def sync(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError as error:
                raise StorageError(self.path, "flushing", error) from None

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None

    def written_only_by_this_handle(self, size_written: int) -> bool:
        """Whether the file holds exactly MAGIC plus the ``size_written`` bytes appended here."""
        try:
            return os.stat(self.path, follow_symlinks=False).st_size == len(MAGIC) + size_written
        except FileNotFoundError:
            return False

    def remove(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StorageError(self.path, "removing the folded journal", error) from None


def _read_all(fd: int, path: str, seek: bool = False) -> bytes:
    if seek:
        os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 24)
        except OSError as error:
            raise StorageError(path, "reading", error) from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def read_records(path: str) -> list[Record]:
    """Return the whole records of the journal at ``path`` (tests and tools; cuts nothing)."""
    return Journal(path).read(can_cut=False)
