"""(c): ``import enb`` alone. The runner times the whole process from outside.

The ideal is the bare interpreter: the same script without the import.
"""
from _harness import IMPL, emit, peak_rss_mb

if IMPL != "ideal":
    import enb  # noqa: F401

if __name__ == "__main__":
    emit(peak_rss_mb=peak_rss_mb())
