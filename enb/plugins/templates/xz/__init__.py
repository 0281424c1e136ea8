"""The ``xz`` codec plugin: LZMA2 through the xz program."""
from . import xz_codec  # noqa: F401
from .xz_codec import *  # noqa: F401,F403
