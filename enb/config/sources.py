"""Where option values come from besides code: the command line and ``.ini`` files.

Both are read as text and checked where they enter: a flag that looks like a mistyped enb
option (``--cpu-limit``, ``--cpulimit``) is refused with the option it resembles, unless the
running script itself defines that flag; an unknown key in enb's ``.ini`` section is refused with
its file and line. Values are parsed by :mod:`enb.config.options`.
"""
from __future__ import annotations

import configparser
import dataclasses
import os
import re
import sys

INI_SECTION = "enb.config.options"
#: Files beside the script bigger than this are not read to look for the script's own flags.
_MAX_SCRIPT_BYTES = 4 << 20


class OptionError(ValueError):
    """An option was given a value it cannot take, or a flag or key enb does not know.

    The message is one line that names the option and where the value came from (the command
    line, an ``.ini`` file and line, or the line of code that set it).
    """


OptionError.__module__ = "enb.config"  # where users import it from


@dataclasses.dataclass(frozen=True)
class IniValue:
    """One ``key = value`` line of enb's section in an ``.ini`` file."""
    text: str
    path: str
    line: int

    @property
    def origin(self) -> str:
        return f"{self.path}:{self.line}"


# -- did you mean ----------------------------------------------------------------------
def _squash(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def _one_edit_apart(a: str, b: str) -> bool:
    """Tell whether ``a`` becomes ``b`` with one insertion, deletion, substitution or swap."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        differences = [i for i in range(len(a)) if a[i] != b[i]]
        if len(differences) == 1:
            return True
        return (len(differences) == 2 and differences[1] == differences[0] + 1
                and a[differences[0]] == b[differences[1]] and a[differences[1]] == b[differences[0]])
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1:] == short for i in range(len(long)))


def resembling(name: str, known: dict[str, str]) -> str | None:
    """Return the known name that ``name`` looks like a misspelling of, or None.

    ``known`` maps each accepted spelling (flag names without dashes, or .ini keys) to what
    to suggest. Differences of case, ``-`` and ``_`` always count; one typo counts in names of
    five letters or more (shorter ones collide with ordinary words).
    """
    squashed = _squash(name)
    for spelling, suggestion in known.items():
        if _squash(spelling) == squashed:
            return suggestion
    if len(squashed) >= 5:
        for spelling, suggestion in known.items():
            if len(_squash(spelling)) >= 5 and _one_edit_apart(_squash(spelling), squashed):
                return suggestion
    return None


def _script_source() -> str:
    """Return the running script's text ('' when there is none or it cannot be read)."""
    script = sys.argv[0] if sys.argv else ""
    try:
        if script and os.path.isfile(script) and os.path.getsize(script) <= _MAX_SCRIPT_BYTES:
            with open(script, encoding="utf-8", errors="replace") as handle:
                return handle.read()
    except OSError:
        pass
    return ""


def check_unknown_flags(unknown: list[str], known: dict[str, str]) -> None:
    """Refuse flags that look like mistyped enb options; leave the script's own flags alone.

    ``unknown``: what argparse did not recognise. ``known``: flag name (no dashes) -> the
    flag to suggest. A flag the script's own source spells out (its argparse definition)
    belongs to the script and passes.
    """
    source = None
    for argument in unknown:
        if not argument.startswith("--") or argument == "--":
            continue
        name = argument[2:].split("=", 1)[0]
        suggestion = resembling(name, known)
        if suggestion is None:
            continue
        if source is None:
            source = _script_source()
        if re.search(r"(?<![\w-])--" + re.escape(name) + r"(?![\w-])", source):
            continue
        raise OptionError(f"unknown option --{name} (command line); did you mean {suggestion}?")


# -- .ini files ------------------------------------------------------------------------
_SECTION_LINE = re.compile(r"^\s*\[(?P<name>[^\]]+)\]\s*$")
_KEY_LINE = re.compile(r"^(?P<key>[^\s#;=:][^=:]*?)\s*[=:]")


def _key_lines(lines: list[str], section: str) -> dict[str, int]:
    """Return ``{key (lowercase): line number}`` of the keys written in ``section``."""
    found: dict[str, int] = {}
    current = None
    for number, line in enumerate(lines, start=1):
        header = _SECTION_LINE.match(line)
        if header:
            current = header.group("name").strip()
            continue
        if current != section or line[:1] in (" ", "\t"):  # continuation lines
            continue
        key = _KEY_LINE.match(line)
        if key:
            found.setdefault(key.group("key").strip().lower(), number)
    return found


def read_ini(path: str, known: dict[str, str], *, required: bool) -> dict[str, IniValue]:
    """Return the values of enb's section in the ``.ini`` file at ``path``.

    ``known``: accepted keys -> the key to suggest for a near miss. Unknown keys, syntax
    errors and bad ``%`` interpolations raise :class:`OptionError` naming the file and line.
    A file beside the script that has no enb section and does not parse is somebody else's
    (``required`` false): it is skipped, as enb 1.x did.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise OptionError(f"{path}: cannot read this .ini file ({reason})") from None
    lines = text.splitlines()
    mentions_enb = any((m := _SECTION_LINE.match(line)) and m.group("name").strip() == INI_SECTION
                       for line in lines)
    parser = configparser.ConfigParser()
    try:
        parser.read_string(text, source=path)
    except configparser.Error as error:
        if not required and not mentions_enb:
            return {}
        line = getattr(error, "lineno", None)
        if line is None and getattr(error, "errors", None):
            line = error.errors[0][0]
        first = str(error).strip().splitlines()[0]
        raise OptionError(f"{path}{f':{line}' if line else ''}: not a valid .ini file ({first})") \
            from None
    if not parser.has_section(INI_SECTION):
        return {}
    values: dict[str, IniValue] = {}
    for key, line in _key_lines(lines, INI_SECTION).items():
        if key not in known:
            suggestion = resembling(key, known)
            hint = f"; did you mean {suggestion}?" if suggestion else \
                "; `enb options` lists them"
            raise OptionError(f"{path}:{line}: unknown option {key!r} in [{INI_SECTION}]{hint}")
        try:
            value = parser.get(INI_SECTION, key)
        except configparser.InterpolationError as error:
            raise OptionError(f"{path}:{line}: option {key!r}: {_first_line(error)} "
                              f"(write a literal % as %%)") from None
        values[key] = IniValue(text=value, path=path, line=line)
    return values


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].rstrip(":") if lines else type(error).__name__
