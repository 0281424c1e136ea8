"""The ``jpeg2000`` codec plugin: JPEG 2000 through OpenJPEG's programs."""
from . import jpeg2000_codec  # noqa: F401
from .jpeg2000_codec import *  # noqa: F401,F403
