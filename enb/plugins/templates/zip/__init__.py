"""The ``zip`` codec plugin: DEFLATE, LZMA and BZIP2 from Python's standard library."""
from . import zip_codecs  # noqa: F401
from .zip_codecs import *  # noqa: F401,F403
