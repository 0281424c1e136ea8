"""Gather the facts of the cluster's machines: one script per machine, TCP probes between them.

:data:`NODE_SCRIPT` runs on a node as ``REMOTE_PYTHON - key=value...`` over ssh (on the head,
as ``sys.executable -``) and prints one JSON line of facts: Python, ray and enb versions,
CPUs, free space, which tools exist, which ports cannot be bound. While it runs, it listens on
a few ports for the head to connect to (:func:`probe_port`) and connects to the port the head
listens on (:class:`HeadListener`); both sides answer with a nonce, so a probe that succeeds
proves that this very check is on the other end, not some other program.

Facts only: :mod:`enb.cluster.checks` judges them.
"""
from __future__ import annotations

import inspect
import json
import os
import secrets
import socket
import threading
from typing import Iterable, Sequence

import enb
from enb.transport import ClusterNode, CommandResult, Runner, SshOptions, ToolNotFoundError

def package_digest(folder):
    """Return a digest of the ``.py`` files under ``folder`` (names and contents).

    Runs on the head and, as part of :data:`NODE_SCRIPT`, on nodes (Python 3.6 syntax, standard
    library only): equal digests mean a node's enb is the head's, so ray need not ship it.
    """
    import hashlib
    import os
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if name != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                digest.update(os.path.relpath(path, folder).encode("utf-8", "replace") + b"\0")
                with open(path, "rb") as source:
                    digest.update(source.read())
                digest.update(b"\0")
    return digest.hexdigest()


def this_enb_digest() -> str:
    """Return the digest of the sources of the enb this process runs (as nodes report theirs)."""
    return package_digest(os.path.dirname(os.path.abspath(enb.__file__)))


#: Seconds a TCP probe waits for a connection or an answer.
PROBE_TIMEOUT = 2.0
MARKER = "ENB-CHECK-FACTS "

# Runs on every node as `REMOTE_PYTHON - key=value...`, read from stdin (no quoting of a script
# on the command line, whatever the login shell). Standard library only, Python 3.6 syntax,
# so that a node with the wrong Python still reports its version. Keys: bind=PORTS (ranges
# a-b,c), listen=PORTS, connect=HOST:PORT, nonce=HEX, wait=S, timeout=S, tmp=DIR, tools=A,B.
NODE_SCRIPT = r'''
import errno, json, os, select, shutil, socket, sys, threading, time

def error_name(error):
    if isinstance(error, socket.timeout):
        return "timeout"
    return errno.errorcode.get(getattr(error, "errno", None) or 0, str(error))

def ports(text):
    found = []
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        found.extend(range(int(first), int(last or first) + 1))
    return found

def version_of(name):
    try:
        from importlib import metadata
        return metadata.version(name)
    except Exception:
        return None

def read_line(conn):
    data = b""
    while not data.endswith(b"\n") and len(data) < 200:
        chunk = conn.recv(200)
        if not chunk:
            break
        data += chunk
    return data.decode("ascii", "replace").strip()

def connect(host, port, nonce, timeout, result):
    # Ask the head's listener for the nonce: proves this very check answers there.
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except (OSError, socket.timeout) as error:
        result["error"] = error_name(error)
        return
    try:
        conn.settimeout(timeout)
        line = read_line(conn)
        result["ok"] = line == "enb-check " + nonce
        if not result["ok"]:
            result["error"] = "answered %r" % line[:40]
    except (OSError, socket.timeout) as error:
        result["error"] = error_name(error)
    finally:
        conn.close()

def serve(listeners, nonce, wait, timeout):
    # Answer one connection per port. The prober closes first, so TIME_WAIT stays on its
    # ephemeral port and does not block the next bind of ours (or ray's) here.
    accepted, deadline = {}, time.time() + wait
    pending = dict(listeners)
    while pending and time.time() < deadline:
        ready = select.select(list(pending.values()), [], [], max(0, deadline - time.time()))[0]
        for sock in ready:
            port = sock.getsockname()[1]
            try:
                conn, peer = sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(timeout)
                conn.sendall(("enb-check " + nonce + "\n").encode())
                conn.recv(16)
            except (OSError, socket.timeout):
                pass
            conn.close()
            accepted[str(port)] = peer[0]
            del pending[port]
    return accepted

def main(args):
    options = dict(arg.split("=", 1) for arg in args)
    timeout = float(options.get("timeout", 2))
    nonce = options.get("nonce", "")
    facts = {"python": list(sys.version_info[:3]), "implementation": sys.implementation.name,
             "executable": sys.executable, "ray": version_of("ray")}
    try:
        import enb
        facts["enb"] = getattr(enb, "__version__", None)
        facts["enb_digest"] = package_digest(os.path.dirname(os.path.abspath(enb.__file__)))
    except Exception as error:
        facts["enb"], facts["enb_error"] = None, "%s: %s" % (type(error).__name__, error)
    facts["cpus"] = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count())
    tmp = options.get("tmp", "/tmp")
    facts["tmp"] = {"path": tmp, "writable": os.access(tmp, os.W_OK)}
    try:
        facts["tmp"]["free"] = shutil.disk_usage(tmp).free
    except OSError as error:
        facts["tmp"]["error"] = error_name(error)
    facts["tools"] = dict((name, shutil.which(name))
                          for name in filter(None, options.get("tools", "").split(",")))
    facts["fuse"] = {"exists": os.path.exists("/dev/fuse"),
                     "usable": os.access("/dev/fuse", os.R_OK | os.W_OK)}
    busy = {}
    for port in ports(options.get("bind", "")):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As ray's servers bind: connections of an earlier session left in TIME_WAIT do not
        # stop them (and on Linux SO_REUSEADDR still fails on a port someone listens on).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("", port))
        except OSError as error:
            busy[str(port)] = error_name(error)
        finally:
            sock.close()
    facts["busy_ports"] = busy
    listeners, listen_errors = {}, {}
    for port in ports(options.get("listen", "")):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind(("", port))
            sock.listen(8)
            listeners[port] = sock
        except OSError as error:
            listen_errors[str(port)] = error_name(error)
            sock.close()
    facts["listen_errors"] = listen_errors
    prober = None
    if options.get("connect"):
        host, _, port = options["connect"].rpartition(":")
        facts["connect"] = {"address": options["connect"], "ok": False}
        prober = threading.Thread(target=connect, daemon=True,
                                  args=(host.strip("[]"), int(port), nonce, timeout, facts["connect"]))
        prober.start()
    facts["accepted"] = serve(listeners, nonce, float(options.get("wait", 5)), timeout)
    for sock in listeners.values():
        sock.close()
    if prober is not None:
        prober.join(2 * timeout + 1)
    sys.stdout.write("ENB-CHECK-FACTS " + json.dumps(facts) + "\n")

if __name__ == "__main__":
    main(sys.argv[1:])
'''
try:
    NODE_SCRIPT = inspect.getsource(package_digest) + NODE_SCRIPT
except (OSError, TypeError):  # enb installed without its sources: nodes get enb shipped
    NODE_SCRIPT = "def package_digest(folder):\n    return None\n" + NODE_SCRIPT


# --- running the script ---------------------------------------------------------------------

def node_script_argv(node: ClusterNode, remote_python: str, script_args: Sequence[str],
                     ssh_options: SshOptions, timeout: float) -> list[str]:
    """Return the ssh argv that runs :data:`NODE_SCRIPT` (given on stdin) on ``node``."""
    connect_timeout = max(1, min(ssh_options.connect_timeout or 10, timeout / 2))
    return ssh_options.argv(node, [remote_python, "-", *script_args],
                            connect_timeout=connect_timeout)


def encode_args(**values) -> list[str]:
    """Return the script's ``key=value`` arguments, leaving out empty values."""
    return [f"{key}={value}" for key, value in values.items() if value not in (None, "")]


def run_script(runner: Runner, argv: Sequence[str], script_args: Sequence[str],
               timeout: float) -> tuple[dict | None, CommandResult | str | None]:
    """Run the script with ``argv + script_args``; return (facts, None) or (None, why not)."""
    try:
        result = runner.run([*argv, *script_args], timeout=timeout, input=NODE_SCRIPT)
    except ToolNotFoundError as error:
        return None, str(error)
    facts = parse_facts(result.stdout) if result.returncode == 0 else None
    return (facts, None) if facts is not None else (None, result)


def parse_facts(stdout: str) -> dict | None:
    """Return the facts the script printed in ``stdout``, or None if it printed none."""
    # Only the marked line counts: login scripts may print banners around it.
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                facts = json.loads(line[len(MARKER):])
            except ValueError:
                return None
            return facts if isinstance(facts, dict) else None
    return None


def script_failure(error: CommandResult | str | None, python: str, where: str) -> str:
    """Explain why ``python`` printed no facts on ``where`` (``error`` from :func:`run_script`)."""
    if isinstance(error, str):
        return error
    if error is None:
        return "no result"
    if error.timed_out:
        return f"{python} did not finish before the timeout on {where}"
    if error.returncode == 127:
        return f"{python} was not found on {where}"
    last = next((line.strip() for line in reversed(error.stderr.splitlines()) if line.strip()),
                f"exit status {error.returncode}, no facts printed")
    return f"{python} could not run the check on {where}: {last}"


def port_ranges(ports: Iterable[int]) -> str:
    """Return sorted ports as ``a-b,c`` (the script's syntax, and compact in messages)."""
    parts: list[list[int]] = []
    for port in sorted(set(ports)):
        if parts and port == parts[-1][1] + 1:
            parts[-1][1] = port
        else:
            parts.append([port, port])
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in parts)


# --- TCP probes -----------------------------------------------------------------------------

def probe_port(address: str, port: int, nonce: str, timeout: float,
               stop: threading.Event) -> str | None:
    """Connect to ``address:port`` until this check's listener answers; None, or why not.

    A refusal is retried until ``stop`` is set (the node's listener may not be up yet); no
    answer within ``timeout`` means a firewall drops the packets.
    """
    refusal = "refused"
    while True:
        try:
            conn = socket.create_connection((address, port), timeout=timeout)
        except socket.timeout:
            return f"no answer within {timeout:g} s"
        except ConnectionRefusedError:
            refusal = "refused"
        except OSError as error:
            refusal = error.strerror or str(error)
        else:
            # Closing first leaves TIME_WAIT on our ephemeral port, not on the node's.
            with conn:
                line = _read_line(conn, timeout)
            if line == f"enb-check {nonce}":
                return None
            return f"another program answers ({line[:30]!r})" if line else \
                f"connected, but no answer within {timeout:g} s"
        if stop.wait(0.1):
            return refusal


def _read_line(conn: socket.socket, timeout: float) -> str:
    conn.settimeout(timeout)
    data = b""
    try:
        while not data.endswith(b"\n") and len(data) < 200:
            chunk = conn.recv(200)
            if not chunk:
                break
            data += chunk
    except OSError:  # socket.timeout included
        pass
    return data.decode("ascii", "replace").strip()


class HeadListener:
    """Answer node probes on a head port: every connection gets this check's nonce."""

    def __init__(self, address: str, port: int, timeout: float):
        self.port = port
        self.address = address
        self.nonce = secrets.token_hex(8)
        self.error: str | None = None
        self._timeout = timeout
        self._closed = threading.Event()
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._socket.bind(("", port))
            self._socket.listen(16)
            self._socket.settimeout(0.2)
        except OSError as error:
            self.error = error.strerror or str(error)
            self._socket.close()
            return
        self._thread = threading.Thread(target=self._serve, name="enb-check-listener", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._socket.accept()
            except socket.timeout:
                continue
            except OSError:  # closed, or out of file descriptors: do not spin
                self._closed.wait(0.1)
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(self._timeout)
                conn.sendall(f"enb-check {self.nonce}\n".encode())
                conn.recv(16)  # wait for the node to close first (see NODE_SCRIPT's serve)
            except OSError:
                pass

    def close(self) -> None:
        """Stop answering and free the port."""
        if self.error is None and not self._closed.is_set():
            self._closed.set()
            self._thread.join(2)
            self._socket.close()
