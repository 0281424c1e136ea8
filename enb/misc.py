"""Small helpers with enb 1.x names (this module imports nothing of enb at import time)."""
from __future__ import annotations

import csv
import functools
import os
import re
import signal
import socket
import sys
import time


@functools.lru_cache(maxsize=1)
def _node_ip() -> str:
    # A UDP connect sends no packet; it only asks the kernel which address would be used.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def get_node_ip() -> str:
    """Return this machine's address on its default route (127.0.0.1 without a network)."""
    return os.environ.get("ENB_NODE_IP") or _node_ip()


def get_node_name() -> str:
    """Return this machine's host name."""
    return socket.gethostname()


def get_all_subclasses(*base_classes) -> set:
    """Return every subclass (recursively) of the given classes, the classes themselves excluded."""
    found = set()
    pending = list(base_classes)
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass not in found:
                found.add(subclass)
                pending.append(subclass)
    return found - set(base_classes)


def get_defining_class_name(method) -> str | None:
    """Return the name of the class a function was defined in, or None for a plain function."""
    parts = method.__qualname__.rsplit("<locals>.", 1)[-1].split(".")
    return parts[-2] if len(parts) >= 2 else None


def split_camel_case(camel_string: str) -> str:
    """Return ``"ThisIsAClass"`` as ``"This Is A Class"`` (acronyms stay together: ``"A PNG"``)."""
    return " ".join(re.findall(r"[A-Z](?:[a-z]+|[A-Z]*(?=[A-Z]|$))", camel_string))


def class_to_fqn(cls) -> str:
    """Return a class's fully qualified name, ``module.Class``."""
    module = getattr(cls, "__module__", None)
    return f"{module}.{cls.__name__}" if module is not None else cls.__name__


class Singleton(type):
    """Metaclass of classes with a single instance."""
    _instances: dict = {}

    def __call__(cls, *args, **kwargs):
        try:
            return cls._instances[cls]
        except KeyError:
            instance = cls._instances[cls] = super().__call__(*args, **kwargs)
            return instance


class ExposedProperty:
    """A callable that returns a property of an object (``enb.log.debug_active()``)."""

    def __init__(self, instance, property_name: str):
        self.instance = instance
        self.property_name = property_name

    def __call__(self, *args, **kwargs):
        return getattr(self.instance, self.property_name)


class CircularList(list):
    """A list whose indices wrap around: ``CircularList([1, 2])[3] == 2``."""

    def __getitem__(self, item):
        if isinstance(item, slice):
            return super().__getitem__(item)
        return super().__getitem__(item % len(self))


class LapTimer:
    """Print the time elapsed since the previous lap (or since it was made)."""

    def __init__(self):
        self.last_time = time.time()

    def print_lap(self, msg=None) -> None:
        now = time.time()
        print(f"Elapsed{' ' + msg if msg is not None else ''}: {now - self.last_time}")
        self.last_time = now


def remove_argparse_action(parser, action) -> None:
    """Remove ``action`` from an :class:`argparse.ArgumentParser`, its groups and its flags."""
    for container in [parser, *parser._action_groups]:
        for attribute in ("_actions", "_group_actions"):
            actions = getattr(container, attribute, None)
            if actions is not None and action in actions:
                actions.remove(action)
    for flag in action.option_strings:
        parser._option_string_actions.pop(flag, None)


def remove_argv_options(argv: list[str] | None = None) -> list[str]:
    """Return ``argv`` (default: ``sys.argv[1:]``) without enb's options and their values.

    For scripts that parse their own arguments strictly:
    ``parser.parse_args(enb.misc.remove_argv_options())``.
    """
    from .config.options import _OPTIONS
    argv = list(sys.argv[1:] if argv is None else argv)
    takes_value, flags = {}, set()
    for option in _OPTIONS:
        for flag in option.all_flags:
            flags.add(flag)
            takes_value[flag] = option.action not in ("count", "store_true")
    kept, index = [], 0
    while index < len(argv):
        argument = argv[index]
        flag = argument.split("=", 1)[0]
        short_counts = re.fullmatch(r"-([vqf])\1*", argument)
        if flag in flags or short_counts:
            index += 1
            if flag in flags and takes_value[flag] and "=" not in argument:
                while index < len(argv) and not argv[index].startswith("-"):
                    index += 1
                    if not _takes_many(flag):
                        break
            continue
        kept.append(argument)
        index += 1
    return kept


def _takes_many(flag: str) -> bool:
    from .config.options import _OPTIONS
    return any(flag in option.all_flags and option.nargs in ("+", "*") for option in _OPTIONS)


def escape_latex(text: str) -> str:
    """Return ``text`` with LaTeX's special characters escaped."""
    replacements = {"\\": r"\textbackslash{}", "_": r"\_", "%": r"\%", "&": r"\&", "#": r"\#",
                    "$": r"\$", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}",
                    "^": r"\textasciicircum{}"}
    return "".join(replacements.get(character, character) for character in str(text))


def csv_to_latex_tabular(input_csv_path, output_tex_path, contains_header=True,
                         use_booktabks=True) -> None:
    """Write the CSV file at ``input_csv_path`` as a LaTeX ``tabular`` to ``output_tex_path``."""
    with open(input_csv_path, newline="", encoding="utf-8") as csv_file:
        rows = list(csv.reader(csv_file))
    top, middle, bottom = (r"\toprule", r"\midrule", r"\bottomrule") if use_booktabks \
        else (r"\hline", r"\hline", r"\hline")
    width = max((len(row) for row in rows), default=0)
    lines = [r"\begin{tabular}{" + "l" * width + "}"]
    for number, row in enumerate(rows):
        cells = [escape_latex(cell) for cell in row]
        if number == 0 and contains_header:
            lines += [top, " & ".join(rf"\textbf{{{c}}}" for c in cells) + r" \\", middle]
        else:
            if number == 0:
                lines.append(top)
            lines.append(" & ".join(cells) + r" \\")
    lines += [bottom, r"\end{tabular}"]
    with open(output_tex_path, "w", encoding="utf-8") as tex_file:
        tex_file.write("\n".join(lines) + "\n")


def capture_usr1() -> None:
    """Open the debugger (pdb) in this process when it receives SIGUSR1."""
    def open_debugger(signal_number, frame):
        import pdb
        pdb.Pdb().set_trace(frame)
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, open_debugger)


class BootstrapLogger:
    """enb 1.x's stand-in logger for code that runs before enb's logger exists."""

    def __getattr__(self, name):
        from .log import logger
        return getattr(logger, name)
