"""Which address of this machine a node reaches it at."""
from __future__ import annotations

import socket


def local_address_towards(address: str, port: int = 22) -> str | None:
    """Return this machine's address on the route to ``address`` (what that node can reach).

    A UDP connect sends nothing; it only makes the kernel pick the route and source address.
    None when there is no route (or ``address`` does not resolve).
    """
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(address, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect(sockaddr)
            return probe.getsockname()[0]
    except OSError:
        return None
