"""Describe the machine and the checkout a run measured, for the results' header."""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path


def _first_line_with(path: str, prefix: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip() if ":" in line else line
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def git_commit(repo: Path) -> dict:
    """Return the checkout's commit, and whether it has uncommitted changes to tracked files."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    try:
        return {"commit": git("rev-parse", "HEAD") or None,
                "subject": git("log", "-1", "--format=%s") or None,
                "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}


def describe(repo: Path) -> dict:
    """Return CPU model, cores, memory, OS, kernel, date, load average and git commit."""
    memory_kb = _first_line_with("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": _first_line_with("/proc/cpuinfo", "model name") or platform.processor(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "memory_gb": round(int(memory_kb.split()[0]) / 2 ** 20, 1) if memory_kb else None,
        "os": _os_name(),
        "kernel": platform.release(),
        "hostname": platform.node(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "load_average_start": load_average(),
        "git": git_commit(repo),
    }
