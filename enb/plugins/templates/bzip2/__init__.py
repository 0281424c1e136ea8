"""The ``bzip2`` codec plugin: the bzip2 program."""
from . import bzip2_codec  # noqa: F401
from .bzip2_codec import *  # noqa: F401,F403
