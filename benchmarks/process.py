"""Run one workload script in a fresh process and measure it from outside.

The script runs in a session of its own (``start_new_session``) with a unique
``ENB_BENCH_STEP`` variable in its environment. Every process it starts inherits one or the
other, including daemons that start sessions of their own (ray's, started by ``ray start``)
as long as they keep the environment. The runner samples the summed memory of these
processes while the script runs, kills the group on a timeout, and after the script exits
ends whatever it left behind (by pid: they are ours) and reports them: a leak is a finding.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import subprocess
import threading
import time
from pathlib import Path

#: How often the session's memory is sampled, in seconds.
SAMPLE_PERIOD_S = 0.25
#: How long the step's other processes get to end on their own once the script has exited
#: (a backend may tear down after its driver is gone); what still runs then is a leftover.
LEFTOVER_GRACE_S = 10.0
#: How much of a failed script's stderr is kept in the results.
STDERR_TAIL_CHARS = 1500


@dataclasses.dataclass
class StepOutcome:
    """What one process run produced: its JSON line plus the outside measurements."""
    ok: bool
    wall_s: float
    returncode: int | None
    measurements: dict
    #: ``ru_maxrss`` from ``wait4``: the larger of the process's peak and its reaped children's.
    peak_rss_mb: float | None
    #: Peak of the summed RSS of the step's processes, sampled every SAMPLE_PERIOD_S.
    session_peak_rss_mb: float | None
    #: "pid name" of the step's processes still alive after the script exited.
    leftovers: list[str]
    #: How long the step's other processes ran on after the script exited (None: they were
    #: still running after LEFTOVER_GRACE_S, and are the leftovers).
    lingered_s: float | None = None
    error: str | None = None
    #: User + system CPU seconds from ``wait4``: the process's and its reaped children's.
    cpu_s: float | None = None

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


TAG_VARIABLE = "ENB_BENCH_STEP"


def _step_members(sid: int, tag: str) -> list[int]:
    """Return the pids of live processes in session ``sid`` or carrying ``tag``."""
    needle = f"{TAG_VARIABLE}={tag}".encode()
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":  # after the name: state, ppid, pgrp, session; zombies are gone
                continue
            if int(fields[3]) == sid:
                members.append(int(entry.name))
                continue
            with open(f"/proc/{entry.name}/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    members.append(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    return members


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, IndexError, ValueError):
        return 0.0


def _process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
        return " ".join(a.decode(errors="replace") for a in argv[:3] if a)[:120]
    except OSError:
        return "?"


def wait_for_exit(sid: int, tag: str, timeout_s: float) -> float | None:
    """Wait until no process of the step runs; return how long that took (None: timed out)."""
    start = time.monotonic()
    while _step_members(sid, tag):
        if time.monotonic() - start > timeout_s:
            return None
        time.sleep(0.2)
    return time.monotonic() - start


def end_step(sid: int, tag: str, grace_s: float = 3.0) -> list[str]:
    """Terminate what a step left running (SIGTERM, then SIGKILL); describe each process."""
    pids = _step_members(sid, tag)
    described = [f"{pid} {_process_name(pid)}" for pid in pids]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace_s
    while pids and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = set(_step_members(sid, tag))
        pids = [pid for pid in pids if pid in alive]
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return described


class _MemorySampler(threading.Thread):
    """Track the peak of the summed RSS of a step's processes."""

    def __init__(self, sid: int, tag: str):
        super().__init__(daemon=True)
        self.sid = sid
        self.tag = tag
        self.peak_mb = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            total = sum(_rss_mb(pid) for pid in _step_members(self.sid, self.tag))
            self.peak_mb = max(self.peak_mb, total)
            self.stop.wait(SAMPLE_PERIOD_S)


def run_script(python: str, script: Path, argv: list[str], params: dict, env: dict,
               workdir: Path, timeout_s: float, label: str) -> StepOutcome:
    """Run ``python script *argv`` in ``workdir`` with ``params``; measure it from outside.

    ``params`` reaches the script as the ``ENB_BENCH_PARAMS`` environment variable, with
    ``out`` (where the script writes its JSON line) and ``workdir`` filled in here.
    """
    out = workdir / f"{label}.json"
    out.unlink(missing_ok=True)
    params = {**params, "out": str(out), "workdir": str(workdir)}
    tag = secrets.token_hex(8)
    env = {**env, "ENB_BENCH_PARAMS": json.dumps(params), TAG_VARIABLE: tag}
    stdout_path, stderr_path = workdir / f"{label}.stdout", workdir / f"{label}.stderr"
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen([python, str(script), *argv], cwd=workdir, env=env,
                                stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                start_new_session=True)
        sampler = _MemorySampler(proc.pid, tag)
        sampler.start()
        timed_out = threading.Event()

        def kill_on_timeout() -> None:
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout_s, kill_on_timeout)
        timer.start()
        try:
            # wait4, not Popen.wait: it also returns the child's resource usage.
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: take the whole session down with us
            kill_on_timeout()
            os.waitpid(proc.pid, 0)
            end_step(proc.pid, tag)
            raise
        finally:
            wall_s = time.perf_counter() - start
            timer.cancel()
            sampler.stop.set()
        proc.returncode = os.waitstatus_to_exitcode(status)
    sampler.join()
    lingered_s = wait_for_exit(proc.pid, tag, LEFTOVER_GRACE_S)
    leftovers = end_step(proc.pid, tag) if lingered_s is None else []

    outcome = StepOutcome(ok=False, wall_s=wall_s, returncode=proc.returncode,
                          measurements={}, peak_rss_mb=usage.ru_maxrss / 1024,
                          session_peak_rss_mb=sampler.peak_mb or None, leftovers=leftovers,
                          lingered_s=lingered_s, cpu_s=usage.ru_utime + usage.ru_stime)
    if timed_out.is_set():
        outcome.error = f"timed out after {timeout_s:.0f} s (killed)"
    elif proc.returncode != 0:
        outcome.error = f"exit status {proc.returncode}: {_stderr_tail(stderr_path)}"
    else:
        try:
            outcome.measurements = json.loads(out.read_text(encoding="utf-8"))
            outcome.ok = True
        except (OSError, ValueError) as error:
            outcome.error = (f"no JSON line from the script ({error}); "
                             f"stderr: {_stderr_tail(stderr_path)}")
    return outcome


def _stderr_tail(path: Path) -> str:
    """Return the end of a script's stderr, starting at the last traceback if there is one."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no stderr)"
    start = text.rfind("Traceback (most recent call last)")
    text = text[start:] if start >= 0 else text
    text = text.strip()
    if len(text) > STDERR_TAIL_CHARS:
        text = "..." + text[-STDERR_TAIL_CHARS:]
    # The last line names the exception; keep it first so tables can show just that.
    last = text.splitlines()[-1] if text else "(empty stderr)"
    return last if last == text else f"{last}\n{text}"
