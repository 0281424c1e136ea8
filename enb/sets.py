"""Dataset files and their properties (enb 1.x compatible)."""
from __future__ import annotations

import hashlib
import os

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


def get_all_test_files(ext=None, base_dataset_dir=None):
    """enb 1.x name of :func:`enb.atable.get_all_input_files`."""
    return atable.get_all_input_files(ext=ext, base_dataset_dir=base_dataset_dir)
