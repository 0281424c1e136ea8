"""Codecs: the tasks of a compression experiment (enb 1.x's ``enb.compression.codec``).

A codec compresses one file into another and decompresses it back. Its ``param_dict``
describes its configuration and makes its name (``ClassName__level=5``), which identifies its
rows in the persistence files. Subclasses implement :meth:`AbstractCodec.compress` and
:meth:`AbstractCodec.decompress`; :mod:`enb.compression.wrapper` wraps external programs.
Whether a codec is lossless is declared by its base class: :class:`LosslessCodec`,
:class:`LossyCodec` or :class:`NearLosslessCodec`.
"""
from __future__ import annotations

import shutil

from ..experiment import ExperimentTask
from .results import CompressionResults, DecompressionResults


class AbstractCodec(ExperimentTask):
    """Base class of every codec."""

    def __init__(self, param_dict=None):
        super().__init__(param_dict=param_dict)

    @property
    def label(self) -> str:
        """Return the codec's name for plots (by default, its class name)."""
        return self.__class__.__name__

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        """Compress ``original_path`` into ``compressed_path``.

        ``original_file_info``: a dict-like row of the file's properties (geometry, sample
        type: the columns of :class:`enb.isets.ImagePropertiesTable`), or None.
        Return a :class:`CompressionResults`, or None to let the experiment time the call.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement compress()")

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        """Decompress ``compressed_path`` into ``reconstructed_path``.

        ``original_file_info`` is given as to :meth:`compress`, but a codec should keep what
        it needs to decompress in the compressed file. Return a :class:`DecompressionResults`
        or None.
        """
        raise NotImplementedError(f"{type(self).__name__} does not implement decompress()")

    def compression_results_from_paths(self, original_path, compressed_path) -> CompressionResults:
        """Return the results of compressing ``original_path`` into ``compressed_path``,
        without times."""
        return CompressionResults(codec_name=self.name, codec_param_dict=self.param_dict,
                                  original_path=original_path, compressed_path=compressed_path,
                                  compression_time_seconds=None)

    def decompression_results_from_paths(self, compressed_path,
                                         reconstructed_path) -> DecompressionResults:
        """Return the results of decompressing ``compressed_path`` into
        ``reconstructed_path``, without times."""
        return DecompressionResults(codec_name=self.name, codec_param_dict=self.param_dict,
                                    compressed_path=compressed_path,
                                    reconstructed_path=reconstructed_path,
                                    decompression_time_seconds=None)

    def __repr__(self) -> str:
        params = ", ".join(f"{k!r}={v!r}" for k, v in self.param_dict.items())
        return f"<{self.__class__.__name__}({params})>"


class LosslessCodec(AbstractCodec):  # noqa: B024 -- abstract by convention, as in enb 1.x
    """A codec that declares itself lossless: a lossless experiment fails its rows otherwise."""


class LossyCodec(AbstractCodec):
    """A codec that declares itself lossy."""


class NearLosslessCodec(LossyCodec):
    """A lossy codec that bounds the error of every sample."""


class PassthroughCodec(LosslessCodec):
    """Copy the input to the output, both ways (a reference and a building block)."""

    def __init__(self):
        super().__init__()

    def compress(self, original_path: str, compressed_path: str, original_file_info=None):
        shutil.copyfile(original_path, compressed_path)

    def decompress(self, compressed_path: str, reconstructed_path: str,
                   original_file_info=None):
        shutil.copyfile(compressed_path, reconstructed_path)
