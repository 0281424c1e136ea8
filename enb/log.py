"""Logging: enb logs through the standard :mod:`logging` module, under the ``enb`` logger.

Levels: warnings and the end-of-run reports show by default; ``-v`` adds the steps (INFO),
``-vv`` the details (DEBUG).

enb 1.x's logger API is here too, for the scripts that call it: ``enb.logger.message(...)``,
``verbose``, ``info``, ``debug``, ``warn``, ``error``, ``core``, their ``*_context`` managers and
``*_active`` properties, ``level_active``, ``selected_log_level``, ``get_level`` and the
level names (core, error, warn, message, verbose, info, debug, most important first). A 1.x
message is shown when its level is at least as important as ``selected_log_level``, which is
``--selected_log_level`` (default ``message``) lowered by ``-v`` once per ``v``; it becomes a
standard log record of the ``enb`` logger, so an embedding program's handlers receive it.
Messages go to stdout, warnings and errors to stderr, as enb 1.x printed them.
"""
from __future__ import annotations

import contextlib
import logging
import re
import sys
import time

from .misc import ExposedProperty, Singleton

_std = logging.getLogger("enb")
#: Between INFO and WARNING: the short report printed after a get_df that ran work.
REPORT = 25
_handler: logging.Handler | None = None

#: Standard level of the records of each 1.x level.
_RECORD_LEVEL = {"core": logging.CRITICAL, "error": logging.ERROR, "warn": logging.WARNING,
                 "message": REPORT, "verbose": logging.INFO, "info": 15, "debug": logging.DEBUG}
#: Standard threshold of the ``enb`` logger when a 1.x level is selected: ``-vv`` (info) shows
#: enb's own DEBUG records, as it always has.
_THRESHOLD = dict(_RECORD_LEVEL, info=logging.DEBUG)
_MARKUP = re.compile(r"\[/?[a-z#][a-z0-9 #._,-]*\]")


class LogLevel:
    """A named level of enb 1.x's logger; a lower priority number is more important."""

    def __init__(self, name, priority=0, prefix=None, help_message=None, style=None):
        self.name = name
        self.priority = priority
        self.label = prefix
        self.help = help_message
        self.prefix = prefix if prefix is not None else f"[{name[0].upper()}] "
        self.style = style

    def __repr__(self):
        return f"{self.__class__.__name__}({self.name}:{self.priority})"


class _Handler(logging.Handler):
    """Write enb's records: 1.x messages to stdout, everything else to stderr."""

    def emit(self, record):
        try:
            stream = sys.stdout if getattr(record, "enb_stdout", False) else sys.stderr
            stream.write(self.format(record) + getattr(record, "enb_end", "\n"))
            stream.flush()
        except Exception:  # noqa: BLE001 -- logging must not raise (stdlib practice)
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record):
        if hasattr(record, "enb_prefix"):
            return record.enb_prefix + record.getMessage()
        if record.levelno == REPORT:
            return record.getMessage()
        return f"{record.levelname.lower()}: {record.getMessage()}" + (
            "\n" + self.formatException(record.exc_info) if record.exc_info else "")


def configure(verbose: int | None = None) -> None:  # noqa: ARG001
    """Make sure enb's records are shown, at the level the options select.

    The level follows ``selected_log_level`` and ``-v``/``-vv`` (``verbose`` is accepted for
    callers that pass it; the options already hold it). A handler on stderr (stdout for 1.x
    messages) is added only when neither enb's logger nor the root logger has one, so an
    embedding program's logging set-up is respected.
    """
    global _handler
    _std.setLevel(_THRESHOLD[logger.selected_log_level.name])
    if _handler is None and not _std.handlers and not logging.getLogger().handlers:
        _handler = _Handler()
        _handler.setFormatter(_Formatter())
        _std.addHandler(_handler)
        _std.propagate = False


class Logger(metaclass=Singleton):
    """enb 1.x's ``enb.logger``: messages by named level, on top of :mod:`logging`."""
    style_core = "#28c9ff"
    style_error = "bold #ff5255"
    style_warn = "#ffca4f"
    style_message = "#28c9ff"
    style_verbose = "#a5d3a5"
    style_info = "#9b5ccb"
    style_debug = "#909090"
    banner_line_style = "#767676 bold"
    banner_plain_text_style = "#767676"
    banner_enb_name_style = "#f3ac05 bold"
    banner_enb_version_style = "#9b5ccb bold"

    def __init__(self):
        helps = {"core": "always shown", "error": "the task cannot be completed",
                 "warn": "something is wrong, the task goes on",
                 "message": "what the script reports", "verbose": "progress, for the interested",
                 "info": "details of the progress", "debug": "traces for debugging"}
        self.levels = [LogLevel(name, priority, help_message=helps[name],
                                style=getattr(self, f"style_{name}"))
                       for priority, name in enumerate(_RECORD_LEVEL)]
        self.name_to_level = {level.name: level for level in self.levels}
        for level in self.levels:
            setattr(self, f"level_{level.name}", level)
        self._selected = None  # read from the options when first needed
        self.show_prefixes = True
        self.show_prefix_level = self.level_info
        self._last_end = "\n"
        self._last_level = None

    # -- levels ---------------------------------------------------------------------------
    @property
    def selected_log_level(self) -> LogLevel:
        """The least important level shown."""
        if self._selected is None:
            self._selected = self.level_message
            self.follow_options(None)
        return self._selected

    @selected_log_level.setter
    def selected_log_level(self, level) -> None:
        self._selected = level if isinstance(level, LogLevel) else self.get_level(str(level))
        if _std.level:  # configured: keep the standard threshold in step
            _std.setLevel(_THRESHOLD[self._selected.name])

    def follow_options(self, name: str | None) -> None:
        """Apply the options to this logger (``name``: the option that changed, None: all)."""
        from .config import options
        try:
            if name in (None, "verbose", "selected_log_level"):
                self.selected_log_level = self.get_level(options.selected_log_level,
                                                         lower_priority=options.verbose)
            if name in (None, "log_level_prefix"):
                self.show_prefixes = bool(options.log_level_prefix)
            if name in (None, "show_prefix_level"):
                self.show_prefix_level = self.get_level(options.show_prefix_level)
        except SystemExit:
            raise
        except Exception as error:  # noqa: BLE001 -- a bad option is reported where it is read
            _std.debug("logger left as it was: %s", error)

    def levels_by_priority(self) -> list:
        """Return the levels, most important first."""
        return sorted(self.levels, key=lambda level: level.priority)

    def get_level(self, name, lower_priority=0) -> LogLevel:
        """Return the level called ``name``, moved ``lower_priority`` levels down (or up)."""
        if isinstance(name, LogLevel):
            name = name.name
        from .config.values import log_level
        base = self.name_to_level[log_level(name)]
        if not lower_priority:
            return base
        wanted = base.priority + int(lower_priority)
        ordered = self.levels_by_priority()
        return ordered[max(0, min(len(ordered) - 1, wanted))]

    def level_active(self, name, **kwargs) -> bool:
        """Tell whether messages of level ``name`` are shown."""
        return self.get_level(name).priority <= self.selected_log_level.priority

    core_active = property(lambda self: self.level_active("core"))
    error_active = property(lambda self: self.level_active("error"))
    warn_active = property(lambda self: self.level_active("warn"))
    message_active = property(lambda self: self.level_active("message"))
    verbose_active = property(lambda self: self.level_active("verbose"))
    info_active = property(lambda self: self.level_active("info"))
    debug_active = property(lambda self: self.level_active("debug"))

    # -- messages -------------------------------------------------------------------------
    def log(self, msg, level, end="\n", file=None, markup=False, highlight=False, style=None,
            rule=False, rule_kwargs=None):
        """Show ``msg`` if ``level`` is active (``end`` as print's; ``markup``: rich-style tags
        such as ``[bold]`` are removed; ``file``: write there instead of logging)."""
        level = level if isinstance(level, LogLevel) else self.get_level(level)
        selected = self.selected_log_level
        if level.priority > selected.priority:
            return
        text = str(msg)
        if markup:
            text = _MARKUP.sub("", text)
        if rule:
            text = f" {text} ".center(60, "-") if text else "-" * 60
        continuing = self._last_level is level and not self._last_end.endswith("\n")
        show_prefix = (self.show_prefixes and not continuing
                       and selected.priority > self.show_prefix_level.priority)
        self._last_end, self._last_level = end, level
        prefix = level.prefix if show_prefix else ""
        if file is not None and file not in (sys.stdout, sys.stderr):
            file.write(prefix + text + end)
            return
        configure()
        _std.log(_RECORD_LEVEL[level.name], "%s", text,
                   extra={"enb_prefix": prefix, "enb_end": end,
                          "enb_stdout": level.name not in ("error", "warn")})

    def _at(name):  # noqa: N805 -- builds the per-level methods below
        def method(self, msg, *args, **kwargs):
            # printf-style arguments, as the standard library's loggers take them
            self.log(str(msg) % args if args else msg, self.name_to_level[name], **kwargs)
        method.__name__ = name
        method.__doc__ = f"Log a message of level {name!r}."
        return method

    core = _at("core")
    error = _at("error")
    warn = _at("warn")
    warning = warn
    message = _at("message")
    verbose = _at("verbose")
    info = _at("info")
    debug = _at("debug")
    del _at

    @contextlib.contextmanager
    def log_context(self, msg, level, sep="...", msg_after=None, show_duration=True):
        """Log ``msg``, run the block, then log that it is done (and how long it took)."""
        level = level if isinstance(level, LogLevel) else self.get_level(level)
        self.log(msg, level, end=sep)
        started = time.time()
        yield None
        if msg_after is None:
            same_line = self._last_level is level and self._last_end == sep
            msg_after = " done" if same_line else f"done ({str(msg).rstrip()})"
        if show_duration:
            msg_after += f" (took {time.time() - started:.2f}s)"
        self.log(msg_after if msg_after.endswith(".") else msg_after + ".", level)

    def _context_at(name):  # noqa: N805
        def method(self, msg, sep="...", msg_after=None, show_duration=True):
            return self.log_context(msg, self.name_to_level[name], sep=sep, msg_after=msg_after,
                                    show_duration=show_duration)
        method.__name__ = f"{name}_context"
        return method

    core_context = _context_at("core")
    error_context = _context_at("error")
    warn_context = _context_at("warn")
    message_context = _context_at("message")
    verbose_context = _context_at("verbose")
    info_context = _context_at("info")
    debug_context = _context_at("debug")
    del _context_at

    def print_to_log(self, *args, sep=" ", end="\n", file=None):
        """Print like :func:`print`, as a message of ``default_print_level``."""
        from .config import options
        self.log(sep.join(str(a) for a in args), self.get_level(options.default_print_level),
                 end=end, file=file)

    def show_banner(self, level=None):
        """Show a line with enb's version (at ``verbose`` level by default)."""
        from . import __version__
        self.log(f"Powered by enb v{__version__}", level or self.level_verbose, rule=True)

    def report_level_status(self) -> str:
        """Return a table of the levels, their priority and whether they are shown."""
        lines = [f"{'level':8s}  {'priority':8s}  {'active':6s}", "-" * 26]
        lines += [f"{level.name:8s}  {str(level.priority):8s}  {self.level_active(level)}"
                  for level in self.levels]
        return "\n".join(lines)

    @property
    def is_parallel_process(self):
        from .parallel_ray import is_parallel_process
        return is_parallel_process

    @property
    def is_ray_enabled(self):
        from .parallel_ray import is_ray_enabled
        return is_ray_enabled

    def __repr__(self):
        return f"{self.__class__.__name__}(selected={self.selected_log_level})"


#: enb 1.x's logger (``enb.logger`` and ``enb.log.logger``).
logger = Logger()


def option_changed(name: str | None) -> None:
    """Follow a change of enb's options (called by :mod:`enb.config.options`)."""
    if logger._selected is not None:
        logger.follow_options(name)


get_level = logger.get_level
log = logger.log
core = logger.core
error = logger.error
warn = logger.warn
message = logger.message
verbose = logger.verbose
info = logger.info
debug = logger.debug
show_banner = logger.show_banner
report_level_status = logger.report_level_status
core_active = ExposedProperty(instance=logger, property_name="core_active")
error_active = ExposedProperty(instance=logger, property_name="error_active")
warn_active = ExposedProperty(instance=logger, property_name="warn_active")
message_active = ExposedProperty(instance=logger, property_name="message_active")
verbose_active = ExposedProperty(instance=logger, property_name="verbose_active")
info_active = ExposedProperty(instance=logger, property_name="info_active")
debug_active = ExposedProperty(instance=logger, property_name="debug_active")
