"""HistogramKeyBinner: bin numeric keys (of dict cells) or numeric values (of a column)."""
from __future__ import annotations

import collections
import logging
import math

import numpy as np

logger = logging.getLogger(__name__)


def _bound_text(value) -> str:
    value = float(value)
    return str(value) if int(value) == value else f"{value:.2f}"


class HistogramKeyBinner:
    """Split ``[min_value, max_value]`` into ``bin_count`` equal intervals.

    Called with a dict of numbers ({x: f(x)}), return an ordered dict {interval: sum of the
    values whose key falls in it} (relative to the total with ``normalize``): enb 1.x's
    ``combine_keys_callable`` of :class:`DictNumericAnalyzer`. Interval names read
    ``[a,b)``, the last one ``[a,b]``. Keys outside the range are left out (and said at
    debug level).

    Given a ``column``, it can also be an analyzer's ``group_by``: rows are grouped by the
    interval their value of that column falls in.
    """

    def __init__(self, min_value, max_value, bin_count, normalize=False, column=None):
        if bin_count <= 0:
            raise ValueError(f"HistogramKeyBinner: bin_count must be positive, not {bin_count}")
        if max_value < min_value:
            raise ValueError(f"HistogramKeyBinner: max_value {max_value} is below "
                             f"min_value {min_value}")
        self.min_value = min_value
        self.max_value = max_value
        self.bin_count = bin_count
        self.bin_width = max(1e-10, (max_value - min_value) / bin_count)
        starts = np.linspace(min_value, max(min_value, max_value - self.bin_width), bin_count)
        self.intervals = [(start, min(start + self.bin_width, max_value)) for start in starts]
        self.binned_keys = [
            "[" + ",".join(_bound_text(v) for v in interval) + (")" if i < bin_count - 1 else "]")
            for i, interval in enumerate(self.intervals)]
        self.normalize = normalize
        self.column = column

    def bin_index(self, key) -> int | None:
        """Return the interval of ``key`` (0-based), or None if it is outside the range."""
        try:
            if math.isnan(key):
                return None
        except TypeError:
            raise TypeError(f"HistogramKeyBinner bins numbers, not {key!r}") from None
        if key == self.max_value:
            return self.bin_count - 1
        if key < self.min_value:
            return None
        index = math.floor((key - self.min_value) / self.bin_width)
        return index if index < self.bin_count else None

    def bin_indices(self, values: np.ndarray) -> np.ndarray:
        """Return the interval of each value (-1 outside the range or for NaN)."""
        values = np.asarray(values, dtype=float)
        with np.errstate(invalid="ignore"):
            index = np.floor((values - self.min_value) / self.bin_width)
            index = np.where(values == self.max_value, self.bin_count - 1, index)
            inside = (values >= self.min_value) & (index < self.bin_count) & ~np.isnan(values)
        return np.where(inside, index, -1).astype(np.int64)

    def __call__(self, input_dict):
        sums = [0] * self.bin_count
        total = ignored = 0
        for key, value in input_dict.items():
            index = self.bin_index(key)
            if index is None:
                ignored += value
            else:
                sums[index] += value
            total += value
        if ignored:
            logger.debug("%s leaves out %.6f%% of the values, whose keys lie outside [%s, %s]",
                         type(self).__name__, 100 * ignored / total if total else 0,
                         self.min_value, self.max_value)
        scale = total if self.normalize and total else 1
        return collections.OrderedDict((key, s / scale) for key, s in zip(self.binned_keys, sums))

    def __repr__(self):
        return (f"{type(self).__name__}(min_value={self.min_value!r}, "
                f"max_value={self.max_value!r}, bin_count={self.bin_count!r}, "
                f"normalize={self.normalize!r}, column={self.column!r})")
