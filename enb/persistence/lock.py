"""The lock of a table: exclusive to write, shared to read, none where the folder is read-only.

A wait of more than a second is said at default verbosity, with the holder's process id when
``/proc/locks`` tells it.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
from typing import Iterator

from .files import open_private

logger = logging.getLogger(__name__)

#: Seconds of waiting before the wait is said (and then every minute).
SAY_WAIT_AFTER = 1.0


@contextlib.contextmanager
def table_lock(path: str, exclusive: bool) -> Iterator[bool]:
    """Hold the lock file ``path``; yield True, or False when reading without any lock.

    Readers (``exclusive=False``) of a table in a folder they cannot write take a shared lock
    on an existing lock file, or none if there is none (said at -v).
    """
    fd = _open(path, exclusive)
    if fd is None:
        logger.info("%s: cannot create the lock file (read-only folder); reading without a "
                    "lock", path)
        yield False
        return
    try:
        _acquire(fd, path, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _open(path: str, exclusive: bool) -> int | None:
    folder = os.path.dirname(path)
    if exclusive:
        os.makedirs(folder, exist_ok=True)
    try:
        return open_private(path, os.O_RDWR | os.O_CREAT)
    except OSError as error:
        if exclusive or error.errno not in (errno.EACCES, errno.EROFS, errno.EPERM,
                                            errno.ENOENT):
            raise
    try:
        return open_private(path, os.O_RDONLY)
    except (FileNotFoundError, PermissionError):
        return None


def _acquire(fd: int, path: str, operation: int) -> None:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    started = time.monotonic()
    said = 0.0
    delay = 0.005
    while True:
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
        try:
            fcntl.flock(fd, operation | fcntl.LOCK_NB)
            if said:
                logger.warning("%s: got the lock after %.1f s", path, time.monotonic() - started)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - started
        if waited >= SAY_WAIT_AFTER and (not said or waited - said >= 60):
            holder = holder_pid(fd)
            logger.warning("waiting for the lock of %s: %s uses this table (%.0f s so far)",
                           path[:-len(".lock")] if path.endswith(".lock") else path,
                           f"process {holder}" if holder else "another process", waited)
            said = waited


def holder_pid(fd: int) -> int | None:
    """Return the pid holding a lock on the file open at ``fd``, when /proc/locks says it."""
    info = os.fstat(fd)
    wanted = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            for line in locks:
                fields = line.split()
                if "->" in fields:
                    continue  # a waiter, not a holder
                if len(fields) >= 6 and fields[5] == wanted and fields[4] != str(os.getpid()):
                    return int(fields[4]) if fields[4].isdigit() else None
    except OSError:
        return None
    return None
