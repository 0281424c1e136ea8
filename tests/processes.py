"""What tests use to look at processes: poll a condition, the live members of a group."""
from __future__ import annotations

import os
import time


def wait_for(condition, timeout=5.0) -> bool:
    """Poll ``condition`` until it holds: the background command's output goes to a file,
    which offers nothing to block on."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling interval of the wait above
    return True


def living_members(pgid: int) -> list[int]:
    """Return the processes of group ``pgid`` that are not zombies awaiting their reaper."""
    members = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # not a process, or it ended while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            members.append(int(entry))
    return members
