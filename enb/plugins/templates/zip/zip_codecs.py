#!/usr/bin/env python3
"""Codecs from Python's standard library: DEFLATE (zlib), LZMA (lzma) and BZIP2 (bz2).

They need no program: they run inside enb's worker processes. Names and parameters are
those of enb 1.x's ``zip`` plugin, so results stored by enb 1.x are recognised.
"""
import bz2
import lzma
import zlib

import enb.compression.codec

__all__ = ["AbstractZipCodec", "LZ77Huffman", "LZMA", "BZIP2"]


class AbstractZipCodec(enb.compression.codec.LosslessCodec):
    """A standard-library codec with a compression level from 1 (fastest) to 9 (smallest)."""
    MIN_COMPRESSION_LEVEL = 1
    MAX_COMPRESSION_LEVEL = 9
    DEFAULT_COMPRESSION_LEVEL = 5

    def __init__(self, compression_level=DEFAULT_COMPRESSION_LEVEL, param_dict=None):
        if not self.MIN_COMPRESSION_LEVEL <= compression_level <= self.MAX_COMPRESSION_LEVEL:
            raise ValueError(f"{type(self).__name__}: compression_level must be between "
                             f"{self.MIN_COMPRESSION_LEVEL} and {self.MAX_COMPRESSION_LEVEL}, "
                             f"not {compression_level!r}")
        param_dict = dict(param_dict or {})
        param_dict["compression_level"] = compression_level
        super().__init__(param_dict=param_dict)

    def pack(self, data: bytes) -> bytes:
        raise NotImplementedError

    def unpack(self, data: bytes) -> bytes:
        raise NotImplementedError

    def compress(self, original_path, compressed_path, original_file_info=None):
        with open(original_path, "rb") as source:
            packed = self.pack(source.read())
        with open(compressed_path, "wb") as target:
            target.write(packed)

    def decompress(self, compressed_path, reconstructed_path, original_file_info=None):
        with open(compressed_path, "rb") as source:
            unpacked = self.unpack(source.read())
        with open(reconstructed_path, "wb") as target:
            target.write(unpacked)


class LZ77Huffman(AbstractZipCodec):
    """DEFLATE (LZ77 and Huffman coding), with zlib's framing."""

    def pack(self, data):
        return zlib.compress(data, level=self.param_dict["compression_level"])

    def unpack(self, data):
        return zlib.decompress(data)

    @property
    def label(self):
        return f"LZ77 Huffman level {self.param_dict['compression_level']}"


class LZMA(AbstractZipCodec):
    """LZMA2 in the .xz container, at a preset from 1 to 9."""

    def pack(self, data):
        return lzma.compress(data, preset=self.param_dict["compression_level"])

    def unpack(self, data):
        return lzma.decompress(data)

    @property
    def label(self):
        return f"LZMA level {self.param_dict['compression_level']}"


class BZIP2(AbstractZipCodec):
    """The Burrows-Wheeler block sorting compressor, in the .bz2 format."""

    def pack(self, data):
        return bz2.compress(data, self.param_dict["compression_level"])

    def unpack(self, data):
        return bz2.decompress(data)

    @property
    def label(self):
        return f"BZIP2 level {self.param_dict['compression_level']}"
