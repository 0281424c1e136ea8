"""enb's options: one declared list, read from .ini files, the script's command line and code.

Priority, highest first: values set in code (``enb.config.options.cpu_limit = 2``), flags on
the running script's command line (``python script.py --cpu_limit 2``), ``.ini`` files (enb's
order: ``~/.config/enb/enb.ini``, ``*.ini`` beside the script, ``--ini FILE``), then the
declared defaults.

The command line is read lazily, the first time an option is read, with
``parse_known_args``: flags that enb does not know are left to the host script, except those
that look like a mistyped enb option. Nothing is read at import time. Set ``ENB_IGNORE_ARGV=1``
to embed enb in a program whose flags are not enb's (the test suite does).

Folder options read back absolute paths: ``project_root`` is the running script's folder unless
set, and the other folders lie under it unless set; a relative folder is read against the
project root, so a script behaves the same whatever folder it is started from. Reading a
folder option creates nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import glob
import logging
import os
import pickle
import sys
import tempfile
from typing import Any, Callable, Iterator

from . import values as v
from .sources import INI_SECTION, OptionError, check_unknown_flags, read_ini, resembling
from .values import EXECUTOR_NAMES, LOG_LEVEL_NAMES  # noqa: F401 (public names)

logger = logging.getLogger(__name__)
_ENB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Option:
    """One option: its name (the attribute), extra flags, parser, default and help.

    ``folder``: the value is a folder, read against the project root when relative.
    ``default_in_project``: for folders, a function of the project root that gives the
    default. ``in_project``: the folder may lie in the project, and then moves with it to a
    remote node's mount (:meth:`Options.rebase`).
    """
    name: str
    default: Any
    parse: Callable[[Any], Any]
    help: str
    flags: tuple = ()           # extra flags, e.g. ("-v",); "--<name>" is always accepted
    action: str = "store"       # "store", "count" or "store_true"
    nargs: str | None = None
    in_project: bool = False
    folder: bool = False
    default_in_project: Callable[[str], str | None] | None = None
    group: str = "general"

    @property
    def all_flags(self) -> list:
        return [f"--{self.name}", *self.flags]


def _script_stem() -> str | None:
    """Return the running script's name without ``.py`` (None when no script runs)."""
    script = sys.argv[0] if sys.argv else ""
    if not script or script in ("-c", "-m") or not os.path.isfile(script):
        return None
    name = os.path.basename(script)
    return name[:-3] if name.endswith(".py") else name


def _under(*parts: str) -> Callable[[str], str]:
    return lambda root: os.path.join(root, *parts)


def _per_script(folder_name: str) -> Callable[[str], str]:
    # enb 1.x writes plots and analyses into a folder per script: plots/<script>/...
    def default(root: str) -> str:
        stem = _script_stem()
        return os.path.join(root, folder_name, stem) if stem else os.path.join(root, folder_name)
    return default


def _existing(*parts: str) -> Callable[[str], str | None]:
    return lambda root: os.path.join(root, *parts) if os.path.isdir(os.path.join(root, *parts)) \
        else None


@functools.lru_cache(maxsize=1)
def _default_tmp_dir() -> str:
    """RAM-backed /dev/shm when usable, else the system's temporary folder.

    Outside the project on purpose: on a cluster each node keeps its temporary files local
    instead of sending every byte through the project mount.
    """
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK | os.X_OK):
        return "/dev/shm"
    return tempfile.gettempdir()


def _folder(name, help_text, default_in_project, flags=()) -> Option:
    return Option(name, None, v.none_or(v.folder), help_text, flags, in_project=True, folder=True,
                  default_in_project=default_in_project, group="folders")


_OPTIONS = (
    # General
    Option("verbose", 0, v.integer, "be verbose; repeat (-vv) for more detail", ("-v",), "count"),
    Option("extra_ini_paths", [], v.text_list, "additional .ini files to read", ("--ini",),
           nargs="+"),
    # Execution
    Option("executor", "local-process", v.executor,
           f"where rows run: {', '.join(EXECUTOR_NAMES)} (--ssh_cluster_csv_path implies "
           "ssh-ray-cluster)", group="execution"),
    Option("cpu_limit", None, v.none_or(v.integer),
           "maximum number of CPUs (worker processes) to use on this machine; <= 0 means no limit",
           group="execution"),
    Option("force", 0, v.integer, "recompute the requested cells even when they are stored",
           ("-f", "--overwrite"), "count", group="execution"),
    Option("retry_failed", False, v.boolean,
           "recompute only the rows whose column functions failed in an earlier run",
           action="store_true", group="execution"),
    Option("quick", 0, v.integer, "quick mode: use at most this many dataset files (-q, -qq, ...)",
           ("-q",), "count", group="execution"),
    Option("no_new_results", False, v.boolean, "do not compute anything: only load stored results",
           ("--render_only",), "store_true", group="execution"),
    Option("row_timeout", None, v.none_or(v.number),
           "end a row that runs longer than this many seconds, as a failure of that row",
           group="execution"),
    Option("chunk_size", None, v.none_or(v.positive_integer),
           "at most this many rows per unit of work sent to a worker", group="execution"),
    Option("repetitions", 1, v.positive_integer, "times each task is repeated (where applicable)",
           group="execution"),
    Option("report_wall_time", False, v.boolean,
           "report wall time instead of CPU time (enb.tcall)", action="store_true",
           group="execution"),
    Option("force_sanity_checks", False, v.boolean, "run extra consistency checks",
           action="store_true", group="execution"),
    Option("selected_columns", None, v.none_or(v.text_list), "compute only these columns",
           nargs="+", group="execution"),
    Option("progress_report_period", 1.0, v.number, "seconds between progress updates",
           group="execution"),
    Option("disable_progress_bar", False, v.boolean, "never show a progress bar",
           action="store_true", group="execution"),
    # Folders
    Option("project_root", None, v.none_or(v.absolute_path),
           "project root (default: the running script's folder); remote nodes see it at "
           "~/.enb-remote", group="folders"),
    _folder("base_dataset_dir", "folder searched for dataset files (default: "
            "<project_root>/datasets)", _under("datasets")),
    _folder("persistence_dir", "folder of the persistence CSV files (default: "
            "<project_root>/persistence)", _under("persistence")),
    _folder("reconstructed_dir", "folder that keeps a copy of reconstructed files (default: "
            "none, no copy kept)", None),
    _folder("compressed_copy_dir", "folder that keeps a copy of compressed files (default: "
            "none, no copy kept)", None),
    _folder("base_version_dataset_dir", "base folder of versioned datasets (default: "
            "<project_root>/versioned_datasets)", _under("versioned_datasets")),
    _folder("base_tmp_dir", "folder for temporary files (default: /dev/shm, else the system's "
            "temporary folder; local to each node)", lambda root: _default_tmp_dir()),
    _folder("external_bin_base_dir", "folder of external binaries (default: <project_root>/bin "
            "if it exists)", _existing("bin")),
    _folder("plot_dir", "folder for plots (default: <project_root>/plots/<script name>)",
            _per_script("plots")),
    _folder("analysis_dir", "folder for analysis results (default: "
            "<project_root>/analysis/<script name>)", _per_script("analysis")),
    # Cluster and ray
    Option("ssh_cluster_csv_path", None, v.none_or(v.user_path),
           "cluster configuration CSV; setting it runs rows on the ssh cluster",
           ("--ssh_csv",), group="cluster"),
    Option("ray_port", 11000, v.port, "first port of the range ray may use on every node",
           group="cluster"),
    Option("ray_port_count", 500, v.positive_integer, "number of ports ray may use from ray_port",
           group="cluster"),
    Option("remote_python", "python3", v.text,
           "the Python on the cluster's nodes that runs ray (default: python3 on the node's PATH)",
           group="cluster"),
    Option("ssh_known_hosts", None, v.none_or(v.absolute_path),
           "known_hosts file for the cluster's ssh connections (default: ssh's own)",
           ("--known_hosts",), group="cluster"),
    Option("no_remote_mount_needed", False, v.boolean,
           "do not mount the project folder on remote nodes", action="store_true",
           group="cluster"),
    Option("ray_dashboard", False, v.boolean,
           "start ray's dashboard (off by default; needs enb[ray-dashboard])",
           action="store_true", group="cluster"),
    Option("disable_swap", False, v.boolean,
           "kept for enb 1.x scripts (ray's memory monitor is left as ray configures it)",
           action="store_true", group="cluster"),
    Option("worker_script_name", "default_worker.py", v.file_name,
           "kept for enb 1.x scripts (the name of ray's worker script)", group="cluster"),
    Option("preshutdown_wait_seconds", 0.5, v.non_negative_number,
           "kept for enb 1.x scripts (seconds waited before ray stops)", group="cluster"),
    # Logging (enb 1.x's level names; see enb.log)
    Option("selected_log_level", "message", v.log_level,
           f"least important messages shown: {', '.join(LOG_LEVEL_NAMES)} (-v lowers it)",
           group="logging"),
    Option("default_print_level", "message", v.log_level,
           "level of enb.log's print-like messages", group="logging"),
    Option("log_level_prefix", True, v.boolean,
           "prefix messages with their level when show_prefix_level allows it",
           group="logging"),
    Option("show_prefix_level", "info", v.log_level,
           "prefixes are shown only when the selected level is below this one",
           group="logging"),
    Option("force_live_progress", False, v.boolean,
           "show the live progress bar even when the output is not a terminal",
           group="logging"),
)
OPTIONS = {option.name: option for option in _OPTIONS}
#: Every accepted flag name (no dashes) -> the flag enb suggests for a near miss.
_FLAG_NAMES = {flag.lstrip("-"): f"--{option.name}" for option in _OPTIONS
               for flag in option.all_flags if flag.startswith("--")}
_INI_KEYS = {name: name for name in OPTIONS}
#: Options whose changes the 1.x logger follows (see enb.log).
_LOGGING_OPTIONS = ("verbose", "selected_log_level", "log_level_prefix", "show_prefix_level")


def _path_inside(path: str, folder: str) -> str | None:
    """Return ``path`` relative to ``folder`` if it is ``folder`` or lies in it (by their
    spelling: no link resolved), else None."""
    relative = os.path.relpath(path, folder)
    inside = relative != os.pardir and not relative.startswith(os.pardir + os.sep)
    return relative if inside else None


@functools.lru_cache(maxsize=8)
def _script_dir(script: str, cwd: str) -> str:
    return os.path.realpath(os.path.dirname(os.path.join(cwd, script)))


def calling_script_dir() -> str:
    """Return the real folder of the running script (the current folder when there is none)."""
    script = sys.argv[0] if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    cwd = os.getcwd()
    return _script_dir(script, cwd) if script else cwd


def _code_location() -> str:
    """Return ``file:line`` of the code outside enb that is setting an option."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_ENB_DIR + os.sep):
        frame = frame.f_back
    if frame is None:
        return "set in code"
    path = frame.f_code.co_filename
    relative = os.path.relpath(path) if os.path.isabs(path) else path
    return f"set in code at {relative if not relative.startswith(os.pardir) else path}:" \
           f"{frame.f_lineno}"


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


_STATE_NAMES = frozenset({"_code", "_extra", "_ini", "_generation", "_exit_on_error", "_cli"})


def _process_options() -> "Options":
    """Return this process's ``enb.config.options``."""
    import enb.config
    return enb.config.options


def _options_from_state(state: dict) -> "Options":
    rebuilt = Options.__new__(Options)
    rebuilt.__dict__.update(state)
    return rebuilt


class Options:
    """The ``enb.config.options`` object: attribute access to every option's current value.

    Scripts may also keep their own attributes on it, as on enb 1.x's namespace; a name that
    looks like a mistyped option is refused instead.
    """

    def __init__(self, argv: list[str] | None = None):
        object.__setattr__(self, "_code", {})
        object.__setattr__(self, "_extra", {})
        object.__setattr__(self, "_ini", None)
        object.__setattr__(self, "_generation", getattr(self, "_generation", 0) + 1)
        # The process's own options (argv None) stop the script with one line on a bad flag
        # or .ini file, as argparse does; options built from a given argv raise.
        object.__setattr__(self, "_exit_on_error", argv is None)
        object.__setattr__(self, "_cli", None if argv is None else self._parse_argv(argv))

    # -- layers --------------------------------------------------------------------------
    @staticmethod
    def _convert(name: str, value: Any, origin: str) -> Any:
        option = OPTIONS[name]
        try:
            if option.action == "count" and isinstance(value, bool):
                return int(value)
            return option.parse(value)
        except (ValueError, SyntaxError, TypeError) as ex:
            raise OptionError(f"option --{name} ({origin}): {ex}") from None

    def _parse_argv(self, argv: list[str]) -> dict:
        try:
            namespace, unknown = _build_parser().parse_known_args(argv)
        except SystemExit:  # argparse's own message is on stderr already (e.g. --ini alone)
            raise OptionError("the command line has an enb option without its value "
                              f"({' '.join(argv)})") from None
        check_unknown_flags(unknown, _FLAG_NAMES)
        return {name: self._convert(name, value, "command line")
                for name, value in vars(namespace).items()}

    def _fail(self, error: OptionError):
        if self._exit_on_error and not os.environ.get("ENB_IGNORE_ARGV"):
            # A script: one line, like argparse's own errors.
            sys.stderr.write(f"enb: error: {error}\n")
            raise SystemExit(2) from None
        raise error

    def _cli_layer(self) -> dict:
        if self._cli is None:
            argv = [] if os.environ.get("ENB_IGNORE_ARGV") else sys.argv[1:]
            try:
                object.__setattr__(self, "_cli", self._parse_argv(argv))
            except OptionError as error:
                self._fail(error)
        return self._cli

    def ini_paths(self) -> list[str]:
        """Return the .ini files read, in the order they are applied."""
        return [path for path, _required in self._ini_files()]

    def _ini_files(self) -> list[tuple[str, bool]]:
        config_home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        user_ini = os.path.join(config_home, "enb", "enb.ini")
        files = [(user_ini, True)] if os.path.isfile(user_ini) else []
        # escape(): a folder named like "run[1]" is not a pattern
        beside = glob.glob(os.path.join(glob.escape(calling_script_dir()), "*.ini"))
        files += [(p, False) for p in sorted(beside, key=lambda p: os.path.basename(p).lower())]
        extra = self._code.get("extra_ini_paths")
        if extra is None:
            extra = self._cli_layer().get("extra_ini_paths") or []
            origin = "command line"
        else:
            origin = "set in code"
        for path in extra:
            if not os.path.isfile(path):
                raise OptionError(f"option --ini ({origin}): {path!r} is not a file")
            files.append((os.path.abspath(path), True))
        return files

    def _ini_layer(self) -> dict:
        if self._ini is None:
            found: dict[str, Any] = {}
            try:
                for path, required in self._ini_files():
                    for name, entry in read_ini(path, _INI_KEYS, required=required).items():
                        found[name] = self._convert(name, entry.text, entry.origin)
            except OptionError as error:
                self._fail(error)
            object.__setattr__(self, "_ini", found)
        return self._ini

    def _raw(self, name: str) -> Any:
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

    def __reduce__(self):
        # Column functions of a script's own classes reach ray's workers pickled by value,
        # with the globals they use: the process's options must arrive as a reference to
        # the worker's own (restored from the head and moved to the node's mount), not as a
        # copy of the head's.
        if self is _process_options():
            return (_process_options, ())
        return (_options_from_state, (self.__dict__.copy(),))

    # -- access --------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in _STATE_NAMES:
            # Internals are never options (and must not recurse while being unpickled).
            raise AttributeError(name)
        option = OPTIONS.get(name)
        if option is None:
            if name in self._extra:
                return self._extra[name]
            suggestion = None if name.startswith("_") else resembling(name, _INI_KEYS)
            hint = f"; did you mean {suggestion!r}?" if suggestion else ""
            raise AttributeError(f"enb.config.options has no option {name!r}{hint}")
        value = self._raw(name)
        if name == "project_root":
            return value if value is not None else calling_script_dir()
        if option.folder:
            if value is None:
                return option.default_in_project(self.project_root) \
                    if option.default_in_project else None
            if not os.path.isabs(value):
                return os.path.normpath(os.path.join(self.project_root, value))
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in OPTIONS:
            if name.startswith("_"):
                raise AttributeError(f"enb.config.options: {name!r} cannot be set")
            suggestion = resembling(name, _INI_KEYS)
            if suggestion is not None:
                raise OptionError(f"unknown option {name!r} ({_code_location()}); did you mean "
                                  f"{suggestion!r}?")
            self._extra[name] = value
        else:
            self._code[name] = self._convert(name, value, _code_location())
        self._changed(name)

    def __delattr__(self, name: str) -> None:
        self._code.pop(name, None)
        self._extra.pop(name, None)
        self._changed(name)

    def _changed(self, name: str | None) -> None:
        object.__setattr__(self, "_generation", self._generation + 1)
        if (name is None or name in _LOGGING_OPTIONS) and "enb.log" in sys.modules:
            sys.modules["enb.log"].option_changed(name)

    @property
    def generation(self) -> int:
        """A number that changes whenever an option is set (workers compare it)."""
        return self._generation

    def __iter__(self) -> Iterator[str]:
        return iter(list(OPTIONS) + list(self._extra))

    def __contains__(self, name: str) -> bool:
        return name in OPTIONS or name in self._extra

    def items(self):
        return [(name, getattr(self, name)) for name in OPTIONS] + list(self._extra.items())

    def update(self, values, trigger_events: bool = True) -> None:
        """Set several options at once from a dict, a namespace or another Options (enb 1.x)."""
        if isinstance(values, Options):
            pairs = values.items()
        elif isinstance(values, dict):
            pairs = values.items()
        else:
            pairs = vars(values).items()
        for name, value in pairs:
            setattr(self, name, value)

    def snapshot(self) -> dict:
        """Return every option's current value, to recreate these options in a worker.

        Folders are resolved here (by default under the running script's folder): a worker
        runs no script of its own to find them from. Attributes a script set that cannot be
        pickled stay on the head.
        """
        values = {name: getattr(self, name) for name in OPTIONS}
        root = values["project_root"]
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
        for name, value in self._extra.items():
            try:
                pickle.dumps(value)
            except Exception:  # noqa: BLE001 -- anything that does not pickle stays here
                logger.debug("enb.config.options.%s does not pickle: workers do not see it", name)
                continue
            values[name] = value
        return values

    def restore(self, values: dict) -> None:
        """Set every option from a :meth:`snapshot` (in a worker process)."""
        object.__setattr__(self, "_code", {k: val for k, val in values.items() if k in OPTIONS})
        object.__setattr__(self, "_extra", {k: val for k, val in values.items()
                                            if k not in OPTIONS})
        # A worker reads neither its own command line (ray's worker flags) nor .ini files.
        object.__setattr__(self, "_cli", {})
        object.__setattr__(self, "_ini", {})
        self._changed(None)

    def rebase(self, local_root: str) -> None:
        """Make this machine's ``local_root`` the project root, moving into it every folder
        option that lies inside the current project root (a worker on a remote node: the head's
        project folder is its mount, and ``--plot_dir`` on the head must be the mount's plots
        folder there). Folders outside the project are kept: they name this machine's own
        files, such as datasets copied to the same place on every node.
        """
        head_root = self.project_root
        local_root = os.path.abspath(local_root)
        if os.path.normpath(head_root) == local_root:
            return
        for option in _OPTIONS:
            value = getattr(self, option.name) if option.in_project else None
            relative = None if value is None else _path_inside(value, head_root)
            if relative is not None:
                self._code[option.name] = os.path.normpath(os.path.join(local_root, relative))
        self._code["project_root"] = local_root
        self._changed(None)

    def reset(self, argv: list[str] | None = None) -> None:
        """Forget values set in code and re-read the command line (``argv``) and .ini files."""
        self.__init__(argv)
        self._changed(None)

    # -- derived values ------------------------------------------------------------------
    def resolved_executor(self) -> str:
        """Return the executor to use: ``--ssh_cluster_csv_path`` implies ssh-ray-cluster."""
        if self.ssh_cluster_csv_path and self.executor == "local-process":
            return "ssh-ray-cluster"
        return self.executor

    def resolved_project_root(self) -> str:
        return self.project_root

    def resolved_persistence_dir(self) -> str:
        return self.persistence_dir

    def resolved_base_dataset_dir(self) -> str:
        return self.base_dataset_dir

    def project_path(self, path) -> str:
        """Return ``path`` made absolute: a relative path is read against the project root."""
        path = os.path.expanduser(os.fspath(path))
        return os.path.normpath(path if os.path.isabs(path)
                                else os.path.join(self.project_root, path))

    def __repr__(self) -> str:
        return "Options(" + ", ".join(f"{k}={v!r}" for k, v in self.items()) + ")"

    def __str__(self) -> str:
        return "Summary of enb.config.options:\n" + "\n".join(
            f"  - {name:30s} = {value!r}" for name, value in self.items())


__all__ = ["INI_SECTION", "OPTIONS", "Option", "OptionError", "Options", "calling_script_dir"]
