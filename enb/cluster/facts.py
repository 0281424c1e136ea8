"""Gather the facts of the cluster's machines: one script per machine, TCP probes between them.

The program :mod:`enb.shipped.node_facts` runs on a node as ``REMOTE_PYTHON - key=value...``
over ssh (on the head, as ``sys.executable -``) and prints one JSON line of facts: Python, ray
and enb versions, CPUs, free space, which tools exist, which ports cannot be bound. While it
runs, it listens on a few ports for the head to connect to (:func:`probe_port`) and connects to
the port the head listens on (:class:`HeadListener`); both sides answer with a nonce, so a probe
that succeeds proves that this very check is on the other end, not some other program.

Facts only: :mod:`enb.cluster.checks` judges them.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import threading
from typing import Iterable, Sequence

import enb
from enb.shipped import source
from enb.shipped.node_facts import package_digest
from enb.transport import ClusterNode, CommandResult, Runner, SshOptions, ToolNotFoundError

def this_enb_digest() -> str:
    """Return the digest of the sources of the enb this process runs (as nodes report theirs)."""
    return package_digest(os.path.dirname(os.path.abspath(enb.__file__)))


def node_script() -> str:
    """Return the source of the facts program, sent on the stdin of ``PYTHON -``."""
    return source("node_facts")


#: Seconds a TCP probe waits for a connection or an answer.
PROBE_TIMEOUT = 2.0
MARKER = "ENB-CHECK-FACTS "  # what node_facts prints before its JSON

# --- running the script ---------------------------------------------------------------------

def node_script_argv(node: ClusterNode, remote_python: str, script_args: Sequence[str],
                     ssh_options: SshOptions, timeout: float) -> list[str]:
    """Return the ssh argv that runs :func:`node_script` (given on stdin) on ``node``."""
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
        result = runner.run([*argv, *script_args], timeout=timeout, input=node_script())
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
                conn.recv(16)  # wait for the node to close first (see node_facts.serve)
            except OSError:
                pass

    def close(self) -> None:
        """Stop answering and free the port."""
        if self.error is None and not self._closed.is_set():
            self._closed.set()
            self._thread.join(2)
            self._socket.close()
