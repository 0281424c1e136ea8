"""``enb.config.ini``: every section of the ``.ini`` files enb reads, as in enb 1.x.

The options' own section, ``[enb.config.options]``, is read by :mod:`enb.config.options`.
Other sections configure classes: :func:`managed_attributes` sets a class's public attributes
from the section named after the class (``[enb.aanalysis.ScalarNumericAnalyzer]``). Files are
read in the options' order, after the package's ``defaults.ini`` (when a module ships one),
the first time a value is asked for.
"""
from __future__ import annotations

import ast
import configparser
import logging
import os

logger = logging.getLogger(__name__)
#: Section defaults shipped with enb (the analysis layer adds its classes' sections there).
PACKAGE_INI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "defaults.ini")


class Ini:
    """The class of ``enb.config.ini``."""

    def __init__(self):
        self._parser: configparser.ConfigParser | None = None
        self.used_config_paths: list[str] = []

    @property
    def config_parser(self) -> configparser.ConfigParser:
        if self._parser is None:
            from . import options
            parser = configparser.ConfigParser()
            used = []
            paths = [PACKAGE_INI] if os.path.isfile(PACKAGE_INI) else []
            paths += [path for path, _required in options._ini_files()]
            for path in paths:
                try:
                    with open(path, encoding="utf-8") as handle:
                        parser.read_file(handle, source=path)
                    used.append(path)
                except (OSError, UnicodeDecodeError, configparser.Error) as error:
                    # enb's own section was checked when options were read; the rest of a
                    # file that does not parse is somebody else's business, as in enb 1.x.
                    logger.warning("%s: ignored (%s)", path, str(error).splitlines()[0])
            self._parser, self.used_config_paths = parser, used
        return self._parser

    @property
    def all_ini_paths(self) -> tuple:
        """The .ini files read beside the script and given with ``--ini``."""
        from . import options
        return tuple(path for path, _required in options._ini_files())

    def get_key(self, section: str, name: str):
        """Return a key's value, read as a Python literal when it is one; KeyError if absent."""
        text = self.config_parser[section][name]
        try:
            return ast.literal_eval(text)
        except (SyntaxError, ValueError):
            return text

    def set_key(self, section: str, name: str, value) -> None:
        if not self.config_parser.has_section(section):
            self.config_parser.add_section(section)
        self.config_parser[section][name] = str(value)

    @property
    def sections_by_name(self) -> dict:
        return dict(self.config_parser.items())

    def reload(self) -> None:
        """Read the files again on next use."""
        self._parser = None

    def __repr__(self) -> str:
        lines = ["# File-based configuration for enb, read in this order:"]
        lines += [f"#   - {path}" for path in self.used_config_paths or [
            p for p in ([PACKAGE_INI] if os.path.isfile(PACKAGE_INI) else [])]]
        for name, section in sorted(self.sections_by_name.items()):
            if section and name != "DEFAULT":
                lines += ["", f"[{name}]"] + [f"{k} = {v}" for k, v in sorted(section.items())]
        return "\n".join(lines)


ini = Ini()


def managed_attributes(cls):
    """Set ``cls``'s public class attributes from the ``.ini`` section named after it.

    The section is the class's fully qualified name (``module.Class``). Keys naming no
    attribute of the class are reported, not added.
    """
    from ..misc import class_to_fqn
    section = class_to_fqn(cls)
    try:
        items = ini.config_parser[section]
    except KeyError:
        return cls
    for key in items:
        if key in ini.config_parser.defaults() and key not in ini.config_parser._sections.get(
                section, {}):
            continue
        if not hasattr(cls, key):
            logger.warning("[%s] %s in the .ini files: %s has no such attribute; ignored",
                           section, key, cls.__name__)
            continue
        setattr(cls, key, ini.get_key(section, key))
    return cls
