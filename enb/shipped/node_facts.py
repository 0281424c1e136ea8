"""Print the facts of this machine that ``enb cluster check`` judges, as one JSON line.

Run on every node as ``REMOTE_PYTHON - key=value...`` over ssh, with this source on stdin (no
quoting of a script on the command line, whatever the login shell), and on the head as
``sys.executable -``. Standard library only, Python 3.6 syntax, so that a node with the wrong
Python still reports its version. Keys: bind=PORTS (ranges a-b,c), listen=PORTS,
connect=HOST:PORT, nonce=HEX, wait=S, timeout=S, tmp=DIR, tools=A,B.

It prints ``ENB-CHECK-FACTS {json}``: Python, ray and enb versions (and a digest of enb's
sources, :func:`package_digest`), CPUs, free space, which tools exist, which ports cannot be
bound. While it runs, it listens on the ``listen`` ports for the head to connect to, and
connects to the head's port (``connect``); both sides answer with the nonce, so a probe that
succeeds proves that this very check is on the other end, not some other program.
"""
import errno
import hashlib
import json
import os
import select
import shutil
import socket
import sys
import threading
import time


def package_digest(folder):
    """Return a digest of the ``.py`` files under ``folder`` (names and contents).

    Runs on the head and on nodes: equal digests mean a node's enb is the head's, so ray need
    not ship it.
    """
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
        from importlib import metadata  # noqa: PLC0415 -- Python 3.8+: an older one says None
        return metadata.version(name)
    except Exception:  # noqa: BLE001 - not installed, or no metadata: no version
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
        import enb  # noqa: PLC0415 -- the node's own enb, if it has one
        facts["enb"] = getattr(enb, "__version__", None)
        facts["enb_digest"] = package_digest(os.path.dirname(os.path.abspath(enb.__file__)))
    except Exception as error:  # noqa: BLE001 - whatever broke is the fact
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
        prober = threading.Thread(target=connect, daemon=True, args=(
            host.strip("[]"), int(port), nonce, timeout, facts["connect"]))
        prober.start()
    facts["accepted"] = serve(listeners, nonce, float(options.get("wait", 5)), timeout)
    for sock in listeners.values():
        sock.close()
    if prober is not None:
        prober.join(2 * timeout + 1)
    sys.stdout.write("ENB-CHECK-FACTS " + json.dumps(facts) + "\n")

if __name__ == "__main__":
    main(sys.argv[1:])
