"""The ``fpack`` codec plugin: FITS tile compression through fpack and funpack."""
from . import fpack_codec  # noqa: F401
from .fpack_codec import *  # noqa: F401,F403
