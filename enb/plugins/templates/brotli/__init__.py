"""The ``brotli`` codec plugin: Brotli through the brotli program."""
from . import brotli_codec  # noqa: F401
from .brotli_codec import *  # noqa: F401,F403
