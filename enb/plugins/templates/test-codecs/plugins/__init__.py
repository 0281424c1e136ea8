"""The codec plugins of this project: every folder here with an ``__init__.py`` is imported.

Install more with ``enb plugin install NAME plugins/NAME`` (``enb plugin list`` shows them).
"""
import importlib as _importlib
import pathlib as _pathlib

for _folder in sorted(_pathlib.Path(__file__).resolve().parent.iterdir()):
    if (_folder / "__init__.py").is_file():
        _importlib.import_module(f"{__name__}.{_folder.name}")
