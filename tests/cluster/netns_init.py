"""Be the pid 1 of a simulated node: make it look like a machine of its own, run its sshd.

NetnsCluster starts this with Debian's python3 inside the node's fresh mount,
pid and uts namespaces (`unshare ... python3 netns_init.py ...`), so it uses
the standard library only. Mounts made here stay private to the node and go
when it dies.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import time

ESCAPED = re.compile(r"\\([0-7]{3})")  # the mount table writes space as \040, and so on


def read_mounts(path: str) -> list[tuple[str, str, str]]:
    """Return (source, target, fstype) of each line of a mounts file such as /proc/self/mounts."""
    with open(path) as table:
        rows = [line.split()[:3] for line in table]
    return [tuple(ESCAPED.sub(lambda m: chr(int(m[1], 8)), field) for field in row)
            for row in rows]


def node_init(hostname: str, hosts: str, resolv: str, sshd_config: str, sshd_log: str) -> None:
    """Mount the node's own /tmp, /dev/shm, hosts and resolv.conf; run sshd; reap orphans."""
    # This mount namespace began as a copy of the head's. FUSE mounts there (a
    # test's sshfs, say) belong to the head, not to this machine. Unmounting them
    # here leaves the head's alone: unshare made the propagation private.
    for _, target, fstype in read_mounts("/proc/self/mounts"):
        if fstype in ("fuse", "fuseblk") or fstype.startswith("fuse."):
            subprocess.run(["umount", "--lazy", target], check=False, timeout=10)
    for argv in (["-t", "tmpfs", "-o", "mode=1777", "enbt-tmp", "/tmp"],
                 ["-t", "tmpfs", "-o", "mode=1777", "enbt-shm", "/dev/shm"],
                 ["--bind", hosts, "/etc/hosts"],
                 ["--bind", resolv, "/etc/resolv.conf"]):
        subprocess.run(["mount", *argv], check=True, timeout=10)
    socket.sethostname(hostname)
    subprocess.Popen(["/usr/sbin/sshd", "-D", "-f", sshd_config, "-E", sshd_log])
    # Daemons (ray start) are orphaned to pid 1; without reaping they stay zombies.
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for option in ("--hostname", "--hosts", "--resolv", "--sshd-config", "--sshd-log"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()
    node_init(args.hostname, args.hosts, args.resolv, args.sshd_config, args.sshd_log)


if __name__ == "__main__":
    main()
