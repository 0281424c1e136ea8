"""Progress of a get_df call: a bar on a terminal, periodic log lines otherwise (with -v)."""
from __future__ import annotations

import collections
import logging
import math
import os
import sys
import time

logger = logging.getLogger(__name__)


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
        self._last_tick = self.started
        self.running_for = 0.0  # how long the oldest row in flight has run (when known)
        self.in_flight = 0
        self._bar = None
        stream = sys.stderr
        # --force_live_progress (enb 1.x): the bar also when stderr is not a terminal.
        if not options.disable_progress_bar and (stream.isatty() or options.force_live_progress):
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
                # No {remaining} of tqdm's own: it says 00:00 while the last rows hang.
                self._bar = tqdm(total=total, desc=label, unit="row", delay=1.0,
                                 bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} "
                                            "[{elapsed}, {rate_fmt}{postfix}]",
                                 mininterval=self.period / 4, file=stream, leave=False,
                                 dynamic_ncols=sized, ncols=None if sized else 100,
                                 nrows=None if sized else 24)
        self.label = label

    def eta(self) -> str:
        """Return the time left as text: from the rate, but never less than what a row in
        flight that has run past that estimate still needs (unknown: say so)."""
        elapsed = time.monotonic() - self.started
        rate = self.done / elapsed if elapsed and self.done else 0.0
        left = self.total - self.done
        if not left:
            return "ETA 0 s"
        if not rate:
            return "ETA unknown"
        eta = left / rate
        if self.running_for > max(eta, 1.0):
            return f"ETA unknown (a row has run for {self.running_for:.0f} s)"
        return f"ETA {math.ceil(eta)} s"  # rows are left: never "0 s"

    def tick(self, running_for: float = 0.0, in_flight: int = 0) -> None:
        """Note the rows still in flight while none finish (the engine calls it now and then)."""
        self.running_for = running_for
        self.in_flight = in_flight
        now = time.monotonic()
        if now - self._last_tick >= self.period / 4:  # as often as the bar redraws, no more
            self._last_tick = now
            self.update(0)

    def update(self, rows: int, failed: int = 0, node: str | None = None) -> None:
        self.done += rows
        self.failed += failed
        if node is not None:
            self.per_node[node] += rows
        if self._bar is not None:
            postfix = {"eta": self.eta()[4:]}
            if self.failed:
                postfix["failed"] = self.failed
            if len(self.per_node) > 1:
                postfix.update({n: c for n, c in sorted(self.per_node.items())})
            self._bar.set_postfix(postfix, refresh=not rows)
            self._bar.update(rows)
            return
        now = time.monotonic()
        if now - self._last_log >= self.period and logger.isEnabledFor(logging.INFO):
            self._last_log = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed else 0.0
            nodes = ", ".join(f"{n}: {c}" for n, c in sorted(self.per_node.items()))
            logger.info("%s: %d/%d rows, %.1f rows/s, %s, %d failed%s", self.label,
                        self.done, self.total, rate, self.eta(), self.failed,
                        f" ({nodes})" if len(self.per_node) > 1 else "")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
