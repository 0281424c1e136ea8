"""Run one node's ``ray start --block`` for an enb session, and clean up exactly that session.

This file runs on the node, by itself: the head sends its source as ``python -I -c SOURCE ...``
(over ssh for remote nodes, directly for the head), so it imports only the standard library and
needs nothing of enb installed on the node.

``run``: optionally read the session token from the first line of stdin and write it, owner-only,
into the session temp dir; start ray with the session tag in its environment; then wait until
stdin reaches EOF (the head closed it, or the head or the ssh connection died), a signal arrives,
or ray exits. Then kill every process that carries the session tag, all at once, and remove the
temp dir. ray's own SIGTERM path (drain, then stop its processes one by one) takes ~2 s and keeps
nothing enb needs: the head has every result before it stops a node, and a session's ray state
(GCS tables, object store, logs) is private to the session and removed with it.
``ray stop`` is never used: it is global.

``sweep``: only the cleanup, for when a ``run`` could not finish its own.

Lines starting with ``enb-agent:`` on stdout report progress to the head.

``run --forward-worker-output``: ray's log monitor is off (one Python process importing ray
less per node, ~0.3 CPU-s at start, and a poll loop after); the agent forwards what the
session's workers print instead, as ``enb-worker-out PID TEXT`` and ``enb-worker-err PID TEXT``
lines. A ``flush`` line on stdin makes it forward everything written so far and answer
``enb-agent: flushed``; the rest is forwarded before the agent stops ray.
"""
import argparse
import os
import platform
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time

SESSION_ENV = "ENB_RAY_SESSION"
SESSION_BASE_DIR = "/tmp"
TOKEN_FILE_NAME = "auth_token"
TAG_PATTERN = re.compile(r"^enb-ray-[0-9a-z]+$")


def write_out(data):
    """Write to stdout, ignoring a reader that went away (a killed head must not kill us)."""
    try:
        os.write(1, data)
    except OSError:
        pass


def say(message):
    write_out(("enb-agent: " + message + "\n").encode())


def relay(fd):
    """Copy ray's output to ours: ray never writes into a pipe whose reader died."""
    try:
        while True:
            data = os.read(fd, 65536)
            if not data:
                break
            write_out(data)
    except OSError:
        pass


#: Lines ray writes into a worker's output files for its log monitor, not the user's output.
RAY_MARKERS = (b":actor_name:", b":task_name:", b":job_id:")
WORKER_FILE = re.compile(r"^worker-.*-([0-9]+)\.(out|err)$")


class WorkerOutput:
    """Forward what ray's workers of a session write to their log files, line by line."""

    def __init__(self, ray_temp_dir):
        self.ray_temp_dir = ray_temp_dir
        self.logs_dir = None
        self.files = {}  # name -> [fd, pid, stream, unfinished line]

    def _find_logs_dir(self):
        latest = os.path.join(self.ray_temp_dir, "session_latest")
        if os.path.islink(latest):
            logs = os.path.join(os.path.realpath(latest), "logs")
            if os.path.isdir(logs):
                self.logs_dir = logs
        return self.logs_dir

    def poll(self, final=False):
        """Forward every complete line written since the last poll (all of it if ``final``)."""
        if self.logs_dir is None and self._find_logs_dir() is None:
            return
        try:
            names = os.listdir(self.logs_dir)
        except OSError:
            return
        for name in names:
            if name not in self.files:
                match = WORKER_FILE.match(name)
                if not match:
                    continue
                try:
                    fd = os.open(os.path.join(self.logs_dir, name), os.O_RDONLY)
                except OSError:
                    continue
                self.files[name] = [fd, match.group(1).encode(),
                                    b"enb-worker-out " if match.group(2) == "out"
                                    else b"enb-worker-err ", b""]
        for entry in self.files.values():
            fd, pid, stream, unfinished = entry
            chunks = [unfinished]
            try:
                while True:
                    data = os.read(fd, 65536)
                    if not data:
                        break
                    chunks.append(data)
            except OSError:
                pass
            data = b"".join(chunks)
            lines = data.split(b"\n")
            entry[3] = lines.pop()
            if final and entry[3]:
                lines.append(entry[3])
                entry[3] = b""
            out = [stream + pid + b" " + line + b"\n" for line in lines
                   if not line.startswith(RAY_MARKERS)]
            if out:
                write_out(b"".join(out))

    def close(self):
        for entry in self.files.values():
            try:
                os.close(entry[0])
            except OSError:
                pass
        self.files = {}


def session_dir(tag):
    if not TAG_PATTERN.match(tag):
        raise SystemExit("enb-agent: refusing session tag " + repr(tag))
    return os.path.join(SESSION_BASE_DIR, tag)


def write_token(tag, token):
    """Create the session dir and token file; nobody but this user can read them."""
    previous = os.umask(0o077)
    try:
        directory = session_dir(tag)
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            if os.stat(directory).st_uid != os.getuid():
                raise SystemExit("enb-agent: " + directory + " belongs to another user")
        path = os.path.join(directory, TOKEN_FILE_NAME)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as token_file:
            token_file.write(token)
    finally:
        os.umask(previous)


def session_pids(tag):
    """Return the live processes of the session: those whose environment carries its tag, and
    every descendant of them.

    Descendants count because ray's agents and workers rename themselves (``ray::...``) by
    writing over the memory their environment lies in, which hides the tag from
    ``/proc/PID/environ``; once their raylet is gone they would linger, unfindable, for a
    minute. Zombies are left out: there is nothing to kill, their parent reaps them.
    """
    needle = (SESSION_ENV + "=" + tag).encode()
    me = os.getpid()
    tagged, children = set(), {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # not Linux: ray's own SIGTERM handling is all there is
        return []
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            with open("/proc/" + entry + "/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
            if fields[0] == b"Z":
                continue
            children.setdefault(int(fields[1]), []).append(pid)
            with open("/proc/" + entry + "/environ", "rb") as environ:
                if needle in environ.read().split(b"\0"):
                    tagged.add(pid)
        except (OSError, IndexError, ValueError):
            continue
    found, pending = set(tagged), list(tagged)
    while pending:
        for child in children.get(pending.pop(), ()):
            if child not in found:
                found.add(child)
                pending.append(child)
    return sorted(found)


def sweep(tag, timeout=10.0):
    """Kill every process of the session at once (SIGKILL) and remove its temp dir.

    Return False if some process outlived ``timeout`` (said on stdout).
    """
    directory = session_dir(tag)
    pids = session_pids(tag)
    deadline = time.monotonic() + timeout
    while pids:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if time.monotonic() > deadline:
            break
        time.sleep(0.02)
        # A process of the session may have started a child meanwhile: look again.
        pids = session_pids(tag)
    if pids:
        say("could not stop " + " ".join(map(str, pids)))
    shutil.rmtree(directory, ignore_errors=True)
    return not pids


def read_line(fd):
    """Read one line from ``fd`` byte by byte (nothing after it is consumed)."""
    line = b""
    while not line.endswith(b"\n"):
        byte = os.read(fd, 1)
        if not byte:
            break
        line += byte
    return line


def versions():
    """Return this node's Python and ray versions (ray needs the same on every node)."""
    try:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - 3.8+
        try:
            ray_version = version("ray")
        except PackageNotFoundError:
            ray_version = "missing"
    except ImportError:  # pragma: no cover - Python < 3.8
        ray_version = "unknown"
    return "python=" + platform.python_version() + " ray=" + ray_version


def session_tags_running():
    """Return the session tags found in the environment of this user's processes."""
    prefix = (SESSION_ENV + "=").encode()
    tags = set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None  # cannot tell: treat every session as running
    for entry in entries:
        if entry.isdigit():
            try:
                with open("/proc/" + entry + "/environ", "rb") as environ:
                    for item in environ.read().split(b"\0"):
                        if item.startswith(prefix):
                            tags.add(item[len(prefix):].decode(errors="replace"))
            except OSError:
                continue
    return tags


def has_live_socket(directory):
    """Tell whether a unix socket under ``directory`` accepts connections (a live ray)."""
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            try:
                if not stat.S_ISSOCK(os.lstat(path).st_mode):
                    continue
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    probe.settimeout(1)
                    probe.connect(path)
                return True
            except OSError:
                continue
    return False


def remove_stale_sessions(older_than=600.0):
    """Remove session dirs a killed session left: ours, old, no process, no live socket."""
    running = session_tags_running()
    if running is None:
        return
    try:
        names = os.listdir(SESSION_BASE_DIR)
    except OSError:
        return
    for name in names:
        path = os.path.join(SESSION_BASE_DIR, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if (not TAG_PATTERN.match(name) or name in running or not stat.S_ISDIR(info.st_mode)
                or info.st_uid != os.getuid() or time.time() - info.st_mtime < older_than
                or has_live_socket(path)):
            continue
        say("removing " + path + ", left by a session that did not end cleanly")
        shutil.rmtree(path, ignore_errors=True)


def run(args):
    say("versions " + versions() + " executable=" + sys.executable)
    remove_stale_sessions()
    if args.token_from_stdin:
        token = read_line(0).decode().strip()
        if not token:
            say("no token on stdin")
            return 2
        write_token(args.tag, token)
    directory = session_dir(args.tag)
    env = dict(os.environ)
    for pair in args.env:
        name, _, value = pair.partition("=")
        env[name] = value
    env[SESSION_ENV] = args.tag
    # ray's cwd is the session dir: `-m` puts the cwd first on sys.path, and a user's folder
    # may hold a module named like one of ray's. Workers chdir on their own (ENB_RAY_WORKDIR).
    process = subprocess.Popen(args.argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               cwd=directory if os.path.isdir(directory) else None)
    relay_thread = threading.Thread(target=relay, args=(process.stdout.fileno(),), daemon=True)
    relay_thread.start()
    say("started " + str(process.pid))
    stop = threading.Event()

    flush = threading.Event()

    def watch_stdin():
        # The raw descriptor, not sys.stdin: a daemon thread blocked inside a buffered reader
        # makes the interpreter abort at exit. A "flush" line asks for the workers' output.
        try:
            while True:
                data = os.read(0, 4096)
                if not data:
                    break
                if b"flush" in data:
                    flush.set()
        except OSError:
            pass
        stop.set()
        flush.set()  # wakes the forwarder: it stops at once

    threading.Thread(target=watch_stdin, daemon=True).start()
    def request_stop(*_):
        stop.set()
        flush.set()

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, request_stop)
    output = WorkerOutput(os.path.join(directory, "ray")) if args.forward_worker_output else None
    forwarder = None
    if output is not None:
        forwarder = threading.Thread(target=forward, args=(output, stop, flush), daemon=True)
        forwarder.start()
    while process.poll() is None and not stop.wait(0.2):
        pass
    requested = stop.is_set()
    if forwarder is not None:
        forwarder.join(2)
        output.poll(final=True)  # what the workers wrote last, before they are killed
        output.close()
    if process.poll() is None:
        say("stopping")
    clean = sweep(args.tag)  # ray start itself carries the tag
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:  # only if it was not killable (said by sweep)
        process.kill()
        process.wait()
    relay_thread.join(2)  # the last of ray's output (its children may hold the pipe: swept)
    say("exited " + str(process.returncode) + (" clean" if clean else " unclean"))
    if requested:
        return 0 if clean else 3
    return process.returncode or 1


def forward(output, stop, flush, period=0.1):
    """Forward the workers' output every ``period`` seconds, and at once on a flush request."""
    while not stop.is_set():
        requested = flush.wait(period)
        if stop.is_set():
            break
        flush.clear()
        output.poll()
        if requested:
            say("flushed")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="enb-ray-node-agent")
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run")
    run_parser.add_argument("--tag", required=True)
    run_parser.add_argument("--token-from-stdin", action="store_true")
    run_parser.add_argument("--forward-worker-output", action="store_true")
    run_parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    run_parser.add_argument("argv", nargs=argparse.REMAINDER)
    sweep_parser = commands.add_parser("sweep")
    sweep_parser.add_argument("--tag", required=True)
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return 0 if sweep(args.tag) else 3
    if args.argv and args.argv[0] == "--":
        args.argv = args.argv[1:]
    if not args.argv:
        parser.error("run needs the ray start argv after --")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
