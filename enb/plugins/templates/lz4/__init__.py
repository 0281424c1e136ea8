"""The ``lz4`` codec plugin: LZ4 through the lz4 program."""
from . import lz4_codec  # noqa: F401
from .lz4_codec import *  # noqa: F401,F403
