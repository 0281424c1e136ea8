"""The ``enb`` command (also ``python -m enb``).

Each command group (``enb plugin ...``, ``enb cluster ...``) is one module listed in
:data:`COMMAND_GROUPS`. Such a module defines ``register(subparsers)``, which adds its parser
with ``subparsers.add_parser(...)`` and sets ``run=<function(args) -> exit status>`` on every
leaf parser through ``set_defaults``. A group module is imported on every ``enb`` call, so it
imports only what building its parser needs and defers the rest (pandas, ray, ssh) to its run
functions: ``enb --version`` and ``enb plugin list`` stay well under 150 ms.
"""
from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys

#: Modules that each add one command group; adding a group is one module and one line here.
COMMAND_GROUPS = (
    "enb.plugins.cli",
    "enb.report_cli",
    "enb.cluster.cli",
    "enb.options_cli",
)


def version() -> str:
    """Return the version of the ``enb`` being run.

    The installed distribution's metadata is used only if it describes this very package, so
    a source checkout on ``PYTHONPATH`` does not report the version of another install.
    """
    from importlib import metadata

    package_dir = os.path.dirname(os.path.abspath(__file__))
    try:
        distribution = metadata.distribution("enb")
        installed = os.path.abspath(distribution.locate_file("enb/__init__.py"))
        if os.path.dirname(installed) == package_dir:
            return distribution.version
    except metadata.PackageNotFoundError:
        pass
    import enb
    return enb.__version__


class _PrintVersion(argparse.Action):
    """``--version``: print ``enb <version>`` and exit; the version is looked up only then."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
                         nargs=0, help="show the version of enb and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"enb {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """Return the ``enb`` argument parser with every command group registered."""
    parser = argparse.ArgumentParser(
        prog="enb",
        description="Experiment NoteBook: computer experiments as tables, "
                    "on one machine or many. Use `enb COMMAND -h` for help on a command.")
    parser.add_argument("--version", action=_PrintVersion)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_name in COMMAND_GROUPS:
        importlib.import_module(module_name).register(commands)
    # enb 1.x has `enb help`; kept so that muscle memory works.
    commands.add_parser("help", help="show this help and exit").set_defaults(
        run=functools.partial(_print_help, parser))
    return parser


def _print_help(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    parser.print_help()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``enb`` command with ``argv`` (default: ``sys.argv[1:]``); return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except KeyboardInterrupt:
        print("enb: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
