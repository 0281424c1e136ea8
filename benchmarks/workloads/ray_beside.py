"""Start, beside a run, what a local-ray run starts on top of local-process; then stop it.

That is a private ray head (enb's own start-up, as ``--executor local-ray`` makes it), this
process connecting to it as a driver, and one ray worker per CPU slot that imports what
montecarlo-pi's workers import before their first row (ray, enb, numpy). No row runs here.

``montecarlo_pi.py`` with the ``ray_beside`` parameter starts this script as it starts its
own rows on local-process: ray's start-up then overlaps the rows perfectly, which no
local-ray run can do (its rows wait for ray). That run's time is a floor for local-ray.
"""
import json
import os
import sys
import time

from enb.executors.local_ray import LocalRayExecutor


def warm_worker(hold_s):
    import numpy  # noqa: F401, PLC0415 -- what a montecarlo-pi worker imports for its rows
    import enb  # noqa: F401, PLC0415
    time.sleep(hold_s)  # keep the slot, so that every task gets a worker of its own
    return os.getpid()


def main(out_path):
    """Start and stop; write ``{"workers": N, "started_s": S}`` into ``out_path``."""
    start = time.perf_counter()
    executor = LocalRayExecutor()  # one slot per CPU, as --executor local-ray
    executor.start()
    try:
        import ray  # noqa: PLC0415
        slots = executor.nodes[0].cpus
        remote = ray.remote(num_cpus=1)(warm_worker)
        pids = ray.get([remote.remote(0.2) for _ in range(slots)])
        if len(set(pids)) != slots:
            raise RuntimeError(f"{slots} slots but {len(set(pids))} distinct ray workers")
        started_s = time.perf_counter() - start
    finally:
        executor.shutdown()
    with open(out_path, "w", encoding="utf-8") as out:
        json.dump({"workers": len(set(pids)), "started_s": started_s}, out)


if __name__ == "__main__":
    main(sys.argv[1])
