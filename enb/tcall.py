"""Run external programs and measure their time and memory (enb 1.x's ``enb.tcall``).

``invocation`` is either an argument list (``["xz", "-k", path]``: run as is, no shell) or,
as in enb 1.x, a shell command line (a ``str``, run by ``/bin/sh -c``, redirections allowed).
Build the list form whenever a file name is involved: a shell line built from file names
breaks on spaces and runs whatever a crafted name contains.

Time and peak memory come from the kernel's accounting of the finished process and its
children (``wait4``), so no ``/usr/bin/time`` is needed. stdout and stderr are returned
together, as one text.
"""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from typing import Sequence, Union

Invocation = Union[str, Sequence[str]]


class InvocationError(Exception):
    """The program failed: it could not start, exited with an unexpected status, or timed out.

    ``status`` (-1 for a timeout or a program that could not start), ``output`` and
    ``invocation`` are kept on the exception.
    """

    def __init__(self, message: str, *, invocation=None, status=None, output=None):
        super().__init__(message)
        self.invocation = invocation
        self.status = status
        self.output = output


class InvocationTimeoutError(InvocationError, TimeoutError):
    """The program ran longer than its timeout and was stopped."""


def _describe(invocation: Invocation) -> str:
    if isinstance(invocation, str):
        return invocation
    import shlex
    return shlex.join(str(part) for part in invocation)


def _argv(invocation: Invocation) -> list[str]:
    if isinstance(invocation, str):
        return ["/bin/sh", "-c", invocation]
    argv = [os.fspath(part) if isinstance(part, os.PathLike) else str(part) for part in invocation]
    if not argv:
        raise InvocationError("empty invocation: give the program to run", invocation=invocation)
    return argv


def get_status_output_time_memory(invocation: Invocation, expected_status_value: int | None = 0,
                                  wall: bool | None = None, timeout: float | None = None):
    """Run ``invocation``; return ``(status, output, seconds, peak_memory_kb)``.

    ``seconds`` is the wall time when ``wall`` is true, else the user+system CPU time of the
    program and its children (``wall=None``: ``enb.config.options.report_wall_time``).
    ``peak_memory_kb``: the largest resident set of the program or one of its children.
    ``expected_status_value``: any other exit status raises :class:`InvocationError` (None
    accepts every status). ``timeout`` (seconds; None or 0: none): the program and its
    children are stopped and :class:`InvocationTimeoutError` is raised.
    """
    if wall is None:
        from .config import options
        wall = bool(options.report_wall_time)
    timeout = timeout or None
    argv = _argv(invocation)
    started = time.perf_counter()
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as error:
        raise InvocationError(f"cannot run {_describe(invocation)}: {error.strerror or error}",
                              invocation=invocation, status=-1, output="") from None
    # The output is read by a thread while this one waits with wait4, which returns the
    # process's and its children's resource usage (Popen.wait would reap it without them).
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(process.stdout.read()),
                              name="enb-tcall-output", daemon=True)
    reader.start()
    expired = threading.Event()

    def expire():
        expired.set()
        _stop_group(process)
    timer = threading.Timer(timeout, expire) if timeout else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        usage = _reap(process)
        wall_seconds = time.perf_counter() - started
    except BaseException:  # Ctrl-C: do not leave the program running
        _stop_group(process)
        _reap(process)
        raise
    finally:
        if timer is not None:
            timer.cancel()
    reader.join(timeout=5)
    if reader.is_alive():  # a child of the program still holds its output open
        _stop_group(process)
        reader.join()
    process.stdout.close()
    output_bytes = b"".join(chunks)
    timed_out = expired.is_set()
    output = output_bytes.decode("utf-8", errors="replace")
    status = -1 if timed_out else process.returncode
    if timed_out:
        raise InvocationTimeoutError(
            f"timeout of {timeout} s exceeded; stopped {_describe(invocation)}\n"
            f"Output=[{output}]", invocation=invocation, status=status, output=output)
    if expected_status_value is not None and status != expected_status_value:
        raise InvocationError(
            f"status={status} != {expected_status_value}.\nInput=[{_describe(invocation)}].\n"
            f"Output=[{output}]", invocation=invocation, status=status, output=output)
    if usage is None:
        cpu_seconds, memory_kb = wall_seconds, None
    else:
        cpu_seconds, memory_kb = usage.ru_utime + usage.ru_stime, int(usage.ru_maxrss)
    return status, output, (wall_seconds if wall else cpu_seconds), memory_kb


def get_status_output_time(invocation: Invocation, expected_status_value: int | None = 0,
                           wall: bool | None = None, timeout: float | None = None):
    """Run ``invocation``; return ``(status, output, seconds)`` (see
    :func:`get_status_output_time_memory`)."""
    return get_status_output_time_memory(invocation, expected_status_value=expected_status_value,
                                         wall=wall, timeout=timeout)[:3]


def _stop_group(process: subprocess.Popen) -> None:
    """Stop the program and everything it started (it leads its own session)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap(process: subprocess.Popen):
    """Wait for the process with ``wait4``; return its and its children's resource usage."""
    if process.returncode is not None:
        return None
    try:
        _pid, status, usage = os.wait4(process.pid, 0)
    except ChildProcessError:  # reaped elsewhere: no usage to report
        process.returncode = process.returncode if process.returncode is not None else -1
        return None
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage
