"""What a codec's compress and decompress report, and the errors they raise (enb 1.x names)."""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class CompressionResults:
    """One compression: which codec, which files, how long it took and how much memory.

    ``compression_time_seconds`` is the codec process's CPU time (or wall time with
    ``--report_wall_time``); None when the codec did not measure it, in which case the
    experiment measures the wall time of ``compress``. ``maximum_memory_kb``: the codec
    process's peak resident memory, when known.
    """
    codec_name: str | None = None
    codec_param_dict: dict | None = None
    original_path: str | None = None
    compressed_path: str | None = None
    compression_time_seconds: float | None = None
    maximum_memory_kb: int | None = None


@dataclasses.dataclass
class DecompressionResults:
    """One decompression (see :class:`CompressionResults`)."""
    codec_name: str | None = None
    codec_param_dict: dict | None = None
    compressed_path: str | None = None
    reconstructed_path: str | None = None
    decompression_time_seconds: float | None = None
    maximum_memory_kb: int | None = None


class CompressionException(Exception):
    """A compression failed: the message says which codec, file and why (its output)."""

    def __init__(self, original_path=None, compressed_path=None, file_info=None, status=None,
                 output=None):
        self.original_path = original_path
        self.compressed_path = compressed_path
        self.file_info = file_info
        self.status = status
        self.output = output
        super().__init__(_message("compressing", original_path, status, output))

    def __reduce__(self):
        # Crosses processes with its fields (the default would call __init__ with the message).
        return (type(self), (self.original_path, self.compressed_path, None, self.status,
                             self.output))


class DecompressionException(Exception):
    """A decompression failed: the message says which codec, file and why (its output)."""

    def __init__(self, compressed_path=None, reconstructed_path=None, file_info=None,
                 status=None, output=None):
        self.compressed_path = compressed_path
        self.reconstructed_path = reconstructed_path
        self.file_info = file_info
        self.status = status
        self.output = output
        super().__init__(_message("decompressing", compressed_path, status, output))

    def __reduce__(self):
        return (type(self), (self.compressed_path, self.reconstructed_path, None, self.status,
                             self.output))


def _message(action: str, path, status, output) -> str:
    parts = []
    if path is not None:
        parts.append(f"{action} {path}")
    if status is not None:
        parts.append(f"status={status}")
    text = ", ".join(parts)
    if output:
        text = f"{text}: {output}" if text else str(output)
    return text or f"{action} failed"
