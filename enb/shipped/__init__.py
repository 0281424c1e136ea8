"""Programs enb runs in other interpreters, sent as their source text: one module per program.

Each module of this package is a whole program, run as ``python -c SOURCE ARGS`` (or with the
source on stdin) on a node over ssh, or on this machine beside ray: nothing needs to be
installed where it runs. So every one of them imports only the standard library (and ray, for
the ``ray start`` bootstrap), never enb, and keeps to the Python its module docstring names.
They are real modules all the same: the head imports them for the functions it shares with
them, and unit tests import and lint them like any other.

:func:`source` is the one way to get a program's text; :func:`python_argv` the one way to run
it; :func:`loggable` elides the sources from a command line written to the log.

- :mod:`~enb.shipped.node_agent`: runs one node's ``ray start --block`` for a session and
  cleans up exactly that session (on the head and on every node).
- :mod:`~enb.shipped.node_facts`: prints a machine's facts for ``enb cluster check`` and the
  pre-flight (Python 3.6 syntax: a node with an old Python still says which it has).
- :mod:`~enb.shipped.pipeline_guard`: the parent of a project mount's pipeline on the head,
  which ends it when the process that mounted dies.
- ``ray_start``: :mod:`enb.executors._ray.internals`, the bootstrap ``ray start`` runs through.
  It lives with the ray plumbing because it is the one module that touches ray's private API,
  whether in this process or inside ``ray start``.
"""
from __future__ import annotations

import functools
import os
import shlex
from typing import Iterable

#: Every program enb ships: name -> its module's file, relative to the enb package.
PROGRAMS = {
    "node_agent": "shipped/node_agent.py",
    "node_facts": "shipped/node_facts.py",
    "pipeline_guard": "shipped/pipeline_guard.py",
    "ray_start": "executors/_ray/internals.py",
}


@functools.lru_cache(maxsize=None)
def source(program: str) -> str:
    """Return the source text of ``program`` (a name of :data:`PROGRAMS`), as it is sent."""
    if program not in PROGRAMS:
        raise ValueError(f"unknown shipped program {program!r}; one of {', '.join(PROGRAMS)}")
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(package, PROGRAMS[program]), encoding="utf-8") as text:
        return text.read()


def python_argv(python: str, program: str, *args: str, isolated: bool = True) -> list[str]:
    """Return the argv that runs ``program`` with the interpreter ``python`` and ``args``.

    ``isolated`` adds ``-I`` (no user site, no ``PYTHON*`` variables, no script folder on the
    path): the program sees only the standard library of that interpreter and its own code.
    """
    return [python, *(["-I"] if isolated else []), "-c", source(program), *args]


def loggable(argv: Iterable[str]) -> str:
    """Return ``argv`` as a shell line for logs, each program's source shown as ``<enb NAME>``.

    A source is elided where it is a whole argument and where it is quoted inside one (the
    remote command of an ssh argv).
    """
    sources = [(source(program), f"<enb {program}>") for program in PROGRAMS]

    def elide(arg: str) -> str:
        for text, placeholder in sources:
            arg = placeholder if arg == text else arg.replace(shlex.quote(text),
                                                              shlex.quote(placeholder))
        return arg
    return shlex.join(elide(arg) for arg in argv)
