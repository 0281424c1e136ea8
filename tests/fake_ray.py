"""A fake ``ray`` package holding every internal of ray that enb uses, or all but one of them.

The canary (enb.executors._ray.internals.missing_internals, tests/executors/test_ray_internals.py)
is checked against it: complete, it finds nothing missing; without one piece, it names that one.
Each piece is keyed by the name the canary reports it under.
"""
from __future__ import annotations

from pathlib import Path

from enb.executors._ray import internals

_GCS_CLIENT = ("class GcsClient:\n"
               "    def __init__(self, address=None):\n"
               "        self.address = address\n"
               "    def get_all_node_info(self, timeout=None, node_selectors=()):\n"
               "        return {}\n"
               "    def internal_kv_get(self, key, namespace=None):\n"
               "        return None\n")

#: file -> pieces: (the name the canary reports when the piece is missing, or None; its text).
PIECES: dict[str, list[tuple[str | None, str]]] = {
    "ray/__init__.py": [(None, "__version__ = '2.60.0'\n")],  # the newest: every internal is asked
    "ray/_private/__init__.py": [(None, "")],
    "ray/_private/services.py": [(None, "def get_node(gcs_address, node_id):\n    return {}\n"
                                        "def start_api_server(*args, **kwargs):\n"
                                        "    return 'http://dashboard', None\n")],
    "ray/_private/node.py": [
        (None, "import ray._private.services\nclass Node:\n"),
        ("call site 'own-node wait'",
         "    def __init__(self):\n"
         "        self.info = ray._private.services.get_node('127.0.0.1:1', 'c0ffee')\n"),
        ("call site 'GCS port wait'",
         "    def start_gcs_server(self):\n        self._gcs_address = '127.0.0.1:1'\n"),
        ("call site 'no dashboard server'",
         "    def start_api_server(self):\n"
         "        self._webui_url, process_info = ray._private.services.start_api_server()\n"),
        (None, "    pass\n"),
    ],
    "ray/_private/ray_constants.py": [
        ("ray._private.ray_constants (the bootstrap's waits)", "KV_NAMESPACE_SESSION = b'session'\n"),
        (None, "PROCESS_TYPE_GCS_SERVER = 'gcs_server'\n")],
    "ray/_private/state.py": [
        ("ray._private.state.available_resources_per_node (enb cluster status)",
         "def available_resources_per_node():\n    return {}\n"),
        (None, "class _GlobalState:\n    pass\n"),
        ("ray._private.state.state.job_table (enb cluster status)",
         "_GlobalState.job_table = lambda self: []\n"),
        ("ray._private.state.state._get_all_task_events (enb cluster status)",
         "_GlobalState._get_all_task_events = lambda self: []\n"),
        (None, "state = _GlobalState()\n")],
    "ray/_raylet.py": [
        ("ray._raylet.GcsClient (the bootstrap's waits)", _GCS_CLIENT),
        (None, "class Config:\n    pass\n"),
        ("ray._raylet.Config.initialize (a driver's second session)",
         "Config.initialize = staticmethod(lambda text: None)\n"),
        ("ray._raylet.AuthenticationTokenLoader (a driver's second session)",
         "class AuthenticationTokenLoader:\n"
         "    @classmethod\n"
         "    def instance(cls):\n        return cls()\n"
         "    def reset_cache(self):\n        pass\n")],
    "ray/scripts/__init__.py": [(None, "")],
    "ray/scripts/scripts.py": [
        ("ray.scripts.scripts.main (ray start's command)", "def main():\n    print('ray start')\n"),
        ("ray.scripts.scripts.start.params (ray start's options)",
         "import types\n"
         "start = types.SimpleNamespace(params=[types.SimpleNamespace(opts=['--head'])])\n")],
    "ray/core/__init__.py": [(None, "")],
    "ray/core/generated/__init__.py": [(None, "")],
    "ray/core/generated/gcs_service_pb2.py": [
        (None, "class GetAllNodeInfoRequest:\n    pass\n"),
        (None, "class _NodeSelector:\n    def __init__(self, **fields):\n"),
        ("GetAllNodeInfoRequest.NodeSelector(node_id=) (the own-node wait)",
         "        fields.pop('node_id', None)\n"),
        ("GetAllNodeInfoRequest.NodeSelector(is_head_node=) (a node's wait for the head)",
         "        fields.pop('is_head_node', None)\n"),
        (None, "        if fields:\n            raise ValueError('no field %s' % fields)\n"
               "GetAllNodeInfoRequest.NodeSelector = _NodeSelector\n")],
    "ray/core/generated/common_pb2.py": [
        ("common_pb2.TaskStatus (enb cluster status)",
         "class TaskStatus:\n"
         "    @staticmethod\n"
         "    def Value(name):\n"
         "        return ['RUNNING', 'FINISHED', 'FAILED'].index(name)\n")],
}

#: Every name the canary reports a missing piece under.
NAMES = sorted({name for pieces in PIECES.values() for name, _ in pieces if name}
               | {f"system config key {key}" for key in internals.SYSTEM_CONFIG_KEYS})


def build(root: Path, without: str | None = None) -> Path:
    """Write the fake ray under ``root`` (put ``root`` first on sys.path); return ``root``.

    ``without``: one name of :data:`NAMES` whose piece is left out.
    """
    for path, pieces in PIECES.items():
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text("".join(text for name, text in pieces if name is None or name != without))
    # ray keeps its config keys in its programs, one RAY_<key> C string each.
    program = root / "ray" / internals.GCS_SERVER
    program.parent.mkdir(parents=True, exist_ok=True)
    program.write_bytes(b"\x7fELF fake" + b"".join(
        b"\0RAY_" + key.encode() + b"\0" for key in internals.SYSTEM_CONFIG_KEYS
        if f"system config key {key}" != without))
    return root
