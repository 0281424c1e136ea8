"""Matplotlib styles for enb's figures: matplotlib's own, the ones enb ships, or files."""
from __future__ import annotations

import os

from ..plotdata import STYLE_DIR


class StyleError(ValueError):
    """A style name is neither matplotlib's, nor enb's, nor an existing file."""


#: Settings of enb's "xkcd" style: matplotlib's hand-drawn look, a little calmer.
XKCD_SETTINGS = {
    "font.family": ["Humor Sans", "Comic Neue", "Comic Sans MS", "DejaVu Sans"],
    "font.size": 14.0,
    "path.sketch": (1, 100, 2),
    "axes.linewidth": 1.5,
    "lines.linewidth": 2.0,
    "figure.facecolor": "white",
    "grid.linewidth": 0.0,
    "axes.unicode_minus": False,
    "xtick.major.size": 6,
    "xtick.minor.size": 3,
    "xtick.major.width": 2,
    "ytick.major.size": 6,
    "ytick.minor.size": 3,
    "ytick.major.width": 2,
}


def resolve_style(style: str):
    """Return what ``matplotlib.style.use`` takes for ``style``, or a dict of settings.

    ``style`` is a matplotlib style name, a path to a matplotlibrc-like file, the name of a
    style in :data:`enb.plotdata.STYLE_DIR`, or "xkcd". Returns None for "default" or "".
    """
    from matplotlib import style as mpl_style
    if not style or str(style).lower() == "default":
        return None
    if style == "xkcd":
        return dict(XKCD_SETTINGS)
    if style in mpl_style.available or os.path.isfile(style):
        return style
    shipped = os.path.join(STYLE_DIR, os.path.basename(style))
    if os.path.isfile(shipped):
        return shipped
    raise StyleError(f"unknown style {style!r}: use one of enb.plotdata.get_available_styles() "
                     f"or the path of a matplotlibrc file")


def project_matplotlibrc() -> str | None:
    """Return the project's ``matplotlibrc`` (``enb plugin install matplotlibrc`` puts one
    there), which every figure of the project starts from, or None."""
    from ..config import options
    path = os.path.join(options.resolved_project_root(), "matplotlibrc")
    return path if os.path.isfile(path) else None


def style_sequence(style_list) -> list:
    """Return the styles to apply, left to right, in matplotlib's terms: the project's
    ``matplotlibrc`` first, then ``style_list``."""
    if isinstance(style_list, str):
        style_list = [style_list]
    resolved = [project_matplotlibrc()] + [resolve_style(s) for s in (style_list or [])]
    return [s for s in resolved if s is not None]
