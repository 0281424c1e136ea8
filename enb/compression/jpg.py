"""JPEG images (enb 1.x's ``enb.jpg``): raw versions of a folder of JPEG files.

:class:`JPEGCurationTable` is a file version table (see :mod:`enb.compression.curation`);
decoding goes through Pillow (``pip install 'enb[compression]'``).
"""
from __future__ import annotations

import importlib


def __getattr__(name: str):
    if name == "JPEGCurationTable":
        return getattr(importlib.import_module("enb.compression.curation"), name)
    raise AttributeError(f"module 'enb.compression.jpg' has no attribute {name!r}")
