"""Progress of a get_df call: a bar on a terminal, periodic log lines otherwise (with -v)."""
from __future__ import annotations

import collections
import logging
import os
import sys
import time

logger = logging.getLogger("enb")


class Progress:
    """Rows done of total, rows/s, ETA and failures; per node when rows run on several."""

    def __init__(self, total: int, label: str):
        from .config import options
        self.total = total
        self.done = 0
        self.failed = 0
        self.per_node: dict = collections.Counter()
        self.started = time.monotonic()
        self.period = max(0.1, float(options.progress_report_period or 1.0))
        self._last_log = self.started
        self._bar = None
        stream = sys.stderr
        if not options.disable_progress_bar and stream.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                try:
                    sized = os.get_terminal_size(stream.fileno()).columns > 0
                except OSError:
                    sized = False
                # delay: short calls never show a bar. A terminal that reports no size (a
                # bare pty) gets a fixed width.
                self._bar = tqdm(total=total, desc=label, unit="row", delay=1.0,
                                 mininterval=self.period / 4, file=stream, leave=False,
                                 dynamic_ncols=sized, ncols=None if sized else 100,
                                 nrows=None if sized else 24)
        self.label = label

    def update(self, rows: int, failed: int = 0, node: str | None = None) -> None:
        self.done += rows
        self.failed += failed
        if node is not None:
            self.per_node[node] += rows
        if self._bar is not None:
            postfix = {}
            if self.failed:
                postfix["failed"] = self.failed
            if len(self.per_node) > 1:
                postfix.update({n: c for n, c in sorted(self.per_node.items())})
            if postfix:
                self._bar.set_postfix(postfix, refresh=False)
            self._bar.update(rows)
            return
        now = time.monotonic()
        if now - self._last_log >= self.period and logger.isEnabledFor(logging.INFO):
            self._last_log = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed else 0.0
            eta = (self.total - self.done) / rate if rate else float("inf")
            nodes = ", ".join(f"{n}: {c}" for n, c in sorted(self.per_node.items()))
            logger.info("%s: %d/%d rows, %.1f rows/s, ETA %.0f s, %d failed%s", self.label,
                        self.done, self.total, rate, eta, self.failed,
                        f" ({nodes})" if len(self.per_node) > 1 else "")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
