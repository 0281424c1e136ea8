"""The ``zstd`` codec plugin: Zstandard through the zstd program."""
from . import zstd_codec  # noqa: F401
from .zstd_codec import *  # noqa: F401,F403
