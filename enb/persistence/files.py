"""File primitives of the store: whole writes, atomic replacement, opens that follow no link.

Every failure names the file (:class:`StorageError`); a temporary file is made with
``tempfile`` (``O_EXCL``, unpredictable name) beside its target and removed on failure.
"""
from __future__ import annotations

import errno
import os
import stat
import tempfile

from .errors import CorruptedTableError, StorageError


def write_all(fd: int, data: bytes, path: str) -> None:
    """Write all of ``data`` to ``fd``, retrying short writes; raise StorageError naming ``path``."""
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except InterruptedError:
            continue
        except OSError as error:
            raise StorageError(path, "writing", error) from None
        if written == 0:
            raise StorageError(path, "writing", OSError(errno.ENOSPC, "no byte written"))
        view = view[written:]


def fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def real_target(path: str) -> str:
    """Return the file a symbolic link at ``path`` points to (``path`` itself if not a link)."""
    return os.path.realpath(path) if os.path.islink(path) else path


class PendingFile:
    """A new version of ``path`` written beside it; :meth:`commit` replaces ``path`` with it.

    A symbolic link at ``path`` stays a link: its target is replaced. The new file keeps the
    old one's permission bits (default 0o644 less the umask). The SHA-256 of what was written
    is in :attr:`sha256` and its size in :attr:`size`.
    """

    def __init__(self, path: str, mode: int | None = None):
        import hashlib
        self.target = real_target(path)
        self.folder = os.path.dirname(self.target) or "."
        try:
            self.fd, self.temporary = tempfile.mkstemp(
                dir=self.folder, prefix=f".{os.path.basename(self.target)}.", suffix=".tmp")
        except OSError as error:
            raise StorageError(self.target, "creating a temporary file beside", error) from None
        self._hash = hashlib.sha256()
        self.size = 0
        try:
            try:
                old_mode = stat.S_IMODE(os.stat(self.target).st_mode)
            except OSError:
                umask = os.umask(0)
                os.umask(umask)
                old_mode = 0o644 & ~umask
            os.fchmod(self.fd, mode if mode is not None else old_mode)
        except BaseException:
            self.discard()
            raise

    def write(self, data: bytes) -> None:
        try:
            write_all(self.fd, data, self.target)
        except BaseException:
            self.discard()
            raise
        self._hash.update(data)
        self.size += len(data)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def flush(self) -> None:
        """Make the content durable before anything that depends on it is written."""
        try:
            os.fsync(self.fd)
        except OSError as error:
            self.discard()
            raise StorageError(self.target, "flushing", error) from None

    def written(self) -> os.stat_result:
        """Return the new file's status once flushed (inode and mtime survive the rename)."""
        return os.fstat(self.fd)

    def commit(self) -> None:
        self.flush()
        os.close(self.fd)
        self.fd = -1
        try:
            os.replace(self.temporary, self.target)
        except OSError as error:
            self.discard()
            raise StorageError(self.target, "replacing", error) from None
        fsync_folder(self.folder)

    def discard(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        try:
            os.unlink(self.temporary)
        except OSError:
            pass


def atomic_write(path: str, data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data``: readers see the old file or the new one, never a mix."""
    pending = PendingFile(path, mode)
    pending.write(data)
    pending.commit()


def open_private(path: str, flags: int, mode: int = 0o644) -> int:
    """Open one of the store's own files without following a symbolic link; return the fd."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise CorruptedTableError(msg=f"{path} is a symbolic link; enb opens its lock and "
                                          f"journal files only as regular files. Remove the "
                                          f"link and run again.") from None
        raise


def check_owner(fd: int, path: str) -> None:
    """Raise CorruptedTableError unless ``fd`` is a regular file that only trusted users wrote.

    Trusted: the current user, or the owner of the folder holding it (who controls the folder
    anyway); and not writable by group or others.
    """
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise CorruptedTableError(msg=f"{path} is not a regular file; move it away.")
    folder_owner = os.stat(os.path.dirname(path) or ".").st_uid
    if info.st_uid not in (os.geteuid(), folder_owner):
        raise CorruptedTableError(
            msg=f"{path} belongs to {_user(info.st_uid)}, not to you ({_user(os.geteuid())}) "
                f"nor to the folder's owner: enb does not adopt rows another user wrote. If "
                f"you trust them, let that user run the table, or move the file away (its rows "
                f"are then computed again).")
    if info.st_mode & 0o022:
        raise CorruptedTableError(
            msg=f"{path} is writable by other users (mode {stat.S_IMODE(info.st_mode):o}), so "
                f"anyone could have written its rows; enb does not adopt them. Check it, then "
                f"`chmod go-w` it or move it away.")


def _user(uid: int) -> str:
    try:
        import pwd
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (KeyError, ImportError):
        return f"uid {uid}"
