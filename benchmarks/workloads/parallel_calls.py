"""enb.parallel: ``calls`` trivial calls of an ``@enb.parallel.parallel()`` function.

Times from the first ``start`` to the end of ``enb.parallel.get`` of all their ids, the
executor's start-up included (calls/s). Written with enb 1.x's public API only, so that enb
1.1.3 runs it too (with its pathos pool). The ideal calls the function in a plain loop.
"""
import time

from _harness import IMPL, emit, param, peak_rss_mb, set_enb_options

CALLS = int(param("calls", 10_000))


def triple(x):
    return 3 * x


if IMPL != "ideal":
    import enb

    @enb.parallel.parallel()
    def parallel_triple(x):
        return 3 * x


def run_enb():
    set_enb_options(enb, int(param("cpu_limit", 2)))
    start = time.perf_counter()
    ids = [parallel_triple.start(i) for i in range(CALLS)]
    results = enb.parallel.get(ids)
    seconds = time.perf_counter() - start
    if results != [3 * i for i in range(CALLS)]:
        raise RuntimeError("wrong results")
    return seconds


def run_ideal():
    start = time.perf_counter()
    results = [triple(i) for i in range(CALLS)]
    seconds = time.perf_counter() - start
    if len(results) != CALLS:
        raise RuntimeError("wrong results")
    return seconds


if __name__ == "__main__":
    seconds = run_ideal() if IMPL == "ideal" else run_enb()
    emit(calls=CALLS, seconds=seconds, calls_per_s=CALLS / seconds, peak_rss_mb=peak_rss_mb())
