"""enb 1.1.3's own test files that must pass against this project, and how to get them.

Nothing of enb 1.1.3 is kept in this repository: its source distribution is downloaded with pip
when the tests run (``pip download --no-deps --no-binary :all: enb==1.1.3``, once per test
session, into the session's temporary folder) and its ``test/`` folder is unpacked beside the
two helpers its sdist forgot (``bitstream.py`` and ``codec_implementations/``, read from
``$ENB113_TEST_HELPERS`` or the team's shared fixtures folder, see :data:`HELPER_FOLDERS`).
Each file then runs as enb runs it: as a script, from its own folder, with this project's enb.

To add a file that must pass, add one line to :data:`MUST_PASS`.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ENB1_VERSION = "1.1.3"
REPO = Path(__file__).resolve().parents[2]
HELPER_NAMES = ("bitstream.py", "codec_implementations")
#: Where the two helpers are looked for, first found wins: $ENB113_TEST_HELPERS, then the team's
#: shared fixtures beside this checkout (``../shared``), then the workplace's shared folder.
HELPER_FOLDERS = tuple(Path(p) for p in (
    os.environ.get("ENB113_TEST_HELPERS", ""),
    REPO.parent / "shared" / "fixtures" / "enb-1.1.3-tests",
    "/work/shared/fixtures/enb-1.1.3-tests") if str(p))


def _helpers_folder() -> Path:
    for folder in HELPER_FOLDERS:
        if all((folder / name).exists() for name in HELPER_NAMES):
            return folder
    return HELPER_FOLDERS[0]


HELPERS = _helpers_folder()


@dataclasses.dataclass(frozen=True)
class TestFile:
    """One enb 1.1.3 test file, the unittest cases it must run, and who answers for it."""
    name: str
    cases: int
    owner: str
    #: It imports bitstream.py or codec_implementations/: without them it cannot run at all.
    needs_helpers: bool = False
    #: [enb.config.options] of an enb.ini beside the test files (a variant run, e.g. on ray).
    ini: tuple = ()
    variant: str = ""
    timeout: float = 600

    @property
    def id(self) -> str:
        return self.name + (f"[{self.variant}]" if self.variant else "")


#: The files that must pass, each with its number of cases ("Ran N tests", then "OK").
MUST_PASS = (
    TestFile("test_atable.py", 6, "table"),
    TestFile("test_sets.py", 2, "table"),
    TestFile("test_log.py", 1, "table"),
    TestFile("test_ray.py", 1, "table"),  # no cluster selected: its skip case, as in 1.1.3
    # With ray selected, its two ray cases run (ray.remote tasks and ProgressiveGetter).
    TestFile("test_ray.py", 2, "table", variant="local-ray",
             ini=(("executor", "local-ray"), ("ray_port", "31800"), ("ray_port_count", "100"))),
    TestFile("test_experiment.py", 1, "table"),
    TestFile("test_tarlite.py", 1, "table"),
    TestFile("test_icompression.py", 3, "compress", needs_helpers=True),
    TestFile("test_codec.py", 1, "compress", needs_helpers=True),
    TestFile("test_isets.py", 1, "compress"),
    TestFile("test_pgm.py", 2, "compress"),
    TestFile("test_wrapper_codecs.py", 2, "compress"),
    TestFile("test_aanalysis.py", 1, "analysis"),
)


class Unavailable(Exception):
    """enb 1.1.3's tests cannot be set up here; the message says why."""


def download_sdist(into: Path) -> Path:
    """Download enb 1.1.3's source distribution into ``into`` with pip; return its path."""
    into.mkdir(parents=True, exist_ok=True)
    pip = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary",
                          ":all:", "--quiet", "--disable-pip-version-check",
                          f"enb=={ENB1_VERSION}", "-d", str(into)],
                         capture_output=True, text=True, timeout=600)
    found = sorted(into.glob(f"enb-{ENB1_VERSION}.tar.gz"))
    if pip.returncode != 0 or not found:
        last = (pip.stderr.strip().splitlines() or ["no enb sdist was written"])[-1]
        raise Unavailable(f"cannot download enb {ENB1_VERSION}'s sdist with pip: {last}")
    return found[0]


def unpack_tests(sdist: Path, into: Path) -> Path:
    """Unpack the sdist's ``test/`` folder (and only it) into ``into``; return that folder."""
    prefix = f"enb-{ENB1_VERSION}/test/"
    with tarfile.open(sdist) as archive:
        members = [m for m in archive.getmembers()
                   if m.name.startswith(prefix) and (m.isfile() or m.isdir())]
        for member in members:
            relative = member.name[len(prefix):]
            if not relative or ".." in Path(relative).parts:
                continue
            target = into / relative
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.extractfile(member).read())
    if not (into / "test_atable.py").is_file():
        raise Unavailable(f"{sdist} has no {prefix}test_atable.py")
    return into


def helpers_missing() -> str | None:
    """Say why the two helpers cannot be added, or None when they can."""
    missing = [name for name in HELPER_NAMES if not (HELPERS / name).exists()]
    if missing:
        return (f"enb 1.1.3's test helpers {', '.join(missing)} are not in any of "
                f"{', '.join(map(str, HELPER_FOLDERS))} (set ENB113_TEST_HELPERS to the folder "
                f"that holds them)")
    return None


def add_helpers(folder: Path) -> None:
    for name in HELPER_NAMES:
        source = HELPERS / name
        if source.is_dir():
            shutil.copytree(source, folder / name, dirs_exist_ok=True)
        else:
            shutil.copy2(source, folder / name)
        _writable(folder / name)


def _writable(path: Path) -> None:
    # The shared copies are read-only; the test folder is a scratch copy the tests write in.
    for item in [path, *path.rglob("*")] if path.is_dir() else [path]:
        item.chmod(0o755 if item.is_dir() else 0o644)


def run(test: TestFile, folder: Path, home: Path) -> subprocess.CompletedProcess:
    """Run one test file as a script from ``folder``, with this project's enb."""
    if test.ini:
        lines = ["[enb.config.options]"] + [f"{key} = {value}" for key, value in test.ini]
        (folder / "enb.ini").write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENB_")}
    env.update(PYTHONPATH=str(REPO), XDG_CONFIG_HOME=str(home / ".config"), HOME=str(home),
               PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("RAY_AUTH_MODE", "disabled")  # a local ray.init() would write ~/.ray
    # enb 1.1.3's tests name tables after tempfile.NamedTemporaryFile() and remove only that
    # file: the table's sidecars (.types, .lock, .run.json) go to a folder removed afterwards,
    # short enough for ray's socket paths.
    scratch = tempfile.mkdtemp(prefix="enb113-tmp-")
    env["TMPDIR"] = scratch
    try:
        return subprocess.run([sys.executable, test.name], cwd=folder, env=env,
                              capture_output=True, text=True, timeout=test.timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
