"""``enb plugin list`` and ``enb plugin install NAME [DIR]``."""
from __future__ import annotations

import argparse
import os
import sys

from enb.plugins import TEMPLATES

#: Exit statuses: an unknown name is a usage error, as argparse's own.
EXIT_REFUSED = 1
EXIT_UNKNOWN_NAME = 2


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``plugin`` command group to the ``enb`` command line."""
    plugin = subparsers.add_parser(
        "plugin", help="list and install plugins (project templates)",
        description="List and install plugins: templates copied into a project folder.")
    commands = plugin.add_subparsers(dest="plugin_command", metavar="{list,install}",
                                     required=True)

    listing = commands.add_parser("list", help="show the available plugins",
                                  description="Show the available plugins, one a line.")
    listing.add_argument("filter", nargs="*",
                         help="show only plugins whose name, description or tags contain one "
                              "of these")
    listing.set_defaults(run=run_list)

    install = commands.add_parser(
        "install", help="copy a plugin's files into a folder",
        description="Copy a plugin's files (and those of the plugins it needs) into a folder. "
                    "Existing files are never overwritten unless --force is given.")
    install.add_argument("name", help="plugin name, as shown by `enb plugin list`")
    install.add_argument("destination", nargs="?", default=None,
                         help="folder to install into, created if needed "
                              "(default: plugins/NAME, as enb 1.x)")
    install.add_argument("-f", "--force", action="store_true",
                         help="overwrite files that already exist")
    install.set_defaults(run=run_install)


def run_list(args: argparse.Namespace) -> int:
    """Print each matching plugin's name and one-line description."""
    queries = [q.lower() for q in args.filter]
    shown = [t for t in TEMPLATES.values() if t.available
             and (not queries or any(q in t.name.lower() or q in t.description.lower()
                                     or any(q in tag for tag in t.tags) for q in queries))]
    if not shown:
        print(f"No plugin matches {', '.join(map(repr, args.filter))}.")
        return 0
    width = max(len(t.name) for t in shown)
    for each in shown:
        print(f"{each.name:<{width}}  {each.description}")
    return 0


def run_install(args: argparse.Namespace) -> int:
    """Install a plugin; report what was written, or why nothing was."""
    from enb.plugins import installer

    destination = args.destination
    if destination is None:
        destination = installer.default_destination(args.name)
    try:
        if args.destination is None:
            installer.template(args.name)  # fail on the name before creating plugins/
            _create_plugins_package()
        written = installer.install(args.name, destination, force=args.force)
    except installer.UnknownTemplateError as error:
        print(f"enb plugin install: error: {error}\nRun `enb plugin list` for descriptions.",
              file=sys.stderr)
        return EXIT_UNKNOWN_NAME
    except installer.InstallError as error:
        print(f"enb plugin install: error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    except OSError as error:
        print(f"enb plugin install: error: {error}", file=sys.stderr)
        return EXIT_REFUSED

    for path in written:
        print(f"  wrote {path}")
    template = installer.template(args.name)
    print(f"Installed {template.name!r} into {os.path.abspath(destination)}.")
    if template.next_step:
        print(template.next_step.format(dir=destination))
    return 0


def _create_plugins_package() -> None:
    """Create ``plugins/__init__.py`` when creating ``plugins/``, as enb 1.x does.

    It keeps ``plugins`` importable for projects that import installed plugins as modules.
    """
    if not os.path.exists("plugins"):
        os.makedirs("plugins")
        with open(os.path.join("plugins", "__init__.py"), "w"):
            pass
