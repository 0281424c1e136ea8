"""``enb options``: list every option with its flags, default and help."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``options`` command to the ``enb`` command line."""
    command = subparsers.add_parser(
        "options", help="list enb's options (flags of every script that uses enb)",
        description="List enb's options: each is a flag of any script that imports enb, a key "
                    "of the [enb.config.options] section of .ini files, and an attribute of "
                    "enb.config.options.")
    command.add_argument("filter", nargs="*", help="show only options whose name contains one")
    command.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .config.options import _OPTIONS
    shown = [o for o in _OPTIONS if not args.filter or any(f in o.name for f in args.filter)]
    for option in shown:
        flags = ", ".join(option.all_flags)
        if option.folder:
            default = "under the project root" if option.default_in_project else "none"
        else:
            default = repr(option.default)
        print(f"{flags}\n    {option.help} (default: {default})")
    return 0
