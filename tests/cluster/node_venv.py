"""Prepare the virtual environment the simulated nodes run, and head-side cluster code too.

ray refuses to join processes whose Python differs in the patch release, so the
nodes and the head side of a cluster test run one venv. It is made from Debian's
python3 because pyenv's interpreters live under /root (mode 0700), where node
users cannot read them, and it lives outside /tmp, which each node replaces with
its own. Building it takes a minute, so it is kept between runs and rebuilt only
when the requirement set changes; the project itself is reinstalled every session.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import shutil
import tempfile
from pathlib import Path

from netns import SYSTEM_PYTHON
from netns_sessions import run

#: ENB_TEST_NODE_VENV gives each checkout its own (two checkouts testing at once would
#: otherwise install their own enb over each other's).
VENV = Path(os.environ.get("ENB_TEST_NODE_VENV", "/opt/enb-test-venv"))
MARKER = ".enb-test-requirements"  # the requirement set the venv was built with
FALLBACK_RAY_VERSION = "2.60.0"
PACKAGE = "enb"  # with the checkout's top-level files (pyproject.toml, README.md), all a build reads


def ray_version() -> str:
    """Return the ray version of the running interpreter, which the nodes must match."""
    try:
        return importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        return FALLBACK_RAY_VERSION


def requirements() -> list[str]:
    """Return what the node venv needs besides the project."""
    return [f"ray=={ray_version()}", "pandas", "numpy", "pytest", "tqdm",
            # enb[plot]: figures render on the nodes too
            "matplotlib", "scipy",
            # The project is built without build isolation (no index needed each
            # session); Debian's setuptools 66 needs the wheel package for that.
            "setuptools>=64", "wheel"]


def prepare_node_venv(repo: Path, venv: Path = VENV, timeout: float = 1200) -> Path:
    """Make venv hold requirements() and repo's working tree; return venv.

    The project is installed non-editable from a copy: the checkout may sit
    where node users cannot read it, and an in-tree build would leave build/
    and *.egg-info in it. The copy holds only what a build reads, not whatever
    else lies in the working tree.
    """
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.with_name(venv.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two test sessions must not build it at once
        wanted = "\n".join([_system_python_version(), *requirements()]) + "\n"
        marker = venv / MARKER
        if not (marker.exists() and marker.read_text() == wanted
                and (venv / "bin" / "python").exists()):
            shutil.rmtree(venv, ignore_errors=True)
            _run_readable([SYSTEM_PYTHON, "-m", "venv", str(venv)], timeout)
            _pip(venv, ["install", *requirements()], timeout)
            marker.write_text(wanted)
        with tempfile.TemporaryDirectory(prefix="enb-build-") as build:
            source = Path(build) / "source"
            shutil.copytree(repo / PACKAGE, source / PACKAGE,
                            ignore=shutil.ignore_patterns("__pycache__"))
            for path in repo.iterdir():
                if path.is_file():
                    shutil.copy2(path, source)
            _pip(venv, ["install", "--no-index", "--no-deps", "--no-build-isolation",
                        "--force-reinstall", str(source)], timeout)
    return venv


def _system_python_version() -> str:
    return run([SYSTEM_PYTHON, "-c", "import sys; print(sys.version)"]).stdout.strip()


def _pip(venv: Path, args: list[str], timeout: float) -> None:
    _run_readable([str(venv / "bin" / "python"), "-m", "pip", "--quiet",
                   "--disable-pip-version-check", *args], timeout)


def _run_readable(argv: list[str], timeout: float) -> None:
    """Run argv with umask 022, so that node users can read what it installs."""
    with _umask(0o022):
        run(argv, timeout=timeout)


@contextlib.contextmanager
def _umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)
