"""Value parsers of options: text (from flags and .ini files) or Python values (from code).

Each parser returns the value or raises ValueError with a message that says what was wrong;
:mod:`enb.config.options` adds the option's name and where the value came from.
"""
from __future__ import annotations

import ast
import os
from typing import Any, Callable

EXECUTOR_NAMES = ("local-process", "local-ray", "ssh-ray-cluster")
#: enb 1.x's log level names, most important first; the 1.x flag also accepted the spellings
#: on the right, which its own logger then failed to find.
LOG_LEVEL_NAMES = ("core", "error", "warn", "message", "verbose", "info", "debug")
_LOG_LEVEL_SPELLINGS = {"warning": "warn", "informative": "info"}


def none_or(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Return a parser that also accepts None ("None", "none" or blank text)."""
    def parser(value):
        if value is None or (isinstance(value, str) and value.strip() in ("", "None", "none")):
            return None
        return parse(value)
    parser.__name__ = parse.__name__
    return parser


def integer(value) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        raise ValueError(f"{value!r} is not an integer") from None


def positive_integer(value) -> int:
    number = integer(value)
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return number


def port(value) -> int:
    number = integer(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"{value!r} is not a port number (1-65535)")
    return number


def number(value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None


def non_negative_number(value) -> float:
    result = number(value)
    if result < 0:
        raise ValueError(f"{value!r} is negative")
    return result


def boolean(value) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true or false)")


def text(value) -> str:
    return str(value)


def folder(value) -> str:
    """A folder as given (``~`` expanded); a relative one is read against the project root."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a folder path")
    return os.path.expanduser(value)


def absolute_path(value) -> str:
    """A path made absolute against the current folder (``~`` expanded)."""
    return os.path.abspath(folder(value))


def user_path(value) -> str:
    """A path kept as the user wrote it (relative to the current folder), ``~`` expanded."""
    return folder(value)


def text_list(value) -> list:
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                value = ast.literal_eval(stripped)
            except (ValueError, SyntaxError):
                raise ValueError(f"{value!r} is not a list") from None
            if not isinstance(value, (list, tuple)):
                raise ValueError(f"{value!r} is not a list")
        else:
            value = stripped.split()
    try:
        return [str(v) for v in value]
    except TypeError:
        raise ValueError(f"{value!r} is not a list") from None


def executor(value) -> str:
    if value not in EXECUTOR_NAMES:
        raise ValueError(f"{value!r} is not an executor; choose one of {', '.join(EXECUTOR_NAMES)}")
    return value


def log_level(value) -> str:
    name = str(getattr(value, "name", value)).strip().lower()
    name = _LOG_LEVEL_SPELLINGS.get(name, name)
    if name not in LOG_LEVEL_NAMES:
        raise ValueError(f"{value!r} is not a log level; choose one of {', '.join(LOG_LEVEL_NAMES)}")
    return name


def file_name(value) -> str:
    name = str(value)
    if not name or os.path.basename(name) != name:
        raise ValueError(f"{value!r} must be a file name, without folders")
    return name
