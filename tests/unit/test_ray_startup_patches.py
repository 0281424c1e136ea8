"""The bootstraps ``ray start`` runs through, against fake ``ray`` packages: each waits where
the ray it was written against would sleep, and leaves ray alone where ray's code differs."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from enb.shipped import source

#: What ``ray start`` runs through, on the head and on every node.
RAY_START = source("ray_start")


def _fake_ray(root: Path) -> None:
    """A ``ray`` whose ``ray start`` says when it ran (and has no GCS client to wait with)."""
    scripts = root / "ray" / "scripts"
    scripts.mkdir(parents=True)
    (root / "ray" / "__init__.py").write_text("")
    (scripts / "__init__.py").write_text("")
    (scripts / "scripts.py").write_text(
        "import sys, time\n"
        "def main():\n"
        "    print('ray start', time.monotonic(), *sys.argv[1:], flush=True)\n")


def _fake_ray_head(root: Path, call_site: str) -> None:
    """A ``ray`` whose ``ray start`` reports what starting its dashboard server gave."""
    private = root / "ray" / "_private"
    scripts = root / "ray" / "scripts"
    for package in (root / "ray", private, scripts):
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
    (private / "services.py").write_text(
        "def start_api_server(*args, **kwargs):\n    return 'http://dashboard', 'process'\n")
    (private / "node.py").write_text(
        "import ray._private.services\n"
        "class Node:\n"
        "    def start_api_server(self):\n"
        f"        {call_site}\n")
    (scripts / "scripts.py").write_text(
        "import ray._private.node\n"
        "def main():\n"
        "    node = ray._private.node.Node()\n"
        "    node.start_api_server()\n"
        "    print(node._webui_url, node.process_info)\n")


@pytest.mark.parametrize("call_site, dashboard, started", [
    ("self._webui_url, process_info = ray._private.services.start_api_server(); "
     "self.process_info = process_info", "false", False),
    ("self._webui_url, process_info = ray._private.services.start_api_server(); "
     "self.process_info = process_info", "true", True),
    # another ray's call site: ray starts as it always does
    ("self._webui_url, self.process_info = ray._private.services.start_api_server()",
     "false", True),
])
def test_the_head_leaves_out_the_dashboard_server_only_when_none_is_asked_for(
        tmp_path, call_site, dashboard, started):
    _fake_ray_head(tmp_path, call_site)
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
         f"exec({RAY_START!r})", "start", "--head", "--include-dashboard", dashboard],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == (["http://dashboard", "process"] if started
                                  else ["None", "None"])
    # where ray's code is not the one the patch was written against, a warning names it
    other_ray = dashboard == "false" and started
    assert ("enb-warning: ray's no dashboard server is left to ray: "
            "ray._private.node.Node.start_api_server no longer holds" in out.stderr) == other_ray


def _fake_ray_registering(root: Path, call_site: str, registered_after: float) -> None:
    """A ``ray`` whose node registers ``registered_after`` seconds into ``ray start``, and whose
    ``get_node`` reports when it was called and whether the node was registered by then (ray's
    own would sleep a whole second before asking again)."""
    private = root / "ray" / "_private"
    scripts = root / "ray" / "scripts"
    for package in (root / "ray", private, scripts):
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
    (root / "ray" / "_raylet.py").write_text(
        "import time\n"
        f"REGISTERED_AT = time.monotonic() + {registered_after}\n"
        "class NodeID(str):\n"
        "    def hex(self):\n"
        "        return str(self)\n"
        "class GcsClient:\n"
        "    def __init__(self, address):\n"
        "        self.address = address\n"
        "    def get_all_node_info(self, timeout=None, node_selectors=()):\n"
        "        if [s.node_id for s in node_selectors] != [bytes.fromhex('c0ffee')]:\n"
        "            raise ValueError('asked for other nodes than its own')\n"
        "        return {NodeID('c0ffee'): 'alive'} if time.monotonic() >= REGISTERED_AT else {}\n")
    generated = root / "ray" / "core" / "generated"
    generated.mkdir(parents=True)
    for package in (root / "ray" / "core", generated):
        (package / "__init__.py").write_text("")
    (generated / "gcs_service_pb2.py").write_text(
        "import types\n"
        "class GetAllNodeInfoRequest:\n"
        "    NodeSelector = types.SimpleNamespace\n")
    (private / "services.py").write_text(
        "import time, ray._raylet\n"
        "def get_node(gcs_address, node_id):\n"
        "    now = time.monotonic()\n"
        "    return (gcs_address, node_id, now >= ray._raylet.REGISTERED_AT,\n"
        "            now - ray._raylet.REGISTERED_AT)\n")
    (private / "node.py").write_text(
        "import ray._private.services\n"
        "class Node:\n"
        "    def __init__(self):\n"
        f"        self.info = {call_site}('127.0.0.1:11000', 'c0ffee')\n")
    (scripts / "scripts.py").write_text(
        "import ray._private.node\n"
        "def main():\n"
        "    print(*ray._private.node.Node().info)\n")


@pytest.mark.parametrize("call_site, waits", [
    ("ray._private.services.get_node", True),
    ("getattr(ray._private.services, 'get_node')", False),  # another ray: it waits its own way
])
def test_ray_start_asks_for_its_node_once_the_node_registered(tmp_path, call_site, waits):
    _fake_ray_registering(tmp_path, call_site, registered_after=0.4)
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
         f"exec({RAY_START!r})", "start", "--head", "--include-dashboard", "false"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    address, node_id, registered, late = out.stdout.split()
    assert (address, node_id) == ("127.0.0.1:11000", "c0ffee")
    if waits:
        # ray's get_node runs after the node registered, and promptly (polls of 20 ms)
        assert registered == "True" and float(late) < 0.2
    else:
        assert registered == "False"
        assert ("enb-warning: ray's own-node wait is left to ray: ray._private.node.Node."
                "__init__ no longer holds 'ray._private.services.get_node('") in out.stderr


def _fake_ray_gcs(root: Path, assignment: str, listens_after: float, exits: bool) -> None:
    """A ``ray`` whose ``ray start`` starts a "GCS" that listens ``listens_after`` seconds later
    (or whose process has exited, with ``exits``), then prints when it went on to connect, when
    the GCS listened, and whether that was before."""
    private = root / "ray" / "_private"
    scripts = root / "ray" / "scripts"
    for package in (root / "ray", private, scripts):
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").write_text("")
    (private / "ray_constants.py").write_text('PROCESS_TYPE_GCS_SERVER = "gcs_server"\n')
    (private / "node.py").write_text(
        "import socket, threading, time, types\n"
        "class Node:\n"
        "    listening_at = None\n"
        "    def __init__(self):\n"
        "        self.all_processes = {}\n"
        "        self.start_gcs_server()\n"
        "        self.connects_at = time.monotonic()\n"
        "    def start_gcs_server(self):\n"
        "        server = self.gcs_socket = socket.socket()  # kept open while ray runs\n"
        "        server.bind(('127.0.0.1', 0))\n"
        "        def listen_later():\n"
        f"            time.sleep({listens_after})\n"
        "            server.listen()\n"
        "            Node.listening_at = time.monotonic()\n"
        "        threading.Thread(target=listen_later, daemon=True).start()\n"
        f"        process = types.SimpleNamespace(poll=lambda: {1 if exits else None})\n"
        "        self.all_processes['gcs_server'] = [types.SimpleNamespace(process=process)]\n"
        f"        {assignment} = '127.0.0.1:%d' % server.getsockname()[1]\n")
    (scripts / "scripts.py").write_text(
        "import ray._private.node\n"
        "def main():\n"
        "    node = ray._private.node.Node()\n"
        "    print(node.connects_at, node.listening_at)\n")


def _run_head_bootstrap(root: Path) -> tuple[float, float | None]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(root)!r}); "
         f"exec({RAY_START!r})", "start", "--head", "--include-dashboard", "false"],
        capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    connects_at, listening_at = out.stdout.split()
    return float(connects_at), None if listening_at == "None" else float(listening_at)


def test_the_head_ray_start_connects_to_its_gcs_once_it_listens(tmp_path):
    _fake_ray_gcs(tmp_path, "self._gcs_address", listens_after=0.3, exits=False)
    connects_at, listening_at = _run_head_bootstrap(tmp_path)
    # ray goes on to connect after the GCS listens, and promptly (polls of 5 ms)
    assert listening_at is not None and 0 <= connects_at - listening_at < 0.2


@pytest.mark.parametrize("assignment, exits", [
    ("self.__dict__['_gcs_address']", False),  # another ray, which sets it another way
    ("self._gcs_address", True),  # the GCS exited: nothing to wait for
])
def test_the_head_ray_start_leaves_the_gcs_to_ray_otherwise(tmp_path, assignment, exits):
    _fake_ray_gcs(tmp_path, assignment, listens_after=0.3, exits=exits)
    connects_at, listening_at = _run_head_bootstrap(tmp_path)
    assert listening_at is None  # went on at once, before the GCS listened


def test_the_node_ray_start_runs_once_the_head_takes_connections(tmp_path):
    _fake_ray(tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node = subprocess.Popen(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path)!r}); "
         f"exec({RAY_START!r})", "start", "--address", f"127.0.0.1:{port}", "--block"],
        stdout=subprocess.PIPE, text=True)
    try:
        # Time for a bootstrap that did not wait to import and run ray start (it would print
        # at once, and before the head below serves); a waiting one is still waiting.
        time.sleep(0.5)
        assert node.poll() is None
        with socket.create_server(("127.0.0.1", port)):
            serving = time.monotonic()
            out, _ = node.communicate(timeout=30)
    finally:
        node.kill()
    assert out.startswith("ray start"), out
    assert float(out.split()[2]) >= serving
    assert out.split()[3:] == ["start", "--address", f"127.0.0.1:{port}", "--block"]
