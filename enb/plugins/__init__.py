"""Plugins and templates that ``enb plugin install NAME [DIR]`` copies into a project.

The catalogue (:mod:`enb.plugins.catalogue`) lists what enb ships, as data; the files of each
entry are package data under ``enb/plugins/templates/``; :mod:`enb.plugins.installer` copies
them and :mod:`enb.plugins.cli` is the command line. enb 1.x's classes (``Installable``,
``Plugin``, ``PluginMake``, ``Template``) and functions (``install``,
``list_all_installables``, ``get_installable_by_name``) are here too, for scripts and plugins
that subclass or call them (:mod:`enb.plugins.installable`).

Importing this module is cheap (``enb plugin list`` runs on the catalogue alone).
"""
from __future__ import annotations

from .catalogue import CATALOGUE, Entry  # noqa: F401

#: The catalogue, by name (this module's earlier name for it).
TEMPLATES = CATALOGUE

_FROM_INSTALLABLE = ("Installable", "InstallableMeta", "Plugin", "PluginMake", "Template",
                     "install", "list_all_installables", "get_installable_by_name",
                     "import_all_installables")


def __getattr__(name: str):
    if name in _FROM_INSTALLABLE:
        from . import installable
        return getattr(installable, name)
    raise AttributeError(f"module 'enb.plugins' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_FROM_INSTALLABLE))
