"""Keep a record of harness sessions, and remove what dead ones left behind.

A session writes STATE_ROOT/<session>/state.json before it creates anything:
its owner process, its namespaces, links and users, and the mode /dev/fuse had.
A session whose owner process is gone (a crash, a SIGKILL, a timeout of CI) is
dead, and anything it recorded, or named with PREFIX plus its id, can go.
Sessions of other live test runs on this machine are never touched.

`python netns_sessions.py` removes the leftovers by hand.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path
from typing import Iterable, Sequence

PREFIX = "enbt-"
STATE_ROOT = Path("/var/lib/enb-test-cluster")
STATE_KEYS = {"session", "workdir", "owner_pid", "owner_start", "namespaces", "links",
              "users", "fuse_mode"}


class HarnessError(RuntimeError):
    """The simulated cluster could not be set up, inspected or removed."""


def run(argv: Sequence[str], *, timeout: float = 30, check: bool = True,
        **kwargs) -> subprocess.CompletedProcess:
    """Run argv with a timeout; on failure raise HarnessError quoting its output."""
    result = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True,
                            text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise HarnessError(f"{shlex.join(argv)} exited {result.returncode}: "
                           f"{(result.stderr or result.stdout).strip()}")
    return result


def wait_until(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll condition() until it returns a true value; raise HarnessError after timeout."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return value


def start_time(pid: int) -> int | None:
    """Return when pid started (to tell it from a later reuse), None unless it runs.

    A zombie counts as gone: it has exited and only waits to be reaped.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields follow the last ')'.
    fields = text[text.rindex(")") + 2:].split()
    return None if fields[0] in "ZX" else int(fields[19])


def is_running(pid: int, started: int | None) -> bool:
    """Tell whether pid runs and is the process that started at `started`."""
    return started is not None and start_time(pid) == started


@contextlib.contextmanager
def locked():
    """Serialize harness sessions while they pick subnets or remove leftovers."""
    STATE_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(STATE_ROOT / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def new_state(session: str, workdir: Path, links: list[str]) -> dict:
    """Return the record of a session owned by this process; save it with save_state()."""
    live = live_states()
    return {
        "session": session, "workdir": str(workdir),
        "owner_pid": os.getpid(), "owner_start": start_time(os.getpid()),
        "namespaces": [], "links": links, "users": [],
        # A live session already opened /dev/fuse: inherit the mode it found.
        "fuse_mode": live[0]["fuse_mode"] if live else fuse_mode(),
    }


def save_state(state: dict) -> None:
    """Write state atomically into its session's folder."""
    path = Path(state["workdir"]) / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, path)


def live_states(excluding: str | None = None) -> list[dict]:
    """Return the states of sessions whose owner runs (but the one named excluding)."""
    return [state for state in _load_states()
            if state["session"] != excluding and _is_live(state)]


def fuse_mode() -> int:
    """Return the permission bits of /dev/fuse."""
    return stat.S_IMODE(os.stat("/dev/fuse").st_mode)


def remove_session(state: dict, restore_fuse: bool) -> None:
    """Remove every resource a session state records, then the state itself."""
    _remove_resources(state["namespaces"], state["links"], state["users"])
    if restore_fuse:
        os.chmod("/dev/fuse", state["fuse_mode"])
    shutil.rmtree(state["workdir"], ignore_errors=True)


def remove_leftovers() -> list[str]:
    """Remove what dead harness sessions left behind; return their ids."""
    with locked():
        return remove_leftovers_locked()


def remove_leftovers_locked() -> list[str]:
    """Do remove_leftovers(); the caller holds locked()."""
    states = _load_states()
    live = {state["session"] for state in states if _is_live(state)}
    dead = [state for state in states if state["session"] not in live]
    for state in dead:
        remove_session(state, restore_fuse=not live)
    # Names whose state file is gone: namespaces and links carry the session id.
    namespaces = [line.split()[0] for line in run(["ip", "netns", "list"]).stdout.splitlines()]
    _remove_resources(
        namespaces=[n for n in namespaces if _session_of(n) not in (None, *live)],
        links=[n for n in os.listdir("/sys/class/net") if _session_of(n) not in (None, *live)],
        users=())
    return [state["session"] for state in dead]


def _load_states() -> list[dict]:
    states = []
    for path in STATE_ROOT.glob("*/state.json"):
        with contextlib.suppress(OSError, ValueError):
            state = json.loads(path.read_text())
            if STATE_KEYS <= state.keys():
                states.append(state)
    return states


def _is_live(state: dict) -> bool:
    return is_running(state["owner_pid"], state["owner_start"])


def _session_of(name: str) -> str | None:
    """Return the session id in a harness name (`enbt-<sid>` or `enbt-<sid>-<n>`)."""
    if not name.startswith(PREFIX):
        return None
    return name[len(PREFIX):].split("-")[0]


def _remove_resources(namespaces: Iterable[str], links: Iterable[str],
                      users: Iterable[str]) -> None:
    """Remove harness namespaces (and their processes), links and users, in that order."""
    for namespace in namespaces:
        if os.path.exists(f"/run/netns/{namespace}"):
            _kill_netns_processes(namespace)
            run(["ip", "netns", "del", namespace], check=False)
    for link in links:
        # Deleting a namespace deletes its veth pair; the bridge stays until here.
        if os.path.exists(f"/sys/class/net/{link}"):
            run(["ip", "link", "del", link], check=False)
    for user in users:
        if not user.startswith(PREFIX):  # a damaged state file must not delete others
            continue
        with contextlib.suppress(KeyError):
            pwd.getpwnam(user)
            run(["userdel", "--force", "--remove", user], check=False)
        shutil.rmtree(Path("/home") / user, ignore_errors=True)


def _netns_pids(namespace: str) -> list[int]:
    return [int(pid) for pid in run(["ip", "netns", "pids", namespace], check=False).stdout.split()]


def _kill_netns_processes(namespace: str) -> None:
    """Kill every process in a harness namespace and wait until they are gone.

    Only the harness (and tests through it) start processes there; killing the
    node's pid 1 ends its pid namespace, and so everything a test ran on it.
    """
    for pid in _netns_pids(namespace):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not _netns_pids(namespace), 10,
               f"the processes of namespace {namespace} to end")


if __name__ == "__main__":
    removed = remove_leftovers()
    print(f"removed {len(removed)} dead session(s): {' '.join(removed) or '-'}")
