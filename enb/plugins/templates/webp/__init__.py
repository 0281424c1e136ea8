"""The ``webp`` codec plugin: WebP through cwebp and dwebp."""
from . import webp_codecs  # noqa: F401
from .webp_codecs import *  # noqa: F401,F403
