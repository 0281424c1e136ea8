"""Write summary tables: CSV for programs, LaTeX for papers (enb 1.x's columns and format)."""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import tempfile

_LATEX_SPECIAL = {"\\": r"\textbackslash ", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
                  "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde ",
                  "^": r"\textasciicircum "}


def escape_latex(text) -> str:
    """Return ``text`` with LaTeX's special characters escaped."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in str(text))


@contextlib.contextmanager
def replacing(path: str, mode: str = "w"):
    """Open a temporary file beside ``path`` and move it over ``path`` once written whole."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".enb-",
                                         suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(handle, mode, encoding="utf-8", newline="") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def plain(value):
    """Return ``value`` with numpy scalars (also inside dicts, lists and tuples) made Python
    numbers, so that written cells read ``1.5`` and not ``np.float64(1.5)``."""
    if isinstance(value, dict):
        return type(value)((plain(k), plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(plain(v) for v in value)
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def write_csv(frame, path: str) -> str:
    """Write ``frame`` without its index, as pandas' to_csv does, replacing ``path`` whole."""
    frame = frame.copy()
    # By position: two columns may share a label (enb 1.x labels psnr_bps and psnr_dr alike).
    for position in range(frame.shape[1]):
        if frame.iloc[:, position].dtype == object:
            frame.isetitem(position, [plain(v) for v in frame.iloc[:, position]])
    with replacing(path) as stream:
        frame.to_csv(stream, index=False)
    return path


def latex_cell(value, decimals: int) -> str:
    """Return one LaTeX cell: floats with ``decimals`` decimals, other values as text."""
    value = plain(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Number):
        return escape_latex(value)
    if isinstance(value, numbers.Integral):
        return str(value)
    if not math.isfinite(value):
        return escape_latex(str(value))
    return f"{value:.{decimals}f}"


def write_latex(frame, path: str, decimals: int = 3) -> str:
    """Write ``frame`` as a LaTeX tabular: bold headers, numbers right-aligned, text left."""
    alignment = "".join("r" if _is_numeric(frame[c]) else "l" for c in frame.columns)
    lines = [rf"\begin{{tabular}}{{{alignment}}}",
             " & ".join(rf"\textbf{{{escape_latex(c)}}}" for c in frame.columns) + r" \\"]
    for row in frame.itertuples(index=False):
        lines.append(" & ".join(latex_cell(v, decimals) for v in row) + r" \\")
    lines.append(r"\end{tabular}")
    with replacing(path) as stream:
        stream.write("\n".join(lines) + "\n")
    return path


def _is_numeric(series) -> bool:
    kind = getattr(series.dtype, "kind", "O")
    return kind in "iuf"
