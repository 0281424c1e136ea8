"""Codecs the compression tests use (module-level, so that every executor can ship them)."""
import os
import shutil
import zlib

from enb.compression.codec import LosslessCodec


class Zlib(LosslessCodec):
    """zlib at a given level, in this process."""

    def __init__(self, level=6):
        super().__init__(param_dict={"level": level})

    def compress(self, original_path, compressed_path, original_file_info=None):
        with open(original_path, "rb") as source, open(compressed_path, "wb") as target:
            target.write(zlib.compress(source.read(), self.param_dict["level"]))

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        with open(compressed_path, "rb") as source, open(reconstructed_path, "wb") as target:
            target.write(zlib.decompress(source.read()))


class Crashes(LosslessCodec):
    """A codec whose compression raises."""

    def compress(self, original_path, compressed_path, original_file_info=None):
        with open(compressed_path, "wb") as target:
            target.write(b"half")
        raise RuntimeError(f"deliberate crash in the codec on {os.path.basename(original_path)}")

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        raise AssertionError("never reached")


class Lies(LosslessCodec):
    """A codec that says it is lossless and flips a bit of the last byte."""

    def compress(self, original_path, compressed_path, original_file_info=None):
        shutil.copyfile(original_path, compressed_path)

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        with open(compressed_path, "rb") as source:
            data = bytearray(source.read())
        data[-1] ^= 1
        with open(reconstructed_path, "wb") as target:
            target.write(data)


class WritesNothing(LosslessCodec):
    """A codec that returns without writing its output."""

    def compress(self, original_path, compressed_path, original_file_info=None):
        return None

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        return None


class RecordsScratch(LosslessCodec):
    """Passthrough that records, in the compressed file's folder name, where it ran."""

    def compress(self, original_path, compressed_path, original_file_info=None):
        shutil.copyfile(original_path, compressed_path)

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        shutil.copyfile(compressed_path, reconstructed_path)
