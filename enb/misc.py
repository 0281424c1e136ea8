"""Small helpers with enb 1.x names."""
from __future__ import annotations

import functools
import os
import socket


@functools.lru_cache(maxsize=1)
def _node_ip() -> str:
    # A UDP connect sends no packet; it only asks the kernel which address would be used.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def get_node_ip() -> str:
    """Return this machine's address on its default route (127.0.0.1 without a network)."""
    return os.environ.get("ENB_NODE_IP") or _node_ip()


def get_node_name() -> str:
    """Return this machine's host name."""
    return socket.gethostname()


def get_all_subclasses(*base_classes):
    """Return every subclass (recursively) of the given classes, as in enb 1.x."""
    found = set()
    pending = list(base_classes)
    while pending:
        for subclass in pending.pop().__subclasses__():
            if subclass not in found:
                found.add(subclass)
                pending.append(subclass)
    return found


class Singleton(type):
    """Metaclass of classes with a single instance (enb 1.x name)."""
    _instances: dict = {}

    def __call__(cls, *args, **kwargs):
        if cls not in cls._instances:
            cls._instances[cls] = super().__call__(*args, **kwargs)
        return cls._instances[cls]
