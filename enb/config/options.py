"""enb's options: one declared list, read from .ini files, the script's command line and code.

Priority, highest first: values set in code (``enb.config.options.cpu_limit = 2``), flags on
the running script's command line (``python script.py --cpu_limit 2``), ``.ini`` files (enb's
order: enb's defaults, ``~/.config/enb/enb.ini``, ``*.ini`` beside the script, ``--ini FILE``),
then the declared defaults.

The command line is read lazily, the first time an option is read, with
``parse_known_args``: flags that enb does not know are left to the host script. Nothing is
read at import time. Set ``ENB_IGNORE_ARGV=1`` to embed enb in a program whose flags are not
enb's (the test suite does).
"""
from __future__ import annotations

import argparse
import ast
import configparser
import dataclasses
import glob
import os
import sys
from typing import Any, Callable, Iterator

INI_SECTION = "enb.config.options"
EXECUTOR_NAMES = ("local-process", "local-ray", "ssh-ray-cluster")


class OptionError(ValueError):
    """An option was given a value it cannot take; the message names the option."""


# Value parsers: text (from flags and .ini files) or Python values (from code) -> value.
def _none_or(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parser(value):
        if value is None or (isinstance(value, str) and value.strip() in ("", "None", "none")):
            return None
        return parse(value)
    parser.__name__ = parse.__name__
    return parser


def _integer(value) -> int:
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


def _positive_integer(value) -> int:
    number = _integer(value)
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive integer")
    return number


def _port(value) -> int:
    number = _integer(value)
    if not 1 <= number <= 65535:
        raise ValueError(f"{value!r} is not a port number (1-65535)")
    return number


def _number(value) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number") from None


def _boolean(value) -> bool:
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


def _text(value) -> str:
    return str(value)


def _path(value) -> str:
    return os.path.abspath(os.path.expanduser(str(value)))


def _user_path(value) -> str:
    """A path kept as the user wrote it (relative to the current folder), ``~`` expanded."""
    return os.path.expanduser(str(value))


def _text_list(value) -> list:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = ast.literal_eval(text)
        else:
            value = text.split()
    return [str(v) for v in value]


def _executor(value) -> str:
    if value not in EXECUTOR_NAMES:
        raise ValueError(f"{value!r} is not an executor; choose one of {', '.join(EXECUTOR_NAMES)}")
    return value


@dataclasses.dataclass(frozen=True)
class Option:
    """One option: its name (the attribute), extra flags, parser, default and help."""
    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    flags: tuple = ()           # extra flags, e.g. ("-v",); "--<name>" is always accepted
    action: str = "store"       # "store", "count" or "store_true"
    nargs: str | None = None
    in_project: bool = False    # a folder that may lie in the project (Options.rebase)

    @property
    def all_flags(self) -> list:
        return [f"--{self.name}", *self.flags]


_OPTIONS = (
    # General
    Option("verbose", 0, _integer, "be verbose; repeat (-vv) for more detail", ("-v",), "count"),
    Option("extra_ini_paths", [], _text_list, "additional .ini files to read", ("--ini",),
           nargs="+"),
    # Execution
    Option("executor", "local-process", _executor,
           f"where rows run: {', '.join(EXECUTOR_NAMES)} (--ssh_cluster_csv_path implies "
           "ssh-ray-cluster)"),
    Option("cpu_limit", None, _none_or(_integer),
           "maximum number of CPUs (worker processes) to use on this machine; <= 0 means no limit"),
    Option("force", 0, _integer, "recompute the requested cells even when they are stored",
           ("-f", "--overwrite"), "count"),
    Option("retry_failed", False, _boolean,
           "recompute only the rows whose column functions failed in an earlier run",
           action="store_true"),
    Option("quick", 0, _integer, "quick mode: use at most this many dataset files (-q, -qq, ...)",
           ("-q",), "count"),
    Option("no_new_results", False, _boolean, "do not compute anything: only load stored results",
           ("--render_only",), "store_true"),
    Option("chunk_size", None, _none_or(_positive_integer),
           "at most this many rows per unit of work sent to a worker"),
    Option("repetitions", 1, _positive_integer, "times each task is repeated (where applicable)"),
    Option("report_wall_time", False, _boolean, "report wall time instead of CPU time",
           action="store_true"),
    Option("force_sanity_checks", False, _boolean, "run extra consistency checks",
           action="store_true"),
    Option("selected_columns", None, _none_or(_text_list), "compute only these columns",
           nargs="+"),
    Option("progress_report_period", 1.0, _number, "seconds between progress updates"),
    Option("disable_progress_bar", False, _boolean, "never show a progress bar",
           action="store_true"),
    # Paths
    Option("project_root", None, _none_or(_path),
           "project root (default: the running script's folder); remote nodes see it at "
           "~/.enb-remote"),
    Option("base_dataset_dir", None, _none_or(_path),
           "folder searched for dataset files (default: <project_root>/datasets)",
           in_project=True),
    Option("persistence_dir", None, _none_or(_path),
           "folder of the persistence CSV files (default: <project_root>/persistence)",
           in_project=True),
    Option("base_tmp_dir", None, _none_or(_path), "folder for temporary files",
           in_project=True),
    Option("plot_dir", None, _none_or(_path), "folder for plots", in_project=True),
    Option("analysis_dir", None, _none_or(_path), "folder for analysis results",
           in_project=True),
    Option("reconstructed_dir", None, _none_or(_path), "folder for reconstructed files",
           in_project=True),
    Option("external_bin_base_dir", None, _none_or(_path), "folder of external binaries",
           in_project=True),
    # Cluster
    Option("ssh_cluster_csv_path", None, _none_or(_user_path),
           "cluster configuration CSV; setting it runs rows on the ssh cluster",
           ("--ssh_csv",)),
    Option("ray_port", 11000, _port, "first port of the range ray may use on every node"),
    Option("ray_port_count", 500, _positive_integer, "number of ports ray may use from ray_port"),
    Option("remote_python", "python3", _text,
           "the Python on the cluster's nodes that runs ray (default: python3 on the node's PATH)"),
    Option("ssh_known_hosts", None, _none_or(_path),
           "known_hosts file for the cluster's ssh connections (default: ssh's own)",
           ("--known_hosts",)),
    Option("no_remote_mount_needed", False, _boolean,
           "do not mount the project folder on remote nodes", action="store_true"),
    Option("ray_dashboard", False, _boolean, "start ray's dashboard (off by default; needs enb[ray-dashboard])",
           action="store_true"),
)
OPTIONS = {option.name: option for option in _OPTIONS}


def _path_inside(path: str, folder: str) -> str | None:
    """Return ``path`` relative to ``folder`` if it is ``folder`` or lies in it (by their
    spelling: no link resolved), else None."""
    relative = os.path.relpath(path, folder)
    inside = relative != os.pardir and not relative.startswith(os.pardir + os.sep)
    return relative if inside else None


def calling_script_dir() -> str:
    """Return the folder of the running script (the current folder when there is none)."""
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return os.path.realpath(os.path.dirname(os.path.abspath(script))) if script else os.getcwd()


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for option in _OPTIONS:
        kwargs: dict[str, Any] = {"dest": option.name, "default": argparse.SUPPRESS,
                                  "help": option.help}
        if option.action in ("count", "store_true"):
            kwargs["action"] = option.action
        else:
            kwargs["nargs"] = option.nargs
        parser.add_argument(*option.all_flags, **kwargs)
    return parser


class Options:
    """The ``enb.config.options`` object: attribute access to every option's current value."""

    def __init__(self, argv: list[str] | None = None):
        object.__setattr__(self, "_code", {})
        object.__setattr__(self, "_cli", None if argv is None else self._parse_argv(argv))
        object.__setattr__(self, "_ini", None)

    # -- layers --------------------------------------------------------------------------
    @staticmethod
    def _convert(name: str, value: Any, origin: str) -> Any:
        option = OPTIONS[name]
        try:
            if option.action == "count" and isinstance(value, bool):
                return int(value)
            return option.parse(value)
        except (ValueError, SyntaxError) as ex:
            raise OptionError(f"option --{name} ({origin}): {ex}") from None

    def _parse_argv(self, argv: list[str]) -> dict:
        namespace, _unknown = _build_parser().parse_known_args(argv)
        return {name: self._convert(name, value, "command line")
                for name, value in vars(namespace).items()}

    def _cli_layer(self) -> dict:
        if self._cli is None:
            argv = [] if os.environ.get("ENB_IGNORE_ARGV") else sys.argv[1:]
            try:
                object.__setattr__(self, "_cli", self._parse_argv(argv))
            except OptionError as ex:
                if argv and not os.environ.get("ENB_IGNORE_ARGV"):
                    # A script run from a terminal: one line, like argparse's errors.
                    sys.stderr.write(f"enb: error: {ex}\n")
                    raise SystemExit(2) from None
                raise
        return self._cli

    def ini_paths(self) -> list[str]:
        """Return the .ini files read, in the order they are applied."""
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        paths = [os.path.join(config_home, "enb", "enb.ini")]
        paths += sorted(glob.glob(os.path.join(calling_script_dir(), "*.ini")),
                        key=lambda p: os.path.basename(p).lower())
        extra = self._cli_layer().get("extra_ini_paths") or self._code.get("extra_ini_paths") or []
        for path in extra:
            if not os.path.isfile(path):
                raise OptionError(f"option --ini: {path!r} does not exist")
        return [p for p in paths if os.path.isfile(p)] + [os.path.abspath(p) for p in extra]

    def _ini_layer(self) -> dict:
        if self._ini is None:
            values: dict[str, Any] = {}
            for path in self.ini_paths():
                parser = configparser.ConfigParser()
                try:
                    parser.read(path, encoding="utf-8")
                except configparser.Error as ex:
                    raise OptionError(f"{path}: not a valid .ini file: {ex}") from None
                if parser.has_section(INI_SECTION):
                    for name, text in parser.items(INI_SECTION):
                        if name in OPTIONS:
                            values[name] = self._convert(name, text, path)
            object.__setattr__(self, "_ini", values)
        return self._ini

    # -- access --------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in OPTIONS:
            raise AttributeError(f"enb.config.options has no option {name!r}")
        if name in self._code:
            return self._code[name]
        cli = self._cli_layer()
        if name in cli:
            return cli[name]
        ini = self._ini_layer()
        if name in ini:
            return ini[name]
        default = OPTIONS[name].default
        return list(default) if isinstance(default, list) else default

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in OPTIONS:
            raise AttributeError(f"enb.config.options has no option {name!r}")
        self._code[name] = self._convert(name, value, "set in code")

    def __delattr__(self, name: str) -> None:
        self._code.pop(name, None)

    def __iter__(self) -> Iterator[str]:
        return iter(OPTIONS)

    def items(self):
        return [(name, getattr(self, name)) for name in OPTIONS]

    def snapshot(self) -> dict:
        """Return every option's current value, to recreate these options in a worker.

        The project root is resolved here (by default, the running script's folder): a worker
        runs no script of its own to find it from.
        """
        values = dict(self.items())
        root = values["project_root"] = self.resolved_project_root()
        real_root = os.path.realpath(root)
        # A folder inside the project spelled through another symbolic link than the project
        # root (by default the script's real folder) is spelled from the root, so that
        # :meth:`rebase` sees it inside the project on a machine where the links do not exist.
        for option in _OPTIONS:
            value = values[option.name] if option.in_project else None
            if value is not None and _path_inside(value, root) is None:
                relative = _path_inside(os.path.realpath(value), real_root)
                if relative is not None:
                    values[option.name] = os.path.normpath(os.path.join(root, relative))
        return values

    def restore(self, values: dict) -> None:
        """Set every option from a :meth:`snapshot` (in a worker process)."""
        object.__setattr__(self, "_code", dict(values))

    def rebase(self, local_root: str) -> None:
        """Make this machine's ``local_root`` the project root, moving into it every folder
        option that lies inside the current project root (a worker on a remote node: the head's
        project folder is its mount, and ``--plot_dir`` on the head must be the mount's plots
        folder there). Folders outside the project are kept: they name this machine's own
        files, such as datasets copied to the same place on every node.
        """
        head_root = self.resolved_project_root()
        local_root = os.path.abspath(local_root)
        if os.path.normpath(head_root) == local_root:
            return
        for option in _OPTIONS:
            value = getattr(self, option.name) if option.in_project else None
            relative = None if value is None else _path_inside(value, head_root)
            if relative is not None:
                setattr(self, option.name, os.path.normpath(os.path.join(local_root, relative)))
        self.project_root = local_root

    def reset(self, argv: list[str] | None = None) -> None:
        """Forget values set in code and re-read the command line (``argv``) and .ini files."""
        self.__init__(argv)

    # -- derived values ------------------------------------------------------------------
    def resolved_executor(self) -> str:
        """Return the executor to use: ``--ssh_cluster_csv_path`` implies ssh-ray-cluster."""
        if self.ssh_cluster_csv_path and self.executor == "local-process":
            return "ssh-ray-cluster"
        return self.executor

    def resolved_project_root(self) -> str:
        return self.project_root or calling_script_dir()

    def resolved_persistence_dir(self) -> str:
        return self.persistence_dir or os.path.join(self.resolved_project_root(), "persistence")

    def resolved_base_dataset_dir(self) -> str:
        return self.base_dataset_dir or os.path.join(self.resolved_project_root(), "datasets")

    def __repr__(self) -> str:
        return "Options(" + ", ".join(f"{k}={v!r}" for k, v in self.items()) + ")"
