"""The three things measured: ours, the published enb 1.1.3, and the ideal (no enb at all).

Each is an interpreter plus an environment plus the command-line arguments its scripts get.
Ours runs from a compiled copy of this checkout's ``enb`` package (``PYTHONPATH``). enb 1.1.3 runs from a venv
on Python 3.12 that this module creates once and caches, since enb 1.1.3 imports only on
Python >= 3.12. The ideal runs the same scripts with ``impl=ideal`` on our interpreter.
"""
from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
ENB113_VERSION = "1.1.3"
#: Written into the venv once ``pip install`` has succeeded; a venv without it is rebuilt.
_READY_MARK = ".enb-bench-ready"


class Unavailable(Exception):
    """An implementation or executor cannot run here; the message says why."""


@dataclasses.dataclass(frozen=True)
class Implementation:
    key: str                 # "ours", "enb113" or "ideal"
    title: str
    python: str
    env: dict
    impl_param: str = "enb"  # the scripts' ``impl`` parameter
    takes_executor: bool = False

    def argv(self, executor: str | None, cluster_csv: str | None) -> list[str]:
        """Return the command-line arguments a workload script gets on ``executor``.

        Only ours takes any: enb 1.1.3 parses ``sys.argv`` and rejects unknown flags.
        """
        if not self.takes_executor or executor is None:
            return []
        argv = ["--executor", executor]
        if executor == "ssh-ray-cluster" and cluster_csv:
            argv += ["--ssh_cluster_csv_path", cluster_csv]
        return argv

    def env_for(self, executor: str | None) -> dict:
        """Return the environment of a run on ``executor``."""
        env = dict(self.env)
        if executor == "local-ray":
            # A local ray.init() otherwise writes ~/.ray/auth_token, after which every
            # `ray start --head` of this user turns token auth on (DESIGN.md, section 5).
            env.setdefault("RAY_AUTH_MODE", "disabled")
        return env


#: Variables that would change what is measured: another enb or ray, enb test switches
#: (``ENB_IGNORE_ARGV`` would drop ``--executor``), a ray cluster to attach to.
_DROPPED_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "RAY_ADDRESS")


def _base_env() -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in _DROPPED_VARIABLES and not k.startswith("ENB_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def snapshot_ours(into: Path, python: str | None = None) -> Path:
    """Copy this checkout's ``enb`` package into ``into`` and compile it; return ``into``.

    The suite runs ours from the copy: other people's edits to the working tree during a
    long run cannot reach it, and its bytecode is compiled once, as an installed package's
    is, without writing ``__pycache__`` folders into the repository (the environment may
    set ``PYTHONDONTWRITEBYTECODE``, which would make every process compile enb again).
    """
    into.mkdir(parents=True, exist_ok=True)
    shutil.copytree(REPO_ROOT / "enb", into / "enb",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    subprocess.run([python or sys.executable, "-m", "compileall", "-q", str(into / "enb")],
                   check=True, timeout=300, env=_base_env(), stdout=subprocess.DEVNULL)
    return into


def ours(snapshot: Path, python: str | None = None) -> Implementation:
    """Return our enb, from a :func:`snapshot_ours` folder, on ``python`` (default: this one)."""
    env = _base_env()
    env["PYTHONPATH"] = str(snapshot)
    return Implementation("ours", "ours", python or sys.executable, env, takes_executor=True)


def ideal(python: str | None = None) -> Implementation:
    """Return the no-enb baseline, on our interpreter."""
    return Implementation("ideal", "ideal", python or sys.executable, _base_env(),
                          impl_param="ideal")


def enb113(python: str) -> Implementation:
    """Return enb 1.1.3 on ``python`` (an interpreter that imports it)."""
    return Implementation("enb113", f"enb {ENB113_VERSION}", python, _base_env())


# ---------------------------------------------------------------- enb 1.1.3's venv

def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "enb-bench"


def find_python312() -> str:
    """Return a Python 3.12 interpreter: pyenv's newest 3.12.x, else ``python3.12`` on PATH."""
    candidates = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            root = subprocess.run([pyenv, "root"], capture_output=True, text=True,
                                  timeout=30, check=True).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            root = ""
        versions = Path(root, "versions") if root else None
        if versions and versions.is_dir():
            found = [p for p in versions.glob("3.12.*") if (p / "bin" / "python").is_file()]
            found.sort(key=lambda p: [int(x) if x.isdigit() else -1
                                      for x in p.name.split(".")], reverse=True)
            candidates += [str(p / "bin" / "python") for p in found]
    on_path = shutil.which("python3.12")
    if on_path:
        candidates.append(on_path)
    for candidate in candidates:
        try:
            version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                     capture_output=True, text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            continue
        if version == "(3, 12)":
            return candidate
    raise Unavailable("no Python 3.12 found (looked in `pyenv root`/versions/3.12.* and for "
                      "python3.12 on PATH); enb 1.1.3 imports only on Python >= 3.12")


def _installed_enb_version(python: str) -> str | None:
    code = "import importlib.metadata as m; print(m.version('enb'))"
    try:
        # cwd "/": from a checkout, `python -c` would find the checkout's enb.egg-info first
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60,
                              env=_base_env(), cwd="/")
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_enb113(log=print) -> str:
    """Return the python of the cached enb 1.1.3 venv, creating it first if needed.

    The venv lives in ``~/.cache/enb-bench/venv-enb113``; a lock file keeps two suites
    from building it at once. Raises :class:`Unavailable` with the reason when it cannot.
    """
    venv = cache_dir() / "venv-enb113"
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / "venv-enb113.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _READY_MARK).exists() and _installed_enb_version(str(python)) == ENB113_VERSION:
            return str(python)
        base = find_python312()
        log(f"creating {venv} with {base} and `pip install enb=={ENB113_VERSION}` "
            f"(once; about a minute)")
        shutil.rmtree(venv, ignore_errors=True)
        log_path = venv.parent / "venv-enb113.log"
        with open(log_path, "w") as install_log:
            for argv in ([base, "-m", "venv", str(venv)],
                         [str(python), "-m", "pip", "install", "--disable-pip-version-check",
                          f"enb=={ENB113_VERSION}"]):
                install_log.write(f"$ {' '.join(argv)}\n")
                install_log.flush()
                try:
                    done = subprocess.run(argv, stdout=install_log, stderr=subprocess.STDOUT,
                                          env=_base_env(), timeout=1800)
                except (OSError, subprocess.SubprocessError) as error:
                    raise Unavailable(f"{argv[2]} failed: {error} (log: {log_path})") from None
                if done.returncode != 0:
                    raise Unavailable(f"`{' '.join(argv[-3:])}` failed with status "
                                      f"{done.returncode}; see {log_path}")
        version = _installed_enb_version(str(python))
        if version != ENB113_VERSION:
            raise Unavailable(f"the venv at {venv} reports enb {version!r}, not {ENB113_VERSION}")
        (venv / _READY_MARK).write_text("ok\n")
        return str(python)


# ---------------------------------------------------------------- descriptions

_DESCRIBE = r"""
import importlib.metadata as m, json, platform, sys
out = {"python": platform.python_version(), "executable": sys.executable}
for name in ("enb", "numpy", "pandas", "ray"):
    try:
        out[name] = m.version(name)
    except m.PackageNotFoundError:
        pass
print(json.dumps(out))
"""


def describe(impl: Implementation) -> dict:
    """Return the versions behind ``impl``: Python, and enb, numpy, pandas, ray if installed."""
    try:
        done = subprocess.run([impl.python, "-c", _DESCRIBE], capture_output=True, text=True,
                              timeout=60, env=impl.env, cwd="/")
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        return {"error": str(error)}


def ray_version(impl: Implementation) -> str:
    """Return the version of ray that ``impl`` imports; raise :class:`Unavailable` if none."""
    code = "import ray; print(ray.__version__)"
    try:
        done = subprocess.run([impl.python, "-c", code], capture_output=True, text=True,
                              timeout=120, env=impl.env, cwd="/")
    except (OSError, subprocess.SubprocessError) as error:
        raise Unavailable(f"`import ray` could not run: {error}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise Unavailable(f"`import ray` fails on {impl.python}: {last}")
    return done.stdout.strip()
