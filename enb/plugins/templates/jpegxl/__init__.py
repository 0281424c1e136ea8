"""The ``jpegxl`` codec plugin: JPEG XL through cjxl and djxl."""
from . import jpegxl_codec  # noqa: F401
from .jpegxl_codec import *  # noqa: F401,F403
