"""Dataset files and their properties, and versions of them (enb 1.x compatible)."""
from __future__ import annotations

import hashlib
import math
import os
import shutil
import tempfile
import time

from . import atable
from .indices import get_canonical_path
from .config import options

HASH_ALGORITHM = "sha256"
_BLOCK_SIZE = 1 << 20


class FilePropertiesTable(atable.ATable):
    """One row per dataset file: its corpus (folder name), size in bytes and sha256 digest."""
    version_name = "original"
    hash_field_name = HASH_ALGORITHM
    index_name = "file_path"
    base_dir = None
    dataset_file_extension = "raw"

    @property
    def dataset_files_extension(self):
        return self.dataset_file_extension

    @dataset_files_extension.setter
    def dataset_files_extension(self, value):
        self.dataset_file_extension = value

    def __init__(self, csv_support_path=None, base_dir=None):
        if csv_support_path is None:
            csv_support_path = os.path.join(options.resolved_persistence_dir(),
                                            f"persistence_{self.__class__.__name__}.csv")
        super().__init__(index=FilePropertiesTable.index_name, csv_support_path=csv_support_path)
        self.base_dir = base_dir if base_dir is not None else options.base_dataset_dir

    def get_df(self, target_indices=None, target_columns=None, fill=True, overwrite=None,
               chunk_size=None):
        target_indices = atable.check_target_indices(self, target_indices)
        if target_indices is None:
            target_indices = atable.get_all_input_files(ext=self.dataset_files_extension,
                                                        base_dataset_dir=self.base_dir)
        else:
            target_indices = [get_canonical_path(p) for p in target_indices]
        return super().get_df(target_indices=target_indices, target_columns=target_columns,
                              fill=fill, overwrite=overwrite, chunk_size=chunk_size)

    @atable.column_function("corpus", label="Corpus name")
    def set_corpus(self, file_path, row):
        """The corpus of a file is the name of the folder that holds it."""
        folder = os.path.dirname(file_path)
        row[_column_name] = os.path.basename(folder) if folder else \
            os.path.basename(os.path.dirname(os.path.abspath(file_path)))

    @atable.column_function("size_bytes", label="File size (bytes)")
    def set_file_size(self, file_path, row):
        row[_column_name] = os.path.getsize(file_path)

    @atable.column_function(hash_field_name, label=f"{hash_field_name} hex digest")
    def set_hash_digest(self, file_path, row):
        """Hash the file in blocks, so that big files do not fill the memory."""
        hasher = hashlib.new(HASH_ALGORITHM)
        with open(file_path, "rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK_SIZE), b""):
                hasher.update(block)
        row[_column_name] = hasher.hexdigest()


class FileVersionTable(FilePropertiesTable):
    """Write a version of every original file into a mirrored folder tree, one row per file.

    Subclasses define :meth:`version`. ``get_df`` versions the files under
    ``original_base_dir`` (default: ``--base_dataset_dir``) with ``dataset_files_extension``
    into ``version_base_dir`` (default: ``--base_version_dataset_dir``/<version_name>), rows in
    parallel on the selected executor; a folder inside the project is the head's on every
    node (through the cluster's mount). The rows are the original files, as in enb 1.x:
    their properties (corpus, size, digest, and those of subclasses such as the image
    geometry), plus ``original_file_path``, ``version_name`` and ``version_time``.

    A version is written to a staging folder beside its destination and moved into place
    when :meth:`version` returns: a version that fails leaves no file behind. A file already
    versioned (its row stored, or its destination present) is not versioned again unless
    overwrite is asked for (``-f``).
    """

    def __init__(self, version_base_dir=None, version_name="", original_properties_table=None,
                 original_base_dir=None, csv_support_path=None, check_generated_files=True):
        version_name = version_name or ""
        if version_base_dir is None:
            version_base_dir = os.path.join(options.base_version_dataset_dir,
                                            version_name or self.__class__.__name__)
        self.version_base_dir = options.project_path(version_base_dir)
        self.original_base_dir = options.project_path(original_base_dir) \
            if original_base_dir is not None else options.base_dataset_dir
        super().__init__(csv_support_path=csv_support_path, base_dir=self.version_base_dir)
        self.original_properties_table = FilePropertiesTable(base_dir=self.original_base_dir) \
            if original_properties_table is None else original_properties_table
        self.version_name = version_name
        self.check_generated_files = check_generated_files
        self.current_run_version_times = {}
        self._versioned_under_root = options.project_root
        self._overwrite_versions = False
        # Versioning runs last, so that version() sees every other column of the row.
        for mapping in {id(m): m for m in (type(self).column_to_properties,
                                           self.column_to_properties)}.values():
            if "version_time" in mapping:
                mapping.move_to_end("version_time")

    def version(self, input_path, output_path, row):
        """Write the version of ``input_path`` to ``output_path``; return its time or None.

        ``row`` holds the original file's other columns. A returned number is taken as the
        versioning time in seconds; otherwise the wall time of the call is.
        """
        raise NotImplementedError(f"{type(self).__name__} must define version(self, input_path, "
                                  f"output_path, row)")

    def get_default_target_indices(self) -> list:
        """Return the original files: under ``original_base_dir``, with the table's extension."""
        return atable.get_all_input_files(base_dataset_dir=self.original_base_dir,
                                          ext=self.dataset_files_extension)

    def original_to_versioned_path(self, original_path) -> str:
        """Return where the version of ``original_path`` goes: the same place under
        ``version_base_dir`` as the original's under ``original_base_dir``."""
        original = os.path.abspath(original_path)
        for base in (self.original_base_dir, os.path.realpath(self.original_base_dir)):
            relative = os.path.relpath(original, base)
            if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
                return os.path.join(self.version_base_dir, relative)
        # An original reached through a link from elsewhere: find the longest tail of its path
        # that exists under the original folder (enb 1.x's rule).
        parts = original.split(os.sep)[1:]
        for count in range(len(parts), 0, -1):
            if os.path.exists(os.path.join(self.original_base_dir, *parts[-count:])):
                return os.path.join(self.version_base_dir, *parts[-count:])
        raise ValueError(f"{original_path} is not in the original folder {self.original_base_dir}")

    def get_df(self, target_indices=None, fill=True, overwrite=None, target_columns=None,
               chunk_size=None):
        """Version the target files (default: every original file) and return their rows."""
        target_indices = atable.check_target_indices(self, target_indices)
        if target_indices is None:
            target_indices = self.get_default_target_indices()
        target_indices = [get_canonical_path(p) for p in target_indices]
        overwrite = bool(options.force) if overwrite is None else bool(overwrite)
        self.original_properties_table.get_df(target_indices=target_indices)
        self._overwrite_versions = overwrite
        self._versioned_under_root = options.project_root
        return FilePropertiesTable.get_df(self, target_indices=target_indices,
                                          target_columns=target_columns, fill=fill,
                                          overwrite=overwrite, chunk_size=chunk_size)

    def _localize(self) -> None:
        """On a remote node, move the head's project folders to their mount (once per worker)."""
        head_root, here = self._versioned_under_root, options.project_root
        if head_root == here:
            return
        for name in ("version_base_dir", "original_base_dir"):
            relative = os.path.relpath(getattr(self, name), head_root)
            if relative != os.pardir and not relative.startswith(os.pardir + os.sep):
                setattr(self, name, os.path.normpath(os.path.join(here, relative)))
        self._versioned_under_root = here

    @atable.column_function("original_file_path")
    def set_original_file_path(self, file_path, row):
        """The original file, relative to the project root."""
        row[_column_name] = get_canonical_path(file_path)

    def column_version_name(self, file_path, row):
        """The name of this version."""
        return self.version_name

    @atable.column_function("version_time", label="Versioning time (s)")
    def set_version_time(self, file_path, row):
        """Version the file (unless already done) and keep how long it took (NaN if kept)."""
        self._localize()
        output_path = self.original_to_versioned_path(file_path)
        if os.path.exists(output_path) and not self._overwrite_versions:
            row[_column_name] = math.nan  # versioned before: kept, not timed
            return
        seconds = self._version_atomically(file_path, output_path, row)
        self.current_run_version_times[file_path] = seconds
        row[_column_name] = seconds

    def _version_atomically(self, input_path, output_path, row) -> float:
        """Run :meth:`version` into a staging folder, then move what it wrote into place."""
        destination = os.path.dirname(output_path)
        os.makedirs(destination, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".enb-version-", dir=destination)
        staged_output = os.path.join(staging, os.path.basename(output_path))
        try:
            started_at, started = time.time(), time.perf_counter()
            returned = self.version(input_path=input_path, output_path=staged_output, row=row)
            seconds = time.perf_counter() - started
            written = [os.path.relpath(os.path.join(folder, name), staging)
                       for folder, _, names in os.walk(staging) for name in names]
            if self.check_generated_files and not _written_since(staged_output, 0) \
                    and not _written_since(output_path, started_at):
                raise ValueError(f"{type(self).__name__}.version({input_path!r}) wrote no file "
                                 f"(or an empty one) at the output_path it was given; write it "
                                 f"there, or set check_generated_files=False")
            for relative in written:
                target = os.path.join(destination, relative)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(os.path.join(staging, relative), target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if isinstance(returned, (int, float)) and not isinstance(returned, bool) \
                and returned >= 0:
            return float(returned)
        return seconds

    @atable.redefines_column
    def set_corpus(self, file_path, row):
        """The folder of the file under the version (and original) base folder."""
        self._localize()
        folder = os.path.dirname(os.path.abspath(file_path))
        relative = os.path.relpath(folder, self.original_base_dir)
        if relative == os.curdir:
            relative = os.path.basename(self.original_base_dir)
        elif relative == os.pardir or relative.startswith(os.pardir + os.sep):
            relative = os.path.basename(folder)
        row[_column_name] = relative


def _written_since(path: str, since: float) -> bool:
    """Tell whether ``path`` is a non-empty file modified at or after ``since``."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_size > 0 and info.st_mtime >= since - 1


def get_all_test_files(ext=None, base_dataset_dir=None):
    """enb 1.x name of :func:`enb.atable.get_all_input_files`."""
    return atable.get_all_input_files(ext=ext, base_dataset_dir=base_dataset_dir)
