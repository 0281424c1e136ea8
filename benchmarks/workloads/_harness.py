"""Read a workload's parameters and write its one JSON line of measurements.

Every workload script imports this module first. The runner passes parameters in the
``ENB_BENCH_PARAMS`` environment variable (a JSON object), never on the command line:
enb 1.x parses ``sys.argv`` at import and rejects flags it does not know. The JSON line
goes to the file named by the ``out`` parameter, because enb 1.x replaces ``print`` and
writes its own banner and progress to stdout; without ``out`` it goes to the real stdout.
"""
import atexit
import json
import os
import resource
import shutil
import sys
import tempfile

PARAMS = json.loads(os.environ.get("ENB_BENCH_PARAMS") or "{}")

#: "enb" (ours or enb 1.1.3, whichever the interpreter imports) or "ideal" (no enb at all).
IMPL = PARAMS.get("impl", "enb")


def param(name, default=None):
    """Return parameter ``name`` as the runner passed it, or ``default``."""
    return PARAMS.get(name, default)


def workdir():
    """Return the folder this run may write to.

    The runner creates it and removes it after the workload's last step. A script run by
    hand gets a temporary folder of its own, removed when it exits.
    """
    if not PARAMS.get("workdir"):
        PARAMS["workdir"] = tempfile.mkdtemp(prefix="enb-bench-")
        atexit.register(shutil.rmtree, PARAMS["workdir"], ignore_errors=True)
    return PARAMS["workdir"]


def peak_rss_mb():
    """Return this process's peak resident set size so far, in MiB (children excluded)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def set_enb_options(enb, cpu_limit):
    """Point enb's persistence into the work folder and set the worker count."""
    enb.config.options.persistence_dir = os.path.join(workdir(), "persistence")
    enb.config.options.cpu_limit = cpu_limit


def emit(**measurements):
    """Write the measurements as one JSON line (see the module docstring for where)."""
    line = json.dumps(measurements, sort_keys=True)
    path = PARAMS.get("out")
    if path:
        with open(path, "w", encoding="utf-8") as out:
            out.write(line + "\n")
    else:
        sys.__stdout__.write(line + "\n")
        sys.__stdout__.flush()
