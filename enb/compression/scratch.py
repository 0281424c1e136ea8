"""Where compression rows and codecs put their temporary files: on the machine that runs them.

Every row of a compression experiment gets a folder of its own under :func:`node_tmp_dir`,
removed when the row ends, failed or not (:class:`RowFolder`). Codecs that need more
temporary files (wrappers that convert formats, for instance) ask :func:`scratch_dir`, which
is that row's folder while a row runs, so nothing outlives the row.

``--base_tmp_dir`` chooses the place. By default it is ``/dev/shm`` when writable (a memory
disk, as in enb 1.x), else the system's temporary folder. On a remote node of a cluster a
``base_tmp_dir`` inside the project is not used, since there it would lie in the head's
mount and every temporary byte would cross the network: the node's own default is used.
"""
from __future__ import annotations

import contextvars
import fcntl
import logging
import os
import shutil
import tempfile
import time

from ..config import options

logger = logging.getLogger(__name__)

_ROW_FOLDER: contextvars.ContextVar[str | None] = contextvars.ContextVar("enb_row_folder",
                                                                         default=None)
_warned_about: set = set()


def default_tmp_dir() -> str:
    """Return this machine's default temporary folder: /dev/shm if writable, else the
    system's."""
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return tempfile.gettempdir()


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) \
            == os.path.abspath(folder)
    except ValueError:
        return False


_resolved: dict = {}  # (base_tmp_dir, project root) -> the folder used on this machine


def node_tmp_dir() -> str:
    """Return the folder, on this machine, under which temporary files go (created if needed)."""
    configured = options.base_tmp_dir
    key = (configured, options.project_root)
    folder = _resolved.get(key)
    if folder is None:
        folder = _resolved[key] = _choose(configured)
    return folder


def _choose(configured: str | None) -> str:
    folder = configured or default_tmp_dir()
    if configured:
        from ..parallel_ray import is_remote_node
        if is_remote_node() and _inside(configured, options.resolved_project_root()):
            folder = default_tmp_dir()
            if configured not in _warned_about:
                _warned_about.add(configured)
                logger.info("base_tmp_dir %s lies in the project, which this node reaches "
                            "through its mount: using %s, on this node, instead",
                            configured, folder)
    os.makedirs(folder, exist_ok=True)
    return folder


def scratch_dir() -> str:
    """Return where a codec may create temporary files now: the running row's own folder,
    or :func:`node_tmp_dir` outside a row."""
    return _ROW_FOLDER.get() or node_tmp_dir()


#: A file in every row folder, locked (flock) while the folder's process lives.
LOCK_NAME = ".enb-row-lock"
#: A row folder without its lock file is being made, or was left by a crash this long ago.
UNLOCKED_GRACE_SECONDS = 600
_swept: set = set()  # base folders swept by this process


def sweep_abandoned(base: str, prefix: str = "enb-row-") -> list:
    """Remove the row folders under ``base`` whose process died (a killed worker cannot
    remove its own); return them.

    A folder is abandoned when nobody holds its lock: flock is released by the kernel when
    its holder dies, whatever the pid namespace (containers sharing /dev/shm), so a live
    row's folder is never touched.
    """
    removed = []
    try:
        names = [n for n in os.listdir(base) if n.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        folder = os.path.join(base, name)
        try:
            descriptor = os.open(os.path.join(folder, LOCK_NAME), os.O_RDONLY)
        except FileNotFoundError:
            try:
                young = time.time() - os.stat(folder).st_mtime < UNLOCKED_GRACE_SECONDS
            except OSError:
                continue
            if young:
                continue  # being made right now
        except OSError:
            continue  # not ours to judge (another user's, say)
        else:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its process lives
            finally:
                os.close(descriptor)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        logger.info("removed %d temporary row folder(s) left by killed processes under %s",
                    len(removed), base)
    return removed


class RowFolder:
    """A row's temporary folder: made when first asked for, removed by :meth:`close`.

    The folder holds a lock file for as long as it exists, so that :func:`sweep_abandoned`
    can tell it from one whose process was killed.
    """

    def __init__(self, prefix: str = "enb-row-"):
        self.prefix = prefix
        self._path: str | None = None
        self._token = None
        self._lock: int | None = None

    @property
    def path(self) -> str:
        """The folder (made on first use)."""
        if self._path is None:
            base = node_tmp_dir()
            if base not in _swept:
                _swept.add(base)
                sweep_abandoned(base, self.prefix)
            try:
                path = tempfile.mkdtemp(prefix=self.prefix, dir=base)
            except FileNotFoundError:  # removed since it was first made
                os.makedirs(base, exist_ok=True)
                path = tempfile.mkdtemp(prefix=self.prefix, dir=base)
            # The lock file appears under its name only once it is locked: a sweep that found
            # it between its creation and the flock would take the folder for abandoned.
            pending = os.path.join(path, LOCK_NAME + ".new")
            self._lock = os.open(pending, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(self._lock, fcntl.LOCK_EX)
            os.rename(pending, os.path.join(path, LOCK_NAME))
            self._path = path
            self._token = _ROW_FOLDER.set(self._path)
        return self._path

    @property
    def made(self) -> bool:
        return self._path is not None

    def close(self) -> None:
        """Remove the folder and everything in it."""
        if self._token is not None:
            _ROW_FOLDER.reset(self._token)
            self._token = None
        if self._path is not None:
            shutil.rmtree(self._path, ignore_errors=True)
            if os.path.exists(self._path):
                logger.warning("could not remove the temporary folder %s", self._path)
            self._path = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None
